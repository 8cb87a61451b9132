"""The throughput scenario names the recordings that took more import runs than waves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bench.throughput import split_imports

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def _record(job: str, recording: str, outputs: str, second: int) -> SimpleNamespace:
    run = SimpleNamespace(job_name=job, tags={"ras/recording": recording, "ras/outputs": outputs})
    return SimpleNamespace(dagster_run=run, create_timestamp=T0 + timedelta(seconds=second))


def test_split_imports_lists_only_recordings_beyond_one_run_per_wave_in_order() -> None:
    records = [
        _record("validate_recordings", "a", "", 0),
        _record("import_processed", "a", "ball,events,players", 1),
        _record("import_processed", "a", "match_details,match_report,shot_details", 2),
        _record("import_processed", "b", "match_report", 9),
        _record("import_processed", "b", "events,players", 3),
        _record("import_processed", "b", "ball", 5),
        _record("import_processed", "b", "match_details,shot_details", 8),
    ]
    assert split_imports(records) == {
        "b": ["events,players", "ball", "match_details,shot_details", "match_report"]
    }


def test_a_shared_import_run_counts_once_for_each_recording_it_lists() -> None:
    imports = ["a:match_details,shot_details", "c:events,players"]
    shared = SimpleNamespace(
        job_name="import_recordings",
        tags={"ras/recordings": "a,c"},
        run_config={"ops": {"import_listed_recordings": {"config": {"imports": imports}}}},
    )
    records = [
        _record("import_processed", "a", "ball,events,players", 1),
        SimpleNamespace(dagster_run=shared, create_timestamp=T0 + timedelta(seconds=2)),
        _record("import_processed", "a", "match_report", 3),
    ]
    assert split_imports(records) == {
        "a": ["ball,events,players", "match_details,shot_details", "match_report"]
    }
