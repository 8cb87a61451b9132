"""The single entry point the Dagster assets call: read raw, transform, check, write processed.

`run_import` never raises for bad input: a malformed file becomes a failed `schema_valid` check whose
description names the file, the rows or JSON paths and what was expected. The processed file is written
only when every contract check passed, so a failed import leaves the previous processed version in
place. Quality checks (catalogue.CheckSeverity.QUALITY) never stop a write: they are warnings with
figures, judged against `QualityThresholds`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ras_core import checks, formats, rendered
from ras_core.catalogue import processed_output, raw_output, sidecar_path
from ras_core.checks import CHECKS_BY_OUTPUT, CheckOutcome, QualityThresholds
from ras_core.errors import RawFormatError
from ras_core.processed import (
    arrow_table,
    provenance,
    settle_metadata_value,
    source_name,
    write_document,
    write_parquet,
)
from ras_core.recording import RecordingMetadata
from ras_core.transforms import documents, events, tracking

# The CSV and parquet outputs carry no version of their own; this is the contracts.md layout read.
UNVERSIONED_LAYOUT = "1"


@dataclass(frozen=True)
class ImportResult:
    metadata: dict[str, Any]  # JSON-able, shown in the Dagster UI
    checks: tuple[CheckOutcome, ...]

    @property
    def passed(self) -> bool:
        """Every contract check passed: the processed file was written."""
        return all(check.passed for check in self.checks if check.blocking)

    def failure_reason(self) -> str | None:
        """The first failing contract check's description."""
        return next((c.description for c in self.checks if c.blocking and not c.passed), None)

    def failed_file(self) -> str | None:
        """The object key of the file the first failing contract check judged: its job is charged."""
        return next((c.file for c in self.checks if c.blocking and not c.passed), None)

    @property
    def quality(self) -> tuple[CheckOutcome, ...]:
        return tuple(check for check in self.checks if not check.blocking)

    @property
    def warnings(self) -> tuple[CheckOutcome, ...]:
        return tuple(check for check in self.quality if not check.passed)


@dataclass(frozen=True)
class _Prepared:
    """A transformed output before it is written: its checks (after schema_valid) and metadata."""

    checks: tuple[CheckOutcome, ...]
    metadata: dict[str, Any]
    write: Callable[[Path], None]


@dataclass(frozen=True)
class _Inputs:
    paths: Mapping[str, Path]
    recording: RecordingMetadata
    thresholds: QualityThresholds
    keys: Mapping[str, str]  # raw input name → the object key (of the attempt) it was read from

    def raw(self, name: str) -> tuple[Path, str]:
        """Local path and display name (the object key, as EMA and support staff know the file)."""
        return self.paths[name], self.keys[name]

    def processed(self, name: str) -> tuple[Path, str]:
        return self.paths[name], processed_output(name).key(self.recording.recording_id)


def run_import(
    output_name: str,
    inputs: Mapping[str, Path],
    recording: RecordingMetadata,
    out_path: Path,
    thresholds: QualityThresholds | None = None,
    *,
    keys: Mapping[str, str] | None = None,
) -> ImportResult:
    """Import one processed output of one recording from local input files into `out_path`.

    `keys` names each raw input by the object key it was read from (its attempt's key), so a
    failure names the file, and the attempt, that EMA produced; by default attempt 1's.
    """
    importer = processed_output(output_name).load_importer()
    names = {name: raw_output(name).key(recording.recording_id, 1) for name in inputs if _is_raw(name)}
    limits = thresholds or QualityThresholds()
    try:
        prepared = importer(_Inputs(inputs, recording, limits, {**names, **(keys or {})}), recording)
    except RawFormatError as error:
        failed = (checks.schema_valid(error, output_name),)
        skipped = tuple(checks.not_run(name) for name in CHECKS_BY_OUTPUT[output_name][1:])
        return ImportResult({"output": output_name, "error": str(error)}, failed + skipped)
    outcomes = (checks.schema_valid(None, output_name), *prepared.checks)
    assert tuple(c.name for c in outcomes) == CHECKS_BY_OUTPUT[output_name], output_name
    metadata = {"output": output_name, **prepared.metadata}
    result = ImportResult(metadata, outcomes)
    if result.quality:
        metadata["quality_warnings"] = [check.name for check in result.warnings]
    if result.passed:
        prepared.write(out_path)
        metadata["file_size_bytes"] = out_path.stat().st_size
        for sidecar in processed_output(output_name).sidecars:
            if (path := sidecar_path(out_path, sidecar)).is_file():
                metadata[f"{sidecar}_sidecar_size_bytes"] = path.stat().st_size
    return result


def _is_raw(name: str) -> bool:
    try:
        raw_output(name)
    except KeyError:
        return False
    return True


def _require_recording(document: dict[str, Any], recording: RecordingMetadata, file: str) -> None:
    # A file uploaded under the wrong key would otherwise be imported as another match's data.
    if document["recording_id"] != recording.recording_id:
        raise RawFormatError(
            file, "$.recording_id", repr(recording.recording_id), repr(document["recording_id"])
        )


def _document_writer(document: dict[str, Any]) -> Callable[[Path], None]:
    return lambda path: write_document(document, path)


def _parquet_writer(frame: pl.DataFrame, metadata: dict[str, Any]) -> Callable[[Path], None]:
    return lambda path: write_parquet(arrow_table(frame), path, metadata)


def _tracking_writer(
    frame: pl.DataFrame, metadata: dict[str, Any], fps: float
) -> Callable[[Path], None]:
    """The processed parquet and its `frames` sidecar (`ras_core.rendered`): both carry the digest
    of the rendered frames, which is how a reader knows they belong together.

    The parquet is written while the frames are rendered (each is mostly native code that lets go
    of the GIL: ~0.6 s of one core against ~1.7 CPU-s over two), naming a placeholder for the digest
    that is then set in its footer in place: the same bytes as writing it after the sidecar.
    """

    def write(path: Path) -> None:
        table = arrow_table(frame)
        frames_path = sidecar_path(path, rendered.SIDECAR)
        if not rendered.renderable(table):
            frames_path.unlink(missing_ok=True)
            write_parquet(table, path, metadata)
            return
        frames_path.parent.mkdir(parents=True, exist_ok=True)
        pending = rendered.pending_digest()
        with ThreadPoolExecutor(max_workers=1) as pool:
            parquet = pool.submit(write_parquet, table, path, {**metadata, rendered.DIGEST_KEY: pending})
            digest = rendered.write_frames(table, frames_path, fps)
            parquet.result()
        assert digest is not None  # renderable
        if not settle_metadata_value(path, pending, digest):
            write_parquet(table, path, {**metadata, rendered.DIGEST_KEY: digest})

    return write


def _tracking_metadata(rows: pl.DataFrame, recording: RecordingMetadata) -> dict[str, Any]:
    frames = rows.select(pl.col("frame").n_unique()).item()
    return {
        "rows": rows.height,
        "frames": frames,
        "duration_covered_s": round(frames / recording.fps, 2),
        "periods": sorted(rows.get_column("period").unique().to_list()),
    }


def _players_per_side(players: pl.DataFrame) -> dict[str, int]:
    """Median number of people per frame and side: 11 a side is what a person expects to see."""
    per_frame = players.group_by("frame", "team_side").len()
    medians = per_frame.group_by("team_side").agg(pl.col("len").median()).sort("team_side")
    return {side: round(count) for side, count in medians.iter_rows()}


# One importer per processed output, named by its catalogue entry (`ProcessedOutput.importer`).


def import_player_tracking(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    player_path, player_file = inputs.raw("player-tracking")
    ball_path, ball_file = inputs.raw("ball-tracking")
    raw_players = formats.read_player_tracking(player_path, player_file)
    raw_ball = formats.read_ball_tracking(ball_path, ball_file)
    players = tracking.clocked(raw_players, recording)
    ball = tracking.clocked(raw_ball, recording)
    merged = tracking.processed_players(players, tracking.processed_ball(ball))
    limits = inputs.thresholds
    outcomes = (
        checks.time_monotonic(players, player_file),
        checks.coordinates_in_band(players, player_file),
        checks.frame_coverage(players, recording, limits.min_player_frame_coverage, player_file),
        # Assistant referees run outside the touchlines by design: only people who play are judged.
        checks.off_pitch_share(
            players.filter(pl.col("team_side") != "referee"), limits.max_player_off_pitch_share, player_file
        ),
        checks.players_per_side(
            players, limits.min_players_per_side, limits.max_players_per_side, player_file
        ),
        checks.jersey_coverage(players, limits.min_jersey_coverage, player_file),
    )
    ball_source = {"schema_version": raw_ball.schema_version, "file": source_name(ball_file)}
    stored = {**provenance(recording, raw_players.schema_version, player_file), "fps": recording.fps}
    stored["ball_source"] = ball_source
    metadata = {
        **_tracking_metadata(merged, recording),
        "players_per_side": _players_per_side(merged),
        "tracks_per_side": dict(
            merged.group_by("team_side").agg(pl.col("track_id").n_unique()).sort("team_side").iter_rows()
        ),
        "ball_seen_share": round(merged.get_column("ball_x").is_not_null().mean() or 0.0, 4),
        "schema_version": raw_players.schema_version,
        "ball_schema_version": raw_ball.schema_version,
        "source_file": player_file,
    }
    return _Prepared(outcomes, metadata, _tracking_writer(merged, stored, recording.fps))


def import_ball_tracking(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("ball-tracking")
    raw = formats.read_ball_tracking(path, file)
    ball = tracking.clocked(raw, recording)
    limits = inputs.thresholds
    outcomes = (
        checks.time_monotonic(ball, file),
        checks.coordinates_in_band(ball, file),
        checks.frame_coverage(ball, recording, limits.min_ball_frame_coverage, file),
        checks.off_pitch_share(ball, limits.max_ball_off_pitch_share, file),
    )
    stored = {**provenance(recording, raw.schema_version, file), "fps": recording.fps}
    metadata = {
        **_tracking_metadata(ball, recording),
        "schema_version": raw.schema_version,
        "source_file": file,
    }
    return _Prepared(outcomes, metadata, _parquet_writer(tracking.processed_ball(ball), stored))


def import_events(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("event-detection")
    raw = formats.read_event_detection(path, file)
    _require_recording(raw.document, recording, file)
    processed = events.processed_events(raw, recording)
    times = pl.DataFrame({"t": [e["start_s"] for e in processed], "period": [e["period"] for e in processed]})
    positions = [e["position"] or {"x": None, "y": None} for e in processed]
    points = pl.DataFrame(positions, schema={"x": pl.Float64, "y": pl.Float64})
    outcomes = (checks.time_monotonic(times, file), checks.coordinates_in_band(points, file))
    document = {**provenance(recording, raw.schema_version, file), "events": events.sorted_events(processed)}
    metadata = {
        "rows": len(processed),
        "event_counts_by_type": dict(sorted(Counter(e["type"] for e in processed).items())),
        "events_without_position": sum(e["position"] is None for e in processed),
        "schema_version": raw.schema_version,
        "source_file": file,
    }
    return _Prepared(outcomes, metadata, _document_writer(document))


def import_match_momentum(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("match-momentum")
    table = formats.read_match_momentum(path, file)
    # Momentum has no period column: the whole file must run forwards.
    times = pl.DataFrame({"t": table.column("timestamp_in_seconds").to_pylist()}).with_columns(
        period=pl.lit(0)
    )
    timeline = documents.momentum_timeline(table)
    document = {**provenance(recording, UNVERSIONED_LAYOUT, file), "timeline": timeline}
    metadata = {
        "rows": len(timeline),
        "duration_covered_s": round(timeline[-1]["t"] - timeline[0]["t"], 2) if timeline else 0.0,
        "schema_version": UNVERSIONED_LAYOUT,
        "source_file": file,
    }
    return _Prepared((checks.time_monotonic(times, file),), metadata, _document_writer(document))


def import_physical_metrics(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("physical-metrics")
    frame = pl.from_arrow(formats.read_physical_metrics(path, file))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort("team_side", "track_id", "period")
    stored = provenance(recording, UNVERSIONED_LAYOUT, file)
    tracks = frame.group_by("team_side").agg(pl.col("track_id").n_unique()).sort("team_side")
    metadata = {
        "rows": frame.height,
        "tracks_per_side": dict(tracks.iter_rows()),
        "schema_version": UNVERSIONED_LAYOUT,
        "source_file": file,
    }
    return _Prepared((), metadata, _parquet_writer(frame, stored))


def import_match_details(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("match-details")
    details = documents.match_details(formats.read_match_details(path, file), file)
    document = {**provenance(recording, UNVERSIONED_LAYOUT, file), **details}
    metadata = {
        "periods": len(details["periods"]),
        "possession_pct": {side: details["teams"][side]["possession_pct"] for side in documents.SIDES},
        "schema_version": UNVERSIONED_LAYOUT,
        "source_file": file,
    }
    return _Prepared((), metadata, _document_writer(document))


def import_shot_details(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("shot-details")
    raw = formats.read_shot_details(path, file)
    _require_recording(raw, recording, file)
    shots = documents.processed_shots(raw, recording)
    points = pl.DataFrame([s["position"] for s in shots], schema={"x": pl.Float64, "y": pl.Float64})
    document = {**provenance(recording, raw["schema_version"], file), "shots": shots}
    metadata = {
        "rows": len(shots),
        "shots_by_outcome": dict(sorted(Counter(s["outcome"] for s in shots).items())),
        "schema_version": raw["schema_version"],
        "source_file": file,
    }
    return _Prepared((checks.coordinates_in_band(points, file),), metadata, _document_writer(document))


def import_match_report(inputs: _Inputs, recording: RecordingMetadata) -> _Prepared:
    path, file = inputs.raw("match-report")
    raw = formats.read_match_report(path, file)
    _require_recording(raw, recording, file)
    report = documents.processed_match_report(raw)
    document = {**provenance(recording, raw["schema_version"], file), **report}
    metadata = {
        "score": f"{report['score']['home']}-{report['score']['away']}",
        "key_moments": len(report["key_moments"]),
        "schema_version": raw["schema_version"],
        "source_file": file,
    }
    return _Prepared((), metadata, _document_writer(document))

