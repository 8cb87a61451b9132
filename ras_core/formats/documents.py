"""Shot details and match report JSON (schema version "1" each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ras_core.formats._json import load_json, schema_version, validate


def read_shot_details(path: Path, file: str) -> dict[str, Any]:
    return _read_versioned(path, file, "shot-details")


def read_match_report(path: Path, file: str) -> dict[str, Any]:
    return _read_versioned(path, file, "match-report")


def _read_versioned(path: Path, file: str, family: str) -> dict[str, Any]:
    document = load_json(path, file)
    version = schema_version(document, file, ("1",))
    validate(document, f"{family}-{version}", file)
    return document
