"""Identifiers from contracts.md, checked before they reach storage, a partition key or a log."""

from __future__ import annotations

import re

RECORDING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_RECORDING_ID = re.compile(RECORDING_ID_PATTERN)


def is_valid_recording_id(value: str) -> bool:
    # fullmatch, not match: "$" would accept a trailing newline.
    return isinstance(value, str) and _RECORDING_ID.fullmatch(value) is not None
