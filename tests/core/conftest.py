from __future__ import annotations

import json
from pathlib import Path

import pytest

from ras_core.recording import RecordingMetadata, parse_recording_metadata

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="session")
def recording() -> RecordingMetadata:
    """fps 2, periods [0, 2) and [3, 5): 8 expected frames (0-3 and 6-9), pitch 105 x 68."""
    return parse_recording_metadata(json.loads((FIXTURES / "recording.json").read_text()))
