"""training_clips and training_dataset on generated videos (ffmpeg testsrc2) with two camera angles."""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from ras_assets.training import training_clips, training_dataset
from ras_core import catalogue
from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_core.states import JobState, Source
from ras_platform.ffmpeg import ffmpeg_exe, make_test_video
from ras_platform.object_store import LocalObjectStore
from ras_platform.platform import platform_for
from resources import FfmpegResource, ObjectStoreResource, platform_resources
from sensors.training_dataset import training_dataset_sensor
from tests.orchestration.support import UNREACHABLE, platform_settings

FPS = 10
DURATION_S = 90.0
# Shots from shot details and events from event detection, as the import writes them.
SHOTS = [
    {"id": "shot-001", "time_s": 5.0, "period": 1, "team_side": "home", "outcome": "saved"},
    {"id": "shot-002", "time_s": 30.0, "period": 1, "team_side": "away", "outcome": "goal"},
    {"id": "shot-003", "time_s": 62.5, "period": 2, "team_side": "home", "outcome": "post"},
]
EVENTS = [
    {"id": "ev-1", "type": "shot", "start_s": 30.2, "end_s": 30.2, "period": 1, "team_side": "away"},
    {"id": "ev-2", "type": "goal", "start_s": 31.0, "end_s": 33.0, "period": 1, "team_side": "away"},
    {"id": "ev-3", "type": "corner", "start_s": 40.0, "end_s": 40.0, "period": 1, "team_side": "home"},
    {"id": "ev-4", "type": "goal", "start_s": 88.0, "end_s": 88.0, "period": 2, "team_side": "home"},
]
# (moment id, window) of every clip, both angles: before 8 s, after 4 s, clamped to 0..90 s.
WINDOWS = {"shot-001": (0.0, 9.0), "shot-002": (22.0, 34.0), "shot-003": (54.5, 66.5), "ev-4": (80.0, 90.0)}


class ReadCounter:
    """Wraps an object store and counts reads of each key (a download or a read in place)."""

    def __init__(self, inner: LocalObjectStore) -> None:
        self.inner = inner
        self.reads: Counter[str] = Counter()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def download(self, key: str, dest: Path) -> Path:
        self.reads[key] += 1
        return self.inner.download(key, dest)

    def local_path(self, key: str) -> Path | None:
        self.reads[key] += 1
        return self.inner.local_path(key)

    def get_bytes(self, key: str) -> bytes:
        self.reads[key] += 1
        return self.inner.get_bytes(key)


COUNTERS: dict[str, ReadCounter] = {}


class CountingObjectStoreResource(ObjectStoreResource):
    """The platform's object store, seen through the test's read counter."""

    @property
    def store(self) -> ReadCounter:  # type: ignore[override]
        return COUNTERS[self.settings["data_dir"]]


class Clips:
    def __init__(self, tmp_path: Path, instance: DagsterInstance) -> None:
        self.tmp_path = tmp_path
        self.instance = instance
        settings = platform_settings(tmp_path, ema_base_url=UNREACHABLE, ema_max_attempts="2")
        platform = platform_for(settings)
        self.store = platform.state_store
        self.objects = ReadCounter(platform.object_store)
        COUNTERS[settings["data_dir"]] = self.objects
        self.resources = {
            **platform_resources(settings),
            "object_store": CountingObjectStoreResource(settings=settings),
        }

    def add_recording(
        self, recording_id: str, shots: list[dict] = SHOTS, *, wide_duration_s: float = DURATION_S
    ) -> RecordingMetadata:
        """A recording with two camera angles (one named by key, one by file:// URI), its videos,
        processed events and shots, and its training-clips job due. The wide angle's video may stop
        before the recording ends (`wide_duration_s`)."""
        main, wide = f"videos/{recording_id}/main.mp4", f"videos/{recording_id}/wide.mp4"
        for key, duration_s in ((main, DURATION_S), (wide, wide_duration_s)):
            make_test_video(self.objects.path_of(key), duration_s=duration_s, width=160, height=90, fps=FPS)
        recording = RecordingMetadata(
            recording_id=recording_id,
            fps=FPS,
            duration_s=DURATION_S,
            pitch=Pitch(105.0, 68.0),
            video_uris=(main, self.objects.uri(wide)),
            periods=(Period(1, 0.0, 45.0), Period(2, 50.0, 90.0)),
            home_team="Home FC",
            away_team="Away FC",
        )
        self.store.register_recording(recording)
        self.store.mark_validated(recording_id)
        self.instance.add_dynamic_partitions("recordings", [recording_id])
        documents = {
            "events": {"events": EVENTS},
            "shot_details": {"recording_id": recording_id, "shots": shots},
        }
        for name, document in documents.items():
            key = catalogue.processed_output(name).key(recording_id)
            self.objects.put_bytes(key, json.dumps(document).encode())
        # Every EMA job done: the clips are the recording's last job, so nothing is left to trigger.
        for job in (j.name for j in catalogue.JOB_TYPES if j.is_ema):
            for state in (JobState.SCHEDULED, JobState.SUCCEEDED, JobState.COMPLETED):
                self.store.transition(recording_id, job, state, source=Source.IMPORT)
        self.objects.reads.clear()
        return recording

    def cut(self, recording_id: str, *, config: dict | None = None, ffmpeg: FfmpegResource | None = None):
        resources = {**self.resources, **({"ffmpeg": ffmpeg} if ffmpeg else {})}
        return materialize(
            [training_clips],
            partition_key=recording_id,
            instance=self.instance,
            resources=resources,
            run_config={"ops": {"training_clips": {"config": config or {}}}},
            raise_on_error=False,
        )

    def build_dataset(self) -> dict[str, list[str]]:
        result = materialize(
            [training_dataset], instance=self.instance, resources=self.resources, raise_on_error=True
        )
        assert result.success
        folder = self.objects.root / "processed" / "training_dataset"
        return {
            name: (folder / f"{name}.jsonl").read_text().splitlines() for name in ("training", "validation")
        }

    def manifest(self, recording_id: str) -> dict:
        return json.loads(
            self.objects.inner.get_bytes(f"processed/training_clips/{recording_id}/manifest.json")
        )

    def metadata(self, asset: str = "training_clips") -> dict:
        event = self.instance.get_latest_materialization_event(AssetKey(asset))
        assert event is not None and event.asset_materialization is not None
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.fixture
def clips(tmp_path: Path) -> Iterator[Clips]:
    with instance_for_test() as instance:
        yield Clips(tmp_path, instance)


def _failing_ffmpeg(tmp_path: Path, clip_pattern: str) -> FfmpegResource:
    """A real ffmpeg behind a wrapper that fails the clips whose output name matches the pattern."""
    wrapper = tmp_path / "ffmpeg-failing"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *{clip_pattern}.mp4*) echo "forced failure: this clip is broken" >&2; exit 1;; esac\n'
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return FfmpegResource(executable=str(wrapper))


def test_every_moment_is_cut_from_both_angles_reading_each_source_once(clips: Clips) -> None:
    recording = clips.add_recording("rec-a")

    result = clips.cut("rec-a")

    assert result.success
    manifest = clips.manifest("rec-a")
    cut = {e["clip_id"]: e for e in manifest["clips"] if e["state"] == "cut"}
    assert sorted(cut) == sorted(f"rec-a-{m}-{a}" for m in WINDOWS for a in (0, 1))
    for clip_id, entry in cut.items():
        moment_id = clip_id.removeprefix("rec-a-").rsplit("-", 1)[0]
        assert (entry["start_s"], entry["end_s"]) == WINDOWS[moment_id]
        path = clips.objects.path_of(f"processed/training_clips/rec-a/clips/{clip_id}.mp4")
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        # Right within a frame: the window's length in frames, give or take one.
        assert abs(frames - (entry["end_s"] - entry["start_s"]) * FPS) <= 1, clip_id
        assert entry["duration_s"] == pytest.approx(frames / FPS)
    main, wide = "videos/rec-a/main.mp4", "videos/rec-a/wide.mp4"
    assert clips.objects.reads[main] == 1 and clips.objects.reads[wide] == 1
    assert {e["source_uri"] for e in cut.values()} == set(recording.video_uris)
    assert cut["rec-a-shot-002-1"]["prompt"] == (
        "A shot by Away FC (the away team), scored, in the 1st minute of a football match."
    )
    assert cut["rec-a-ev-4-0"]["prompt"].startswith("A goal by Home FC (the home team), in the 46th minute")
    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_failed"], meta["sources_fetched"]) == (8, 0, 2)
    assert meta["total_duration_s"] == pytest.approx(sum(e["duration_s"] for e in cut.values()))
    assert meta["total_bytes"] == sum(e["size_bytes"] for e in cut.values()) > 0
    assert "data:image/jpeg;base64," in meta["preview"]
    assert clips.store.job_status("rec-a", "training-clips").state is JobState.COMPLETED


def test_a_shared_import_run_cuts_each_listed_recordings_clips(clips: Clips) -> None:
    """Under load the callback sensor packs recordings' imports into one run (`import_recordings`):
    their clips are cut there, as in a run of their own, each on its own partition."""
    from dagster import DagsterEventType

    from ras_assets.imports import RecordingImports, import_recordings, import_recordings_run_config

    for recording_id in ("rec-a", "rec-b"):
        clips.add_recording(recording_id)

    result = import_recordings.execute_in_process(
        run_config=import_recordings_run_config(
            [RecordingImports(rec, ("training_clips",)) for rec in ("rec-a", "rec-b")]
        ),
        instance=clips.instance,
        resources=clips.resources,
        tags={"ras/kind": "import"},
    )

    assert result.success
    for recording_id in ("rec-a", "rec-b"):
        states = Counter(entry["state"] for entry in clips.manifest(recording_id)["clips"])
        assert states == {"cut": 8}, recording_id
        assert clips.store.job_status(recording_id, "training-clips").state is JobState.COMPLETED
    materialized = clips.instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert sorted(e.dagster_event.partition for e in materialized) == ["rec-a", "rec-b"]
    checks = clips.instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    verdicts = {(e.dagster_event.event_specific_data.partition, e.dagster_event.event_specific_data.passed)
                for e in checks}  # fmt: skip
    assert verdicts == {("rec-a", True), ("rec-b", True)}


def test_a_failed_ffmpeg_on_one_clip_is_a_partial_success_with_its_reason(
    clips: Clips, tmp_path: Path
) -> None:
    clips.add_recording("rec-a")

    result = clips.cut("rec-a", ffmpeg=_failing_ffmpeg(tmp_path, "rec-a-shot-003-1"))

    assert result.success
    entries = {e["clip_id"]: e for e in clips.manifest("rec-a")["clips"]}
    failed = entries["rec-a-shot-003-1"]
    assert failed["state"] == "failed" and "forced failure: this clip is broken" in failed["reason"]
    assert failed["reason"].startswith("ffmpeg exited with 1")
    assert not clips.objects.exists("processed/training_clips/rec-a/clips/rec-a-shot-003-1.mp4")
    assert sum(e["state"] == "cut" for e in entries.values()) == 7
    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_failed"]) == (7, 1)
    assert meta["failures"] == [{"clip_id": "rec-a-shot-003-1", "reason": failed["reason"]}]
    check = result.get_asset_check_evaluations()[0]
    assert check.asset_check_key == AssetCheckKey(AssetKey("training_clips"), "clips_cut")
    assert not check.passed and check.severity is AssetCheckSeverity.WARN
    assert clips.store.job_status("rec-a", "training-clips").state is JobState.COMPLETED


def test_more_failures_than_the_allowed_share_fail_the_asset_and_the_job(
    clips: Clips, tmp_path: Path
) -> None:
    clips.add_recording("rec-a")

    result = clips.cut(
        "rec-a", ffmpeg=_failing_ffmpeg(tmp_path, "rec-a-*-1"), config={"max_failed_share": 0.25}
    )

    assert not result.success
    status = clips.store.job_status("rec-a", "training-clips")
    assert status.state in (JobState.FAILED, JobState.PENDING)  # pending: failed, then sent back to retry
    failures = [e for e in clips.store.change_log("rec-a") if e.to_state == "failed"]
    assert "4 of 8 clips cut, 4 failed" in (failures[-1].reason or "")
    assert "forced failure" in (failures[-1].reason or "")


def test_a_bad_window_is_reported_and_the_rest_still_count(clips: Clips) -> None:
    shots = [
        *SHOTS,
        {"id": "shot-late", "time_s": 95.0, "period": 2, "team_side": "away", "outcome": "saved"},
    ]
    clips.add_recording("rec-a", shots=shots)

    result = clips.cut("rec-a")

    assert result.success
    late = [e for e in clips.manifest("rec-a")["clips"] if e["moment"]["moment_id"] == "shot-late"]
    assert [e["clip_id"] for e in late] == ["rec-a-shot-late-0", "rec-a-shot-late-1"]
    assert all(e["state"] == "failed" and "outside the video" in e["reason"] for e in late)
    assert clips.metadata()["clips_cut"] == 8


def test_an_angle_shorter_than_the_recording_clamps_its_own_windows(clips: Clips) -> None:
    # The wide camera stopped at 60 s of the 90 s recording.
    clips.add_recording("rec-a", wide_duration_s=60.0)

    result = clips.cut("rec-a")

    assert result.success  # 1 of 8 failed: within the allowed share, a warning
    entries = {e["clip_id"]: e for e in clips.manifest("rec-a")["clips"]}
    # Past the wide angle's end: listed as failed with the reason, and not cut.
    late = entries["rec-a-ev-4-1"]
    assert late["state"] == "failed" and late["key"] is None
    assert late["reason"] == "window 80..90 s lies past the end: angle 1's video ends at 60 s"
    assert not clips.objects.exists("processed/training_clips/rec-a/clips/rec-a-ev-4-1.mp4")
    # Across the wide angle's end: cut up to it, and as long as the manifest says, within a frame.
    across = entries["rec-a-shot-003-1"]
    assert (across["state"], across["start_s"], across["end_s"]) == ("cut", 54.5, 60.0)
    # The main angle is as long as the recording: its windows are the recording's.
    assert (entries["rec-a-ev-4-0"]["start_s"], entries["rec-a-ev-4-0"]["end_s"]) == WINDOWS["ev-4"]
    for clip_id in ("rec-a-shot-003-1", "rec-a-shot-003-0", "rec-a-ev-4-0"):
        entry = entries[clip_id]
        path = clips.objects.path_of(entry["key"])
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        assert abs(frames - (entry["end_s"] - entry["start_s"]) * FPS) <= 1, clip_id
    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_failed"], meta["sources_fetched"]) == (7, 1, 2)
    assert meta["failures"] == [{"clip_id": "rec-a-ev-4-1", "reason": late["reason"]}]
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity is AssetCheckSeverity.WARN

    # A re-run of the same sources fetches nothing: the clip past the end is settled, not retried.
    clips.objects.reads.clear()
    assert clips.cut("rec-a").success
    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_failed"], meta["clips_kept"], meta["sources_fetched"]) == (
        7,
        1,
        8,
        0,
    )
    assert clips.manifest("rec-a")["clips"] == list(entries.values())


def test_a_rerun_cuts_only_clips_that_are_missing_or_whose_inputs_changed(clips: Clips) -> None:
    clips.add_recording("rec-a")
    assert clips.cut("rec-a").success
    first = {e["clip_id"]: e for e in clips.manifest("rec-a")["clips"]}
    clips.objects.delete("processed/training_clips/rec-a/clips/rec-a-shot-002-1.mp4")
    kept = clips.objects.stat("processed/training_clips/rec-a/clips/rec-a-shot-001-0.mp4")
    clips.objects.reads.clear()

    assert clips.cut("rec-a").success

    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_kept"], meta["sources_fetched"]) == (8, 7, 1)
    # Angle 0 had nothing to cut: its source was not read at all.
    assert (
        clips.objects.reads["videos/rec-a/main.mp4"] == 0
        and clips.objects.reads["videos/rec-a/wide.mp4"] == 1
    )
    assert clips.objects.stat("processed/training_clips/rec-a/clips/rec-a-shot-001-0.mp4") == kept
    assert {e["clip_id"]: e["fingerprint"] for e in clips.manifest("rec-a")["clips"]} == {
        cid: e["fingerprint"] for cid, e in first.items()
    }

    # A longer reaction changes every window but the last goal's, already clamped at the video's end.
    assert clips.cut("rec-a", config={"after_s": 6.0}).success
    meta = clips.metadata()
    assert (meta["clips_cut"], meta["clips_kept"], meta["sources_fetched"]) == (8, 2, 2)
    changed = {
        e["clip_id"]
        for e in clips.manifest("rec-a")["clips"]
        if e["fingerprint"] != first[e["clip_id"]]["fingerprint"]
    }
    assert changed == set(first) - {"rec-a-ev-4-0", "rec-a-ev-4-1"}


def test_event_types_and_windows_come_from_the_run_config(clips: Clips) -> None:
    clips.add_recording("rec-a")

    assert clips.cut("rec-a", config={"moment_types": ["corner"], "before_s": 2.0, "after_s": 3.0}).success

    entries = clips.manifest("rec-a")["clips"]
    assert [(e["clip_id"], e["start_s"], e["end_s"]) for e in entries] == [
        ("rec-a-ev-3-0", 38.0, 43.0),
        ("rec-a-ev-3-1", 38.0, 43.0),
    ]
    # The clips of the default run before are not in this manifest: their files are gone too.
    assert len(clips.objects.list("processed/training_clips/rec-a/clips/")) == 2


def test_the_split_of_an_unchanged_dataset_is_identical_after_adding_a_recording(clips: Clips) -> None:
    clips.add_recording("rec-a")
    assert clips.cut("rec-a").success
    before = clips.build_dataset()

    other_shots = [replace_id(s, f"{s['id']}-b") for s in SHOTS]
    clips.add_recording("rec-b", shots=other_shots)
    assert clips.cut("rec-b").success
    after = clips.build_dataset()

    for name in ("training", "validation"):
        from_a = [line for line in after[name] if "/rec-a/" in line]
        assert from_a == before[name], name
    assert len(after["training"]) + len(after["validation"]) == 16
    line = json.loads(before["training"][0] if before["training"] else before["validation"][0])
    assert set(line) == {"videoGcsUri", "textPrompt"}
    assert line["videoGcsUri"].startswith("file:///") and line["videoGcsUri"].endswith(".mp4")
    assert Path(line["videoGcsUri"].removeprefix("file://")).is_file()
    meta = clips.metadata("training_dataset")
    assert meta["clips"] == 16 and meta["recordings_with_clips"] == 2


def replace_id(shot: dict, new_id: str) -> dict:
    return {**shot, "id": new_id}


def test_the_dataset_sensor_asks_for_one_rebuild_per_change_of_clips(clips: Clips) -> None:
    def tick(cursor: str | None):
        context = build_sensor_context(instance=clips.instance, cursor=cursor)
        return training_dataset_sensor(context), context.cursor

    first, cursor = tick(None)
    assert isinstance(first, SkipReason)

    clips.add_recording("rec-a")
    assert clips.cut("rec-a").success
    clips.add_recording("rec-b", shots=[replace_id(s, f"{s['id']}-b") for s in SHOTS])
    assert clips.cut("rec-b").success
    request, cursor = tick(cursor)
    again, _ = tick(cursor)

    assert isinstance(request, RunRequest)  # one rebuild for both recordings
    assert isinstance(again, SkipReason)


def test_definitions_load_with_both_assets_the_job_and_the_sensor() -> None:
    from ras_assets.definitions import defs

    repo = defs.get_repository_def()
    assert repo.get_sensor_def("training_dataset_sensor") is not None
    assert repo.get_job("build_training_dataset") is not None
    assert {AssetKey("training_clips"), AssetKey("training_dataset")} <= set(
        repo.asset_graph.get_all_asset_keys()
    )
