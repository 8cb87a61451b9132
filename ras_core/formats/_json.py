"""Loading contract JSON files and validating them against ras_core/schemas/, errors by JSON path."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ras_core.errors import MAX_LISTED_PROBLEMS, Problem, RawFormatError


def load_json(path: Path, file: str) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise RawFormatError(file, f"line {exc.lineno}, column {exc.colno}", "valid JSON", exc.msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RawFormatError(file, None, "a readable UTF-8 JSON file", type(exc).__name__) from None


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    text = resources.files("ras_core.schemas").joinpath(f"{schema_name}.json").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def schema_version(document: Any, file: str, known: tuple[str, ...]) -> str:
    """The document's `schema_version`, refused unless it is one this platform reads."""
    if not isinstance(document, dict):
        raise RawFormatError(file, "$", "a JSON object", type(document).__name__)
    version = document.get("schema_version")
    if version not in known:
        expected = "schema_version " + " or ".join(f'"{v}"' for v in known)
        raise RawFormatError(file, "$.schema_version", expected, repr(version))
    return version


def validate(document: Any, schema_name: str, file: str) -> None:
    """Raise naming every offending item (up to `MAX_LISTED_PROBLEMS`) by JSON path, in file order."""
    errors = sorted(_validator(schema_name).iter_errors(document), key=_document_order)
    if not errors:
        return
    problems = [_problem(error) for error in errors[:MAX_LISTED_PROBLEMS]]
    raise RawFormatError.of_problems(file, problems, count=len(errors))


def _document_order(error: ValidationError) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, part) if isinstance(part, int) else (1, str(part)) for part in error.absolute_path)


def _problem(error: ValidationError) -> Problem:
    # An anyOf (e.g. a position that is null or an object) fails as a whole; the branch that got
    # deepest into the value says what is wrong in terms a person recognises.
    if error.context:
        error = max(error.context, key=lambda branch: len(branch.absolute_path))
    return Problem(error.json_path, _expected(error), _got(error))


def _expected(error: ValidationError) -> str:
    value = error.validator_value
    phrases = {
        "required": lambda: "the required field " + _missing_field(error),
        "type": lambda: f"a value of type {value}" if isinstance(value, str) else f"one of types {value}",
        "enum": lambda: "one of " + ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value),
        "const": lambda: repr(value),
        "minimum": lambda: f"a number >= {value}",
        "maximum": lambda: f"a number <= {value}",
        "exclusiveMinimum": lambda: f"a number > {value}",
        "minLength": lambda: "a non-empty string",
    }
    phrase = phrases.get(str(error.validator))
    return phrase() if phrase is not None else error.message


def _missing_field(error: ValidationError) -> str:
    # jsonschema says "'frame' is a required property"; the field name is the quoted part.
    return error.message.split(" is a required property")[0]


def _got(error: ValidationError) -> str | None:
    if error.validator == "required":
        return None
    return json.dumps(error.instance, ensure_ascii=False)
