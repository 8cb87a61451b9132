"""Readers of every raw EMA file variant (contracts.md), one module per format family.

Each reader takes the local `Path` and a display name (the object key) used in errors, and raises
`ras_core.errors.RawFormatError` naming the file, the row or JSON path, and what was expected.
"""

from ras_core.formats.documents import read_match_report, read_shot_details
from ras_core.formats.events import RawEvents, read_event_detection
from ras_core.formats.match_tables import read_match_details, read_match_momentum
from ras_core.formats.physical import read_physical_metrics
from ras_core.formats.tracking import RawTracking, read_ball_tracking, read_player_tracking

__all__ = [
    "RawEvents",
    "RawTracking",
    "read_ball_tracking",
    "read_event_detection",
    "read_match_details",
    "read_match_momentum",
    "read_match_report",
    "read_physical_metrics",
    "read_player_tracking",
    "read_shot_details",
]
