"""`ras chaos`: N recordings through the whole platform under injected faults and process kills.

The EMA simulator sends duplicate, out-of-order, stale and early callbacks, answers triggers with
transient 503s and uploads malformed outputs (always for some recordings, so their jobs fail for
good: attempts used up, or a retry with the bytes that failed before); meanwhile the Dagster daemon
and the API are killed with SIGKILL at seeded random moments and restarted. Afterwards the run
checks, from the state store, the simulator's log of acknowledged callbacks, the published events
and the object store:

- every recording is completed, or failed with a reason (nothing in flight, nothing ready but unscheduled);
- lost = callbacks the API acknowledged with 202 that the inbox does not hold as processed (applied,
  stale, duplicate or illegal), plus outbox events that never reached the event bus;
- doubled = state transitions applied twice (same job, attempt, from, to), domain events delivered
  twice (same event id, or the same event type twice for one recording);
- completed recordings' processed files equal those of a fault-free import of the same simulator
  output, computed in-process (`reference_digests`).

The last line of output is `recordings=N completed=C failed=F lost=L doubled=D kills=K`; the exit
code is 0 only when lost=0, doubled=0, every recording is completed or failed with a reason, and the
processed files match. docs/chaos.md describes how to read it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ema_simulator.config import SimulatorConfig
from ras_core import catalogue
from ras_core.recording import Pitch, RecordingMetadata, parse_recording_metadata
from ras_core.states import IN_FLIGHT, JobState
from ras_platform.demo import ApiClient, demo_metadata, put_demo_video
from ras_platform.stack import Stack, free_port

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432"
KILLED = ("daemon", "api")
EVENT_SOURCE = "recording-analytics"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
REGION = "eu-west-1"


# --- production backends: PostgreSQL databases and an AWS double (moto) ------------------------------


def admin_url(server_url: str) -> str:
    """The `postgres` maintenance database of the server at `server_url` (with or without a database)."""
    url = make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url.set(database="postgres").render_as_string(hide_password=False)


@contextmanager
def temporary_database(server_url: str, prefix: str = "ras_chaos", *, keep: bool = False) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards (unless `keep`); yields its URL."""
    engine = create_engine(
        admin_url(server_url),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url(server_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


class AwsDouble:
    """A moto server on a free loopback port serving S3, EventBridge and SQS (moto is a dev dependency)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

        for name, value in FAKE_AWS_ENV.items():
            os.environ.setdefault(name, value)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> AwsDouble:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str, config: Any = None) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )

    def create_bucket(self, bucket: str) -> None:
        from ras_platform.s3_object_store import S3ObjectStore

        S3ObjectStore(bucket, endpoint_url=self.url, region=REGION, client=self.client("s3")).ensure_bucket()

    def bus_to_queue(self, bus: str, source: str = EVENT_SOURCE) -> str:
        """Create event bus `bus` with a rule forwarding `source`'s events to a new SQS queue; its URL."""
        events, sqs = self.client("events"), self.client("sqs")
        events.create_event_bus(Name=bus)
        queue_url = sqs.create_queue(QueueName=f"{bus}-observer")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name=f"{bus}-all", EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
        events.put_targets(Rule=f"{bus}-all", EventBusName=bus, Targets=[{"Id": "observer", "Arn": arn}])
        return queue_url

    def drain_queue(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message now in the queue (EventBridge events, as delivered), removed from it."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            messages.extend(json.loads(m["Body"]) for m in batch)
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return messages


def production_settings_env(database_url: str, aws: AwsDouble, *, bucket: str, bus: str) -> dict[str, str]:
    """RAS_* (and dummy AWS_*) variables of the production profile against local doubles."""
    return {
        "RAS_PROFILE": "production",
        "RAS_DATABASE_URL": database_url,
        "RAS_OBJECT_STORE": "s3",
        "RAS_S3_BUCKET": bucket,
        "RAS_S3_ENDPOINT_URL": aws.url,
        "RAS_EVENT_PUBLISHER": "eventbridge",
        "RAS_EVENTBRIDGE_ENDPOINT_URL": aws.url,
        "RAS_EVENT_BUS_NAME": bus,
        "RAS_ZOLA_TOKEN": f"zola-{uuid.uuid4().hex}",
        "RAS_EMA_TOKEN": f"ema-{uuid.uuid4().hex}",
        "RAS_SIGNING_KEY": f"key-{uuid.uuid4().hex}",
        **FAKE_AWS_ENV,
    }


# --- the fault-free reference ---------------------------------------------------------------------------


def reference_digests(
    metadata: RecordingMetadata, *, tracking_variant: str = "v3", broadcast: bool = False
) -> dict[str, str]:
    """sha256 of every processed file of one recording, imported in-process from the simulator's
    deterministic output (what a fault-free run writes): processed key → digest. A processed file
    names its raw source without the attempt (`ras_core.processed.source_name`), so a recording
    that needed retries is compared with the same digests. `broadcast`: the simulator delivered the
    recording broadcast-like."""
    from ema_simulator import synthetic
    from ras_core.importers import run_import

    sim_recording = synthetic.two_half_recording(
        metadata.recording_id,
        metadata.fps,
        metadata.duration_s,
        Pitch(metadata.pitch.length_m, metadata.pitch.width_m),
    )
    match = synthetic.synthetic_match(sim_recording, broadcast=broadcast)
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ras-reference-") as tmp:
        work = Path(tmp)
        paths: dict[str, Path] = {}
        for job in catalogue.JOB_TYPES:
            for raw in job.raw_outputs:
                variant = tracking_variant if raw.name in ("player-tracking", "ball-tracking") else None
                paths[raw.name] = work / f"raw-{raw.name}.{raw.file_format}"
                synthetic.write_raw_output(match, raw.name, paths[raw.name], variant=variant)
        # Imported outputs only: clips are cut from video, not computed from EMA's files.
        pending = [out for out in catalogue.PROCESSED_OUTPUTS if not out.from_video]
        while pending:  # processed inputs first
            out = next(o for o in pending if all(name in paths for name in o.processed_inputs))
            pending.remove(out)
            inputs = {name: paths[name] for name in (*out.raw_inputs, *out.processed_inputs)}
            target = work / f"processed-{out.name}.{out.file_format}"
            result = run_import(out.name, inputs, metadata, target)
            if not result.passed:
                raise RuntimeError(f"reference import of {out.name} failed: {result.failure_reason()}")
            paths[out.name] = target
            digests[out.key(metadata.recording_id)] = hashlib.sha256(target.read_bytes()).hexdigest()
            for sidecar in out.sidecars:  # stored beside it by the same import (the frames sidecar)
                written = catalogue.sidecar_path(target, sidecar)
                if written.is_file():
                    key = out.sidecar_key(metadata.recording_id, sidecar)
                    digests[key] = hashlib.sha256(written.read_bytes()).hexdigest()
    return digests


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class ChaosOptions:
    recordings: int = 20
    duration_s: float = 40.0
    fps: float = 25.0
    seed: int = 1
    kills_per_process: int = 2
    profile: str = "production"
    pg_url: str = DEFAULT_PG_URL
    home: Path | None = None
    timeout_s: float = 1200.0
    job_duration_s: float = 1.0
    max_attempts: int = 3
    # First kill after, and between kills: seeded uniform in this range (seconds).
    kill_interval_s: tuple[float, float] = (8.0, 25.0)
    keep: bool = False  # keep the databases (and print where the home is) for a post-mortem
    # Poison callbacks sent among the normal ones (ras_tools/poison.py); a fifth as many rows are
    # written past the edge into the inbox. 0: none.
    poison: int = 0


@dataclass
class ChaosReport:
    recordings: int = 0
    completed: int = 0
    failed: int = 0
    stuck: list[str] = field(default_factory=list)
    lost: int = 0
    doubled: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    file_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.doubled == 0
            and not self.stuck
            and self.completed + self.failed == self.recordings
            and not self.file_mismatches
            and not self.problems
        )

    def last_line(self) -> str:
        return (
            f"recordings={self.recordings} completed={self.completed} failed={self.failed} "
            f"lost={self.lost} doubled={self.doubled} kills={sum(self.kills.values())}"
        )


# Half the recordings broadcast-like (camera gaps, ball out of play, events without position): quality
# warnings must not fail a job, whatever else goes wrong.
BROADCAST_RATE = 0.5


def simulator_args(options: ChaosOptions, malformed_recordings: list[str]) -> list[str]:
    return [
        f"--job-duration-s={options.job_duration_s}",
        "--duplicate-rate=0.3",
        "--out-of-order-rate=0.3",
        "--stale-rate=0.2",
        "--transient-trigger-failures=1",
        "--malformed-rate=0.05",
        *([f"--malformed-recordings={','.join(malformed_recordings)}"] if malformed_recordings else []),
        "--early-callback",
        f"--broadcast-rate={BROADCAST_RATE}",
        f"--seed={options.seed}",
        # Keep re-sending a callback across an API restart (0.2 s doubling: about 6 minutes in all).
        "--callback-retries=11",
        "--log-level=warning",
    ]


def run_chaos(options: ChaosOptions, out: TextIO = sys.stdout) -> ChaosReport:
    home = (options.home or Path(".ras") / f"chaos-{datetime.now():%Y%m%d-%H%M%S}").absolute()
    home.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"{datetime.now():%H:%M:%S} {message}", file=out, flush=True)

    rng = random.Random(options.seed)
    ids = [f"chaos-{i:04d}" for i in range(1, options.recordings + 1)]
    # One recording in twenty (at least one) gets a malformed output on every attempt: it must end
    # failed with the check's reason once RAS_EMA_MAX_ATTEMPTS is used up, not stuck.
    malformed = sorted(rng.sample(ids, max(1, options.recordings // 20)))
    report = ChaosReport(recordings=options.recordings)
    started = time.monotonic()
    with ExitStack() as resources:
        settings_env: dict[str, str] = {"RAS_EMA_MAX_ATTEMPTS": str(options.max_attempts)}
        dagster_pg: str | None = None
        aws: AwsDouble | None = None
        queue_url = None
        if options.profile == "production":
            database = resources.enter_context(temporary_database(options.pg_url, keep=options.keep))
            aws = AwsDouble().start()
            resources.callback(aws.stop)
            bucket, bus = f"chaos-{uuid.uuid4().hex[:8]}", f"chaos-{uuid.uuid4().hex[:8]}"
            aws.create_bucket(bucket)
            queue_url = aws.bus_to_queue(bus)
            settings_env |= production_settings_env(database, aws, bucket=bucket, bus=bus)
            dagster_pg = database  # Dagster's tables and ours do not collide (ours: ras_alembic_version)
        stack = Stack(
            home=home,
            settings_env=settings_env,
            simulator_args=simulator_args(options, malformed),
            dagster_postgres_url=dagster_pg,
        )
        say(
            f"chaos: {options.recordings} recordings of {options.duration_s:.0f} s, "
            f"profile {options.profile}, "
            f"seed {options.seed}, always-malformed {malformed}; home {home}"
        )
        resources.enter_context(stack)
        settings = stack.settings
        api = ApiClient(stack.api_url, settings.zola_token)
        from ras_platform.state_store import StateStore

        store = StateStore(settings.resolved_database_url, migrate=False)
        resources.callback(store.close)
        metadata = {r: demo_metadata(r, options.duration_s, options.fps) for r in ids}
        kills = report.kills
        next_kill = time.monotonic() + rng.uniform(*options.kill_interval_s)

        def maybe_kill() -> None:
            nonlocal next_kill
            if time.monotonic() < next_kill or min(kills[p] for p in KILLED) >= options.kills_per_process:
                return
            fewest = min(kills[p] for p in KILLED)
            name = rng.choice([p for p in KILLED if kills[p] == fewest])
            down_s = rng.uniform(0.0, 2.0)
            stack.kill(name)
            kills[name] += 1
            say(f"kill -9 {name} (#{kills[name]}), restarting in {down_s:.1f} s")
            time.sleep(down_s)
            stack.start(only=name)
            next_kill = time.monotonic() + rng.uniform(*options.kill_interval_s)

        from ras_platform.object_store import build_object_store

        videos = build_object_store(settings)
        for recording_id in ids:
            put_demo_video(videos, recording_id, options.duration_s)
            _retry(lambda r=recording_id: api.register(metadata[r]), maybe_kill)
            _retry(lambda r=recording_id: api.start_jobs(r), maybe_kill)
        say(f"submitted {len(ids)} recordings")

        poisoner = None
        if options.poison:
            from ras_tools.poison import Poisoner

            poisoner = Poisoner(
                stack.api_url, settings.ema_token, ids, store, postgres=options.profile == "production"
            )
        deadline = started + options.timeout_s
        tracker = _Settling(store, ids, options.max_attempts)
        last_line = ""
        last_print = 0.0
        while time.monotonic() < deadline:
            maybe_kill()
            if poisoner is not None:
                _poison_some(poisoner, options.poison)
            done = tracker.poll()
            line = (
                f"progress: done {len(done)}/{len(ids)} (completed {tracker.completed(done)}) "
                f"kills daemon={kills['daemon']} api={kills['api']}"
            )
            if line != last_line or time.monotonic() - last_print > 30:
                say(line)
                last_line, last_print = line, time.monotonic()
            killed = min(kills[p] for p in KILLED) >= options.kills_per_process
            poisoned = poisoner is None or poisoner.sent >= options.poison
            if len(done) == len(ids) and killed and poisoned:
                break
            time.sleep(2.0)
        say("recordings settled; waiting for late callbacks, the inbox and the outbox to drain")
        _wait_quiet(stack, store, deadline=max(deadline, time.monotonic() + 60))
        stats = _get_json(f"{stack.ema_url}/stats")
        acknowledged = _get_json(f"{stack.ema_url}/callbacks")["acknowledged"]
        report.stats = stats
        if aws is not None and queue_url is not None:
            delivered = [
                (m["detail"]["event_id"], m["detail"]["recording_id"], m["detail-type"])
                for m in aws.drain_queue(queue_url)
            ]
        else:
            delivered = _events_from_file(settings.events_file)
        objects = build_object_store(settings)
        _verify(report, store, ids, acknowledged, delivered, options.max_attempts, say)
        if poisoner is not None:
            report.problems += poisoner.verify(say)
        _compare_files(report, objects, ids, metadata, tracker, say)
        report.wall_s = time.monotonic() - started
        say(
            f"simulator: callbacks sent {stats['callbacks_sent']} "
            f"(acknowledged {stats['callbacks_acknowledged']}), "
            f"duplicates {stats['duplicates_sent']}, out of order {stats['out_of_order_sent']}, "
            f"stale {stats['stale_sent']}, transient 503s {stats['transient_failures']}, "
            f"malformed outputs {stats['malformed_outputs']}, jobs {stats['jobs_created']}; "
            f"wall {report.wall_s:.0f} s"
        )
        if options.keep:
            say(f"kept: home {home}; database {settings.resolved_database_url}")
    return report


def _poison_some(poisoner: Any, total: int, per_poll: int = 3) -> None:
    """A few poison callbacks per progress poll, and a row past the edge for every fifth."""
    for _ in range(per_poll):
        if poisoner.sent >= total:
            return
        before = poisoner.sent
        poisoner.send(before)
        if poisoner.sent > before and before % 5 == 0:
            poisoner.inject(before // 5)


def _retry(action: Callable[[], object], between: Callable[[], None], attempts: int = 60) -> None:
    """Call `action` until the API answers (it may be restarting); `between` keeps the kill clock going."""
    for attempt in range(attempts):
        try:
            action()
            return
        except httpx.HTTPError:
            if attempt == attempts - 1:
                raise
            between()
            time.sleep(1.0)


def _get_json(url: str) -> Any:
    answer = httpx.get(url, timeout=30)
    answer.raise_for_status()
    return answer.json()


class _Settling:
    """Which recordings are settled: all jobs completed, or nothing in flight, nothing ready to
    schedule, and no change-log row for `quiet_s` (a failed job may still be on its way to a retry)."""

    def __init__(self, store: Any, ids: list[str], max_attempts: int, quiet_s: float = 15.0) -> None:
        self.store, self.ids, self.max_attempts, self.quiet_s = store, ids, max_attempts, quiet_s
        self.last_change: dict[str, tuple[int, float]] = {}
        self.final: dict[str, list[Any]] = {}

    def poll(self) -> set[str]:
        from ras_platform.db.schema import recordings

        with self.store._engine.connect() as conn:
            versions = dict(conn.execute(select(recordings.c.recording_id, recordings.c.version)).all())
        now = time.monotonic()
        done: set[str] = set()
        for recording_id in self.ids:
            version = versions.get(recording_id, -1)
            changed = self.last_change.get(recording_id, (None,))[0] != version
            if changed:
                self.last_change[recording_id] = (version, now)
            # Job states change only with the recording's version: re-read only those that moved,
            # so polling 200 recordings every 2 s does not load the machine under test.
            if changed or recording_id not in self.final:
                self.final[recording_id] = self.store.job_states(recording_id)
            statuses = self.final[recording_id]
            all_completed = all(s.state is JobState.COMPLETED for s in statuses)
            quiet = now - self.last_change[recording_id][1] >= self.quiet_s
            if statuses and (all_completed or (quiet and not _unsettled(statuses))):
                done.add(recording_id)
        return done

    def completed(self, done: set[str]) -> int:
        return sum(all(s.state is JobState.COMPLETED for s in self.final[r]) for r in done)


def _unsettled(statuses: list[Any]) -> list[str]:
    """Jobs still moving: in flight, or pending with every upstream job completed (ready)."""
    from ras_core.lifecycle import ready_jobs

    moving = [f"{s.job_type}={s.state.value}" for s in statuses if s.state in IN_FLIGHT]
    return moving + [f"{s.job_type}=pending(ready)" for s in ready_jobs(statuses)]


def _wait_quiet(stack: Stack, store: Any, *, deadline: float) -> None:
    """Until the simulator has nothing in flight, the inbox is processed and the outbox published."""
    quiet_since = None
    while time.monotonic() < deadline:
        try:
            in_flight = _get_json(f"{stack.ema_url}/stats")["jobs_in_flight"]
        except httpx.HTTPError:
            in_flight = 1
        busy = in_flight or store.pending_callbacks(limit=1) or store.pending_events(limit=1)
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 6:  # one more sensor tick for the event bus delivery
            return
        time.sleep(1.0)


def _events_from_file(path: Path) -> list[tuple[str, str, str]]:
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        detail = json.loads(entry["Detail"])
        found.append((detail["event_id"], detail["recording_id"], entry["DetailType"]))
    return found


def _verify(
    report: ChaosReport,
    store: Any,
    ids: list[str],
    acknowledged: list[dict[str, str]],
    delivered: list[tuple[str, str, str]],
    max_attempts: int,
    say: Callable[[str], None],
) -> None:
    from ras_platform.db.schema import callback_inbox, outbox, state_changes

    chaos_ids = set(ids)
    with store._engine.connect() as conn:
        inbox = {
            _callback_key(row.recording_id, row.job_id, row.job_state, row.payload.get("emitted_at")): row
            for row in conn.execute(
                select(
                    callback_inbox.c.recording_id,
                    callback_inbox.c.job_id,
                    callback_inbox.c.job_state,
                    callback_inbox.c.payload,
                    callback_inbox.c.processed_at,
                    callback_inbox.c.outcome,
                )
            )
        }
        applied = Counter(
            tuple(row)
            for row in conn.execute(
                select(
                    state_changes.c.recording_id,
                    state_changes.c.job_type,
                    state_changes.c.attempt,
                    state_changes.c.from_state,
                    state_changes.c.to_state,
                ).where(state_changes.c.outcome == "applied")
            )
        )
        outbox_ids = set(conn.scalars(select(outbox.c.event_id)))
        outcomes = Counter(row.outcome for row in inbox.values())

    # Every recording completed, or failed with a reason and nothing left moving.
    for recording_id in ids:
        statuses = store.job_states(recording_id)
        moving = _unsettled(statuses)
        if all(s.state is JobState.COMPLETED for s in statuses):
            report.completed += 1
        elif not moving and any(s.state is JobState.FAILED and s.reason for s in statuses):
            report.failed += 1
            reasons = "; ".join(
                f"{s.job_type}@{s.attempt}: {s.reason}" for s in statuses if s.state is JobState.FAILED
            )
            say(f"failed {recording_id}: {reasons[:300]}")
        else:
            report.stuck.append(recording_id)
            say(f"STUCK {recording_id}: {moving or [f'{s.job_type}={s.state.value}' for s in statuses]}")

    # Lost: acknowledged callbacks the inbox does not hold as processed; events never delivered.
    unique_acks = {
        _callback_key(a["recording_id"], a["job_id"], a["job_state"], a["emitted_at"]) for a in acknowledged
    }
    lost_callbacks = [
        key
        for key in unique_acks
        if key not in inbox or inbox[key].processed_at is None or inbox[key].outcome is None
    ]
    delivered_ids = Counter(event_id for event_id, _, _ in delivered)
    undelivered = outbox_ids - set(delivered_ids)
    report.lost = len(lost_callbacks) + len(undelivered)
    for key in sorted(lost_callbacks)[:20]:
        say(f"LOST callback {key}: {'not in the inbox' if key not in inbox else 'never processed'}")
    for event_id in sorted(undelivered)[:20]:
        say(f"LOST event {event_id}: in the outbox, never delivered")

    # Doubled: a transition applied twice, an event delivered twice.
    doubled_transitions = {k: n for k, n in applied.items() if n > 1 and k[0] in chaos_ids}
    doubled_ids = {e: n for e, n in delivered_ids.items() if n > 1}
    per_recording_type = Counter((rec, kind) for _, rec, kind in {d for d in delivered})
    doubled_types = {k: n for k, n in per_recording_type.items() if n > 1}
    report.doubled = len(doubled_transitions) + len(doubled_ids) + len(doubled_types)
    for what in (doubled_transitions, doubled_ids, doubled_types):
        for key, n in list(what.items())[:20]:
            say(f"DOUBLED {key} x{n}")
    report.stats |= {
        "acknowledged_unique": len(unique_acks),
        "inbox_outcomes": dict(outcomes),
        "events_delivered": len(delivered),
    }
    say(
        f"callbacks acknowledged {len(acknowledged)} ({len(unique_acks)} distinct), inbox outcomes "
        f"{dict(outcomes)}; events delivered {len(delivered)} of {len(outbox_ids)} in the outbox"
    )


def _callback_key(recording_id: str, job_id: str, job_state: str, emitted_at: str | None) -> tuple:
    """What identifies one emission: the API stores `emitted_at` re-serialised, so compare instants."""
    moment = datetime.fromisoformat(emitted_at.replace("Z", "+00:00")) if emitted_at else None
    return (recording_id, job_id, job_state, moment)


def _compare_files(
    report: ChaosReport,
    objects: Any,
    ids: list[str],
    metadata: dict[str, dict],
    tracker: _Settling,
    say: Callable[[str], None],
) -> None:
    completed = [r for r in ids if all(s.state is JobState.COMPLETED for s in tracker.store.job_states(r))]
    for recording_id in completed:
        expected = reference_digests(
            parse_recording_metadata(metadata[recording_id]),
            broadcast=SimulatorConfig(broadcast_rate=BROADCAST_RATE).is_broadcast(recording_id),
        )
        for key, digest in expected.items():
            try:
                actual = hashlib.sha256(objects.get_bytes(key)).hexdigest()
            except LookupError:
                actual = "missing"
            if actual != digest:
                report.file_mismatches.append(key)
                say(f"MISMATCH {key}: {actual[:12]} != fault-free {digest[:12]}")
    say(
        f"processed files of {len(completed)} completed recordings compared with a fault-free import: "
        f"{len(report.file_mismatches)} differ"
    )
