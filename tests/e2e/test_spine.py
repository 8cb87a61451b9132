"""End to end on the embedded default: the real processes on loopback, recordings from POST /jobs
to every job completed (tier 3 of style.md)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ras_core import catalogue
from ras_platform.demo import ApiClient, demo_metadata, put_demo_video, wait_until_done
from ras_platform.object_store import ObjectStore, build_object_store
from ras_platform.stack import Stack

pytestmark = pytest.mark.e2e

RECORDINGS = ["e2e-001", "e2e-002", "e2e-003"]
BROADCAST = "e2e-002"  # delivered as a broadcast camera and a real EMA would, at 10 fps
DURATION_S = 60.0
# Both kinds of data in every scenario: one recording broadcast-like (camera gaps, ball out of play,
# events without position), the others standard.
MIXED = [f"--broadcast-recordings={BROADCAST}"]
FAULTS = [
    "--job-duration-s=0.5",
    "--duplicate-rate=0.3",
    "--out-of-order-rate=0.3",
    "--stale-rate=0.3",
    "--transient-trigger-failures=1",
    "--fail-first-attempt=shot-details",
    "--early-callback",
    "--seed=7",
    *MIXED,
]


def run_scenario(
    home: Path,
    simulator_args: list[str],
    *,
    settings_env: dict[str, str] | None = None,
    dagster_postgres_url: str | None = None,
    events_published: Callable[[Stack], int] | None = None,
    when_done: Callable[[Stack, ApiClient], None] | None = None,
) -> tuple[Stack, dict[str, dict], dict[str, list[dict]]]:
    """`settings_env`, `dagster_postgres_url` and `events_published` let the production-profile test
    (test_production_profile.py) run the same scenario against PostgreSQL, S3 and EventBridge."""
    stack = Stack(
        home=home,
        settings_env=settings_env or {},
        simulator_args=simulator_args,
        dagster_postgres_url=dagster_postgres_url,
    )
    with stack:
        api = ApiClient(stack.api_url, stack.settings.zola_token)
        objects = build_object_store(stack.settings)
        for recording_id in RECORDINGS:
            put_demo_video(objects, recording_id, DURATION_S)
            fps = 10.0 if recording_id == BROADCAST else 25.0
            api.register(demo_metadata(recording_id, DURATION_S, fps))
            accepted = api.start_jobs(recording_id)
            assert accepted["run_id"]
        final = wait_until_done(api, RECORDINGS, timeout_s=420)
        logs = {r: api.http.get(f"/recordings/{r}/analytics/logs").json()["entries"] for r in RECORDINGS}
        stats = httpx.get(f"{stack.ema_url}/stats").json()
        (home / "ema-stats.json").write_text(json.dumps(stats))
        if when_done:
            when_done(stack, api)
        wait_for_events(stack, expected=len(RECORDINGS) * 4, published=events_published)
    return stack, final, logs


def _events_in_file(stack: Stack) -> int:
    events_file = stack.home / "data" / "events.jsonl"
    return len(events_file.read_text().splitlines()) if events_file.exists() else 0


def wait_for_events(
    stack: Stack, expected: int, timeout_s: float = 30, published: Callable[[Stack], int] | None = None
) -> None:
    import time

    count = published or _events_in_file
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if count(stack) >= expected:
            return
        time.sleep(0.5)


# Cut from the video rather than imported from EMA's files.
FROM_VIDEO = ("training_clips/", "training_dataset/")


def processed_digests(home: Path) -> dict[str, str]:
    """Processed files of the embedded profile's local object store: key under processed/ → sha256.

    The training dataset names clips by absolute file:// URI (another home, other lines) and is
    rebuilt by a sensor at its own pace: it is left out. A clip manifest's fingerprints name its
    source's version, which the local store derives from the file's inode: they are left out too."""
    root = home / "data" / "objects" / "processed"
    return {
        key: hashlib.sha256(_comparable(key, p.read_bytes())).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (key := str(p.relative_to(root))).startswith("training_dataset/")
    }


def _comparable(key: str, data: bytes) -> bytes:
    if not (key.startswith("training_clips/") and key.endswith("/manifest.json")):
        return data
    manifest = json.loads(data)
    clips = [{k: v for k, v in clip.items() if k != "fingerprint"} for clip in manifest["clips"]]
    return json.dumps({**manifest, "clips": clips}, sort_keys=True).encode()


def cut_clips(home: Path, recording_id: str) -> list[str]:
    """The ids of a recording's clips its manifest says were cut."""
    manifest = home / "data" / "objects" / "processed" / "training_clips" / recording_id / "manifest.json"
    return [c["clip_id"] for c in json.loads(manifest.read_text())["clips"] if c["state"] == "cut"]


def object_store_digests(store: ObjectStore, prefix: str = "processed/") -> dict[str, str]:
    """The same for any object store (S3 in production), keyed like `processed_digests`."""
    return {
        info.key[len(prefix) :]: hashlib.sha256(store.get_bytes(info.key)).hexdigest()
        for info in store.list(prefix)
    }


def assert_dependency_order(entries: list[dict]) -> None:
    """No job was scheduled before every job it depends on had completed (for that attempt)."""
    completed: set[str] = set()
    for entry in entries:
        if entry["outcome"] != "applied":
            continue
        if entry["to_state"] == "completed":
            completed.add(entry["job_type"])
        elif entry["to_state"] == "pending":
            completed.discard(entry["job_type"])
        elif entry["to_state"] == "scheduled":
            missing = set(catalogue.job_type(entry["job_type"]).depends_on) - completed
            assert not missing, f"{entry['job_type']} scheduled before {missing} completed: {entry}"


def assert_no_transition_applied_twice(entries: list[dict]) -> None:
    applied = Counter(
        (e["job_type"], e["attempt"], e["from_state"], e["to_state"])
        for e in entries
        if e["outcome"] == "applied"
    )
    doubled = {k: n for k, n in applied.items() if n > 1}
    assert not doubled, doubled
    versions = [e["version"] for e in entries]
    assert versions == list(range(1, len(entries) + 1)), "change-log versions must be contiguous"


def events_by_type(home: Path) -> Counter:
    lines = (home / "data" / "events.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    return count_events_once([(json.loads(e["Detail"])["event_id"], e["DetailType"]) for e in entries])


def count_events_once(events: list[tuple[str, str]]) -> Counter:
    """(event id, detail type) pairs as published; asserts no event id twice, counts by type."""
    ids = [event_id for event_id, _ in events]
    assert len(ids) == len(set(ids)), "a domain event was published twice"
    return Counter(detail_type for _, detail_type in events)


DELIVERY_PATHS = [
    "analytics",
    "analytics/logs",
    "player-tracking?start=10&end=20",
    "player-tracking/jersey-numbers",
    "player-moments",
    "match-momentum",
    "match-details",
    "match-details/attacking-moments",
    "events?type=shot,goal",
    "shot-details",
    "match-report",
]


def read_every_endpoint(stack: Stack, api: ApiClient, recording_id: str) -> dict[str, int]:
    """What Zola and MES read once a recording is done; status per path."""
    statuses = {
        path: api.http.get(f"/recordings/{recording_id}/{path}").status_code for path in DELIVERY_PATHS
    }
    statuses["raw-files"] = api.http.get(f"/recordings/{recording_id}/raw-files").status_code
    ema = {"X-Token": stack.settings.ema_token}
    upload = httpx.get(
        f"{stack.api_url}/recordings/{recording_id}/upload-url?jobType=ball-tracking", headers=ema
    )
    statuses["upload-url"] = upload.status_code
    return statuses


def failed_publish_attempts(stack: Stack) -> int:
    from ras_platform.state_store import StateStore

    store = StateStore(stack.settings.resolved_database_url)
    try:
        return sum(event.attempts for event in store.pending_events(limit=1000))
    finally:
        store.close()


def children_commands(pid: int) -> list[str]:
    """Command lines of a process's live children, from /proc."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name in field 2 may hold spaces; the parent pid follows its closing paren.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                commands.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return commands


@pytest.fixture(scope="module")
def clean_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, dict], dict[str, list[dict]]]:
    home = tmp_path_factory.mktemp("clean")
    # The event file's path is taken by a directory: every publish fails until it is removed.
    events_file = home / "data" / "events.jsonl"
    events_file.mkdir(parents=True)
    observed: dict[str, object] = {}

    def when_done(stack: Stack, api: ApiClient) -> None:
        observed["endpoints"] = read_every_endpoint(stack, api, RECORDINGS[0])
        observed["failed_attempts"] = failed_publish_attempts(stack)
        observed["code_server_children"] = children_commands(stack.processes["code-ras"].pid)
        events_file.rmdir()  # the publisher recovers; the sensor re-sends what failed

    _, final, logs = run_scenario(home, ["--job-duration-s=0.5", *MIXED], when_done=when_done)
    (home / "observed.json").write_text(json.dumps(observed))
    return home, final, logs


def test_every_endpoint_answers_once_a_recording_is_done(clean_run) -> None:
    home, _, _ = clean_run
    endpoints = json.loads((home / "observed.json").read_text())["endpoints"]
    assert endpoints == dict.fromkeys(endpoints, 200) and len(endpoints) == len(DELIVERY_PATHS) + 2


def test_run_workers_fork_from_the_code_servers_warm_forkserver(clean_run) -> None:
    # Runs were launched through the code server: its forkserver, started on the first run, is
    # alive. Dagster's own code server would have spawned fresh interpreters and has none.
    home, _, _ = clean_run
    children = json.loads((home / "observed.json").read_text())["code_server_children"]
    assert any("multiprocessing.forkserver" in command for command in children), children


def test_three_recordings_complete_in_dependency_order(clean_run) -> None:
    home, final, logs = clean_run
    for recording_id in RECORDINGS:
        states = {job["job_type"]: job["state"] for job in final[recording_id]["jobs"]}
        assert states == dict.fromkeys(catalogue.job_type_names(), "completed"), states
        assert_dependency_order(logs[recording_id])
        assert_no_transition_applied_twice(logs[recording_id])
        for out in catalogue.PROCESSED_OUTPUTS:
            assert (home / "data" / "objects" / out.key(recording_id)).stat().st_size > 0
        # A clip of every shot from the recording's generated video (a minute of match may have none).
        shots = home / "data" / "objects" / f"processed/shot_details/{recording_id}.json"
        assert len(cut_clips(home, recording_id)) == len(json.loads(shots.read_text())["shots"])
    # Publishing failed while the event file was blocked, and each event still arrived exactly once.
    assert json.loads((home / "observed.json").read_text())["failed_attempts"] > 0
    assert events_by_type(home) == {
        "EventDetectionProcessedV1": 3,
        "ShotDetailsProcessedV1": 3,
        "MatchReportProcessedV1": 3,
        "RecordingAnalysisProcessedV1": 3,
    }


def test_faults_end_in_the_same_states_and_files(clean_run, tmp_path: Path) -> None:
    clean_home, clean_final, _ = clean_run
    _, final, logs = run_scenario(tmp_path, FAULTS)
    stats = json.loads((tmp_path / "ema-stats.json").read_text())
    # The knobs really fired: otherwise this test would prove nothing.
    assert stats["duplicates_sent"] > 0 and stats["stale_sent"] > 0 and stats["transient_failures"] > 0, stats
    for recording_id in RECORDINGS:
        assert (
            final[recording_id]["overall_state"] == clean_final[recording_id]["overall_state"] == "completed"
        )
        entries = logs[recording_id]
        assert_dependency_order(entries)
        assert_no_transition_applied_twice(entries)
        outcomes = Counter(e["outcome"] for e in entries)
        shot = [
            e
            for e in entries
            if e["job_type"] == "shot-details" and e["to_state"] == "failed" and e["outcome"] == "applied"
        ]
        assert shot, "shot-details was configured to fail once and be retried"
        assert outcomes["applied"] > 0
    assert any(Counter(e["outcome"] for e in logs[r])["stale"] for r in RECORDINGS)
    assert processed_digests(tmp_path) == processed_digests(clean_home)
    events_by_type(tmp_path)
