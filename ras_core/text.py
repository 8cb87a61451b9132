"""Bounds on what comes from outside: text without control characters, JSON of bounded depth and size.

Applied where data enters (the API's request models, the callback model), so a NUL, a control
character, a 10 MB string or JSON nested 600 deep never reaches a database, a log line or a
serializer that would fail on it later.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

# An identifier-like string: no control characters (C0 incl. NUL, DEL, C1).
SAFE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
TRUNCATED = " …(truncated)"


def clean_text(value: str) -> str:
    """Free text (a reason, a team name): control characters other than tab and newlines, and lone
    surrogates (which no database encodes), become U+FFFD, so what was sent stays visible."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", value))


def truncate(value: str, max_chars: int) -> str:
    return value if len(value) <= max_chars else value[: max_chars - len(TRUNCATED)] + TRUNCATED


def clean_text_of(max_chars: int) -> Any:
    """An annotated `str` type: cleaned, and cut to `max_chars` (marked) instead of refused, for text
    whose loss would cost more than its tail (EMA's reason of a failure)."""

    def clean(value: Any) -> Any:
        return truncate(clean_text(value), max_chars) if isinstance(value, str) else value

    return Annotated[str, BeforeValidator(clean)]


def _no_control(value: str) -> str:
    if _CONTROL.search(value) or "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("control characters are not allowed")
    return value


# A short label (a team name): refused, not cleaned, when it holds a control character.
Label = Annotated[str, AfterValidator(_no_control)]


class JsonTooComplex(ValueError):
    pass


def check_json_bounds(value: Any, *, max_depth: int, max_bytes: int) -> Any:
    """`value` (parsed JSON) with every string cleaned; JsonTooComplex past `max_depth` levels or
    `max_bytes` serialized. Iterative, so no depth can exhaust the stack."""
    cleaned = _clean_json(value, max_depth)
    size = len(json.dumps(cleaned, ensure_ascii=False).encode())
    if size > max_bytes:
        raise JsonTooComplex(f"{size} bytes; at most {max_bytes} are kept")
    return cleaned


def _clean_json(value: Any, max_depth: int) -> Any:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:  # depth first, checking before anything is copied
        node, depth = stack.pop()
        if depth > max_depth:
            raise JsonTooComplex(f"nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return _cleaned(value)


def _cleaned(value: Any) -> Any:
    # Depth is bounded by now, so recursion is safe.
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value
