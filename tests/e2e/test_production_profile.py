"""The spine end to end on the production profile: PostgreSQL (platform tables and Dagster's storage),
S3 and EventBridge (a moto server; events observed through a rule → SQS queue), with the same faults
and the same assertions as test_spine.py. Without PostgreSQL: skipped locally, failed in CI."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ras_core import catalogue
from ras_core.recording import parse_recording_metadata
from ras_platform.demo import demo_metadata
from ras_platform.object_store import build_object_store
from ras_platform.stack import Stack
from ras_tools.chaos import AwsDouble, production_settings_env, reference_digests
from tests.conftest import PostgresServer
from tests.e2e.test_spine import (
    BROADCAST,
    DURATION_S,
    FAULTS,
    FROM_VIDEO,
    RECORDINGS,
    assert_dependency_order,
    assert_no_transition_applied_twice,
    count_events_once,
    object_store_digests,
    run_scenario,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


class Production:
    def __init__(self, home: Path, final: dict, logs: dict, stack: Stack, delivered: list[dict]):
        self.home, self.final, self.logs, self.stack, self.delivered = home, final, logs, stack, delivered


@pytest.fixture(scope="module")
def production_run(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Production]:
    # One database for both: Dagster's tables and ours do not collide (ours: ras_alembic_version).
    database = postgres_server.create_database()
    aws = AwsDouble().start()
    try:
        bucket, bus = f"ras-e2e-{uuid.uuid4().hex[:8]}", f"ras-e2e-{uuid.uuid4().hex[:8]}"
        aws.create_bucket(bucket)
        queue_url = aws.bus_to_queue(bus)
        delivered: list[dict] = []

        def published(_: Stack) -> int:
            delivered.extend(aws.drain_queue(queue_url))
            return len(delivered)

        home = tmp_path_factory.mktemp("production")
        stack, final, logs = run_scenario(
            home,
            FAULTS,
            settings_env=production_settings_env(database, aws, bucket=bucket, bus=bus),
            dagster_postgres_url=database,
            events_published=published,
        )
        published(stack)  # anything delivered after the expected count was reached
        yield Production(home, final, logs, stack, delivered)
    finally:
        aws.stop()
        postgres_server.drop_database(database)


def test_every_job_completes_in_dependency_order_despite_faults(production_run: Production) -> None:
    stats = json.loads((production_run.home / "ema-stats.json").read_text())
    assert stats["duplicates_sent"] > 0 and stats["stale_sent"] > 0 and stats["transient_failures"] > 0, stats
    for recording_id in RECORDINGS:
        states = {job["job_type"]: job["state"] for job in production_run.final[recording_id]["jobs"]}
        assert states == dict.fromkeys(catalogue.job_type_names(), "completed"), states
        entries = production_run.logs[recording_id]
        assert_dependency_order(entries)
        assert_no_transition_applied_twice(entries)
        assert any(
            e["job_type"] == "shot-details" and e["to_state"] == "failed" and e["outcome"] == "applied"
            for e in entries
        ), "shot-details was configured to fail once and be retried"
    assert any(Counter(e["outcome"] for e in production_run.logs[r])["stale"] for r in RECORDINGS)


def test_processed_files_in_s3_equal_a_fault_free_import(production_run: Production) -> None:
    objects = build_object_store(production_run.stack.settings)
    expected: dict[str, str] = {}
    for recording_id in RECORDINGS:
        broadcast = recording_id == BROADCAST
        meta = parse_recording_metadata(demo_metadata(recording_id, DURATION_S, 10.0 if broadcast else 25.0))
        expected |= {
            key.removeprefix("processed/"): digest
            for key, digest in reference_digests(meta, broadcast=broadcast).items()
        }
    imported = {k: v for k, v in object_store_digests(objects).items() if not k.startswith(FROM_VIDEO)}
    assert imported == expected
    for recording_id in RECORDINGS:
        manifest = json.loads(objects.get_bytes(f"processed/training_clips/{recording_id}/manifest.json"))
        assert all(c["state"] == "cut" for c in manifest["clips"])
        assert all(objects.uri(c["key"]).startswith("s3://") for c in manifest["clips"])


def test_each_domain_event_reaches_the_queue_exactly_once(production_run: Production) -> None:
    events = [(m["detail"]["event_id"], m["detail-type"]) for m in production_run.delivered]
    assert count_events_once(events) == {
        "EventDetectionProcessedV1": 3,
        "ShotDetailsProcessedV1": 3,
        "MatchReportProcessedV1": 3,
        "RecordingAnalysisProcessedV1": 3,
    }
    assert {m["source"] for m in production_run.delivered} == {"recording-analytics"}
