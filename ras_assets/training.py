"""Training data from video: `training_clips` per recording, `training_dataset` across recordings.

`training_clips` is the platform job `training-clips`: built in the import run right after shot
details (catalogue), it chooses moments from processed events and shots (`ras_core.training_clips`),
cuts them from every camera angle with each source fetched once (`ras_platform.clip_cutting`) and
writes the clips and a manifest under `processed/training_clips/{recording_id}/`. Clips that fail are
listed with their reason and left out; the asset fails only when more than `max_failed_share` do.
`training_dataset` turns every manifest into the trainer's JSONL files, split by a hash of the clip
id; `training_dataset_sensor` (sensors/training_dataset.py) rebuilds it when clip partitions change.
"""

import base64
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSelection,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    define_asset_job,
    in_process_executor,
)
from pydantic import Field

from ras_assets.jobs import trigger_and_observe
from ras_assets.partitions import recordings_partitions, registered_recording
from ras_assets.processed import Imported
from ras_core import catalogue
from ras_core import training_clips as tc
from ras_core.errors import RawFormatError
from ras_core.recording import RecordingMetadata
from ras_platform.clip_cutting import (
    CutOptions,
    SourceRun,
    cut_recording_clips,
    manifest_key,
    remove_stale_clips,
)
from ras_platform.ffmpeg import FfmpegError, make_thumbnail_strip
from ras_platform.lifecycle import Lifecycle, transient_fault
from ras_platform.object_store import ObjectStore
from resources import EmaResource, FfmpegResource, ObjectStoreResource, StateStoreResource

CLIPS = catalogue.processed_output("training_clips")
CLIPS_JOB = catalogue.job_of_processed(CLIPS.name)
DATASET_PREFIX = "processed/training_dataset/"
PREVIEW_KEY = "processed/training_clips/{recording_id}/preview.jpg"
# Failures named in the UI's metadata; the manifest lists every one.
FAILURES_SHOWN = 20


class TrainingClipsConfig(Config):
    """What to cut (the launchpad's run config); defaults are the media team's."""

    moment_types: list[str] = Field(
        default=list(tc.DEFAULT_MOMENT_TYPES),
        description="Moment types: shots (from shot details) and event types (goal, corner, free-kick, ...).",
    )
    before_s: float = Field(default=8.0, description="Seconds of build-up before the moment.")
    after_s: float = Field(default=4.0, description="Seconds of reaction after the moment ends.")
    same_moment_s: float = Field(
        default=5.0, description="A goal event this close to a scoring shot of its team is that shot."
    )
    min_duration_s: float = Field(default=1.0, description="Shorter clamped windows are not cut.")
    max_failed_share: float = Field(
        default=0.2, description="Fail the asset when more than this share of clips fails (0..1)."
    )

    def settings(self) -> tc.ClipSettings:
        return tc.ClipSettings(
            moment_types=tuple(self.moment_types),
            before_s=self.before_s,
            after_s=self.after_s,
            same_moment_s=self.same_moment_s,
            min_duration_s=self.min_duration_s,
        )


def _read_json(objects: ObjectStore, key: str) -> dict[str, Any] | None:
    return json.loads(objects.get_bytes(key)) if objects.exists(key) else None


def _moments(objects: ObjectStore, meta: RecordingMetadata, settings: tc.ClipSettings) -> list[tc.Moment]:
    keys = {
        name: catalogue.processed_output(name).key(meta.recording_id) for name in ("events", "shot_details")
    }
    documents = {name: _read_json(objects, key) for name, key in keys.items()}
    for name, document in documents.items():
        if document is None:
            raise Failure(f"training_clips: input {keys[name]} does not exist", allow_retries=False)
    try:
        return tc.moments_of(
            documents["events"],
            documents["shot_details"],
            settings,
            meta.periods,
            shots_file=keys["shot_details"],
        )
    except RawFormatError as error:
        raise Failure(f"training_clips: {error}", allow_retries=False) from error


def _preview(
    objects: ObjectStore,
    entries: list[dict[str, Any]],
    recording_id: str,
    workdir: Path,
    ffmpeg: FfmpegResource,
) -> dict[str, Any]:
    """A strip of stills across the first cut clip, stored beside the clips and shown in the UI."""
    first = next((e for e in entries if e["state"] == "cut"), None)
    if first is None:
        return {}
    clip = objects.local_path(first["key"]) or objects.download(first["key"], workdir / "preview-source.mp4")
    strip = workdir / "preview.jpg"
    try:
        make_thumbnail_strip(
            clip, strip, duration_s=first["duration_s"], executable=ffmpeg.executable or None
        )
    except FfmpegError:
        return {}  # a preview is a courtesy: its failure fails nothing
    key = PREVIEW_KEY.format(recording_id=recording_id)
    objects.put_file(key, strip)
    image = base64.b64encode(strip.read_bytes()).decode()
    caption = f"{first['clip_id']}: {first['prompt']}"
    return {
        "preview": MetadataValue.md(f"{caption}\n\n![preview](data:image/jpeg;base64,{image})"),
        "preview_uri": objects.uri(key),
    }


def _summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    cut = [e for e in entries if e["state"] == "cut"]
    failed = [e for e in entries if e["state"] == "failed"]
    return {
        "clips": len(entries),
        "clips_cut": len(cut),
        "clips_failed": len(failed),
        "failed_share": round(len(failed) / len(entries), 4) if entries else 0.0,
        "total_duration_s": round(sum(e["duration_s"] for e in cut), 3),
        "total_bytes": sum(e["size_bytes"] for e in cut),
        "failures": [{"clip_id": e["clip_id"], "reason": e["reason"]} for e in failed[:FAILURES_SHOWN]],
    }


def _cut_check(summary: dict[str, Any], max_failed_share: float) -> AssetCheckResult:
    over = summary["failed_share"] > max_failed_share
    return AssetCheckResult(
        check_name="clips_cut",
        passed=summary["clips_failed"] == 0,
        severity=AssetCheckSeverity.ERROR if over else AssetCheckSeverity.WARN,
        description=f"{summary['clips_cut']} of {summary['clips']} clips cut, "
        f"{summary['clips_failed']} failed (at most {max_failed_share:.0%} may fail)",
        metadata={
            "clips_failed": summary["clips_failed"],
            "failed_share": summary["failed_share"],
            "failures": MetadataValue.json(summary["failures"]),
        },
    )


@asset(
    name=CLIPS.name,
    partitions_def=recordings_partitions,
    # The uploaded video's asset is lineage only: the clips read every angle in `video_uris` themselves.
    deps=[AssetDep("video"), AssetDep("shot_details"), AssetDep("events")],
    check_specs=[
        AssetCheckSpec(
            "clips_cut",
            asset=CLIPS.name,
            description="Every planned clip was cut; failures are listed with their reason (a warning "
            "below the configured share, an error above it).",
            # Each recording keeps its own result (dagster-notes.md), as the processed assets' do.
            partitions_def=recordings_partitions,
        )
    ],
    group_name="processed",
    kinds={"mp4", "json"},
    metadata={"job_type": CLIPS_JOB.name, "manifest": CLIPS.key_template},
    tags={"ras/job_type": CLIPS_JOB.name},
)
def training_clips(
    context: AssetExecutionContext,
    config: TrainingClipsConfig,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
    ffmpeg: FfmpegResource,
):
    """Clips around shots and goals (or the configured event types) from every camera angle of the
    recording, each source video fetched once; a manifest lists every clip with its state and reason."""
    jobs = state_store.lifecycle
    meta = registered_recording(context, jobs.store)
    built = build_training_clips(context, jobs, object_store.store, ema, ffmpeg, meta, config)
    if built.failure is not None:
        yield from built.checks
        raise Failure(description=built.failure, allow_retries=False)
    yield MaterializeResult(metadata=built.metadata, check_results=built.checks)


def build_training_clips(
    context: AssetExecutionContext | OpExecutionContext,
    jobs: Lifecycle,
    objects: ObjectStore,
    ema: EmaResource,
    ffmpeg: FfmpegResource,
    meta: RecordingMetadata,
    config: TrainingClipsConfig,
) -> Imported:
    """Build one recording's clips through the lifecycle, as `import_output` imports an EMA output:
    the `training_clips` asset and `import_recordings` (several recordings per run) both build here."""
    recording_id, run_id = meta.recording_id, context.run_id
    read = jobs.import_started(recording_id, CLIPS.name, run_id=run_id).read
    if read is None:
        return Imported(failure=f"{CLIPS.name} is not buildable now: an input job has not delivered")
    try:
        cut = _cut_recording(objects, meta, config.settings(), ffmpeg)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        jobs.import_failed(
            recording_id, CLIPS.name, read, reason, transient=transient_fault(error), run_id=run_id
        )
        return Imported(failure=f"{CLIPS.name}: {reason}")
    summary = _summary(cut.entries)
    check = _cut_check(summary, config.max_failed_share)
    context.log.info(f"{recording_id}: {check.description}")
    if summary["failed_share"] > config.max_failed_share:
        reason = f"{check.description}; first: {summary['failures'][0]['reason']}"
        jobs.import_failed(recording_id, CLIPS.name, read, reason, transient=False, run_id=run_id)
        return Imported([check], failure=f"{CLIPS.name}: {reason}")
    plan = jobs.import_passed(recording_id, CLIPS.name, read, run_id=run_id)
    trigger_and_observe(context, plan.refs(recording_id), jobs, ema)
    return Imported(
        [check],
        metadata={
            **{name: value for name, value in summary.items() if name != "failures"},
            "failures": MetadataValue.json(summary["failures"]),
            "clips_kept": sum(s.kept for s in cut.sources),
            "clips_attempted": sum(s.attempted for s in cut.sources),
            "stale_clips_removed": cut.removed,
            "angles": len(meta.video_uris),
            "sources_fetched": sum(s.fetched for s in cut.sources),
            "moments": len({e["moment"]["moment_id"] for e in cut.entries}),
            "uri": objects.uri(manifest_key(recording_id)),
            "job_attempt": read.get(CLIPS_JOB.name, 0),
            **cut.preview,
        },
    )


@dataclass(frozen=True)
class _Cut:
    entries: list[dict[str, Any]]
    sources: list[SourceRun]
    removed: int
    preview: dict[str, Any]


def _cut_recording(
    objects: ObjectStore, meta: RecordingMetadata, settings: tc.ClipSettings, ffmpeg: FfmpegResource
) -> _Cut:
    """Plan, cut what is missing or stale, write the manifest (after each angle too) and the preview."""
    recording_id = meta.recording_id
    plan = tc.plan_clips(meta, _moments(objects, meta, settings), settings)
    key = manifest_key(recording_id)
    previous = tc.reusable_entries(_read_json(objects, key))
    rejected = [tc.manifest_entry(r, state="failed", reason=r.reason) for r in plan.rejected]

    def write_manifest(entries: list[dict[str, Any]]) -> None:
        document = tc.manifest(recording_id, settings, [*entries, *rejected])
        objects.put_bytes(key, json.dumps(document, indent=1).encode())

    options = CutOptions(
        ffmpeg.clip_timeout_s, ffmpeg.max_parallel, ffmpeg.executable or None, settings.min_duration_s
    )
    with tempfile.TemporaryDirectory(prefix="ras-training-clips-") as tmp:
        entries, sources = cut_recording_clips(
            objects, recording_id, plan.clips, previous, Path(tmp), options, on_angle_done=write_manifest
        )
        write_manifest(entries)
        entries += rejected
        removed = remove_stale_clips(objects, recording_id, entries)
        preview = _preview(objects, entries, recording_id, Path(tmp), ffmpeg)
    return _Cut(entries, sources, removed, preview)


# --- the dataset --------------------------------------------------------------------------------


def dataset_clips(objects: ObjectStore, recording_ids: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per recording with clips: (clip id, object-store URI, prompt) of every cut clip in its manifest."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for recording_id in recording_ids:
        document = _read_json(objects, manifest_key(recording_id)) or {}
        cut = [
            (entry["clip_id"], objects.uri(entry["key"]), entry["prompt"])
            for entry in document.get("clips", [])
            if entry["state"] == "cut"
        ]
        if cut:
            found[recording_id] = cut
    return found


@asset(
    name="training_dataset",
    deps=[AssetDep(CLIPS.name)],
    group_name="training",
    kinds={"jsonl"},
    metadata={"files": f"{DATASET_PREFIX}training.jsonl, validation.jsonl"},
)
def training_dataset(context: AssetExecutionContext, object_store: ObjectStoreResource) -> MaterializeResult:
    """The video-tuning dataset over every recording's clips: `training.jsonl` and `validation.jsonl`,
    80/20 by a hash of the clip id, so a clip never changes sides between runs or as recordings are added."""
    objects = object_store.store
    # An asset run, not a sensor tick: reading every partition key once per rebuild is fine here.
    recording_ids = sorted(context.instance.get_dynamic_partitions(recordings_partitions.name))
    by_recording = dataset_clips(objects, recording_ids)
    training, validation = tc.split_dataset(clip for clips in by_recording.values() for clip in clips)
    uris = {}
    for name, lines in (("training", training), ("validation", validation)):
        key = f"{DATASET_PREFIX}{name}.jsonl"
        objects.put_bytes(key, "".join(f"{line}\n" for line in lines).encode())
        uris[f"{name}_uri"] = objects.uri(key)
    sample = "\n".join((training + validation)[:3])
    return MaterializeResult(
        metadata={
            "clips": len(training) + len(validation),
            "training_clips": len(training),
            "validation_clips": len(validation),
            "recordings_with_clips": len(by_recording),
            **uris,
            "sample": MetadataValue.md(f"```json\n{sample}\n```"),
        }
    )


training_dataset_job = define_asset_job(
    "build_training_dataset",
    selection=AssetSelection.assets("training_dataset"),
    executor_def=in_process_executor,
    tags={"ras/kind": "training-dataset"},
    description="Rebuild the training dataset JSONL files from every recording's clip manifest.",
)
