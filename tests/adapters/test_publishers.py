"""Domain-event publishers: the JSON lines file and EventBridge (moto, delivered through a rule to SQS)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ras_platform.eventbridge import EventBridgePublisher
from ras_platform.publishers import (
    JsonLinesPublisher,
    PublishError,
    build_publisher,
    put_events_entry,
)
from ras_platform.settings import Settings

BASE_URL = "https://ras.example"
SOURCE = "recording-analytics"


@dataclass(frozen=True)
class Event:
    """Shaped like the state store's OutboxEvent."""

    event_id: str
    detail_type: str = "EventDetectionProcessedV1"
    detail: dict[str, Any] = field(
        default_factory=lambda: {
            "recording_id": "rec-001",
            "occurred_at": "2026-11-23T12:00:00Z",
            "links": {"events": "/recordings/rec-001/events", "docs": "https://docs.example/e"},
        }
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_entry_has_the_put_events_shape_and_absolute_links() -> None:
    entry = put_events_entry(Event("e-1"), source=SOURCE, base_url=BASE_URL + "/", bus_name="bus")
    assert set(entry) == {"Source", "DetailType", "Detail", "EventBusName"}
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        SOURCE,
        "EventDetectionProcessedV1",
        "bus",
    )
    detail = json.loads(entry["Detail"])
    assert detail["event_id"] == "e-1"
    assert detail["recording_id"] == "rec-001" and detail["occurred_at"] == "2026-11-23T12:00:00Z"
    assert detail["links"] == {
        "events": "https://ras.example/recordings/rec-001/events",
        "docs": "https://docs.example/e",
    }


def test_json_lines_appends_one_entry_per_event(tmp_path: Path) -> None:
    path = tmp_path / "events" / "events.jsonl"
    JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL).publish([Event("e-1"), Event("e-2")])
    written = lines(path)
    assert [json.loads(e["Detail"])["event_id"] for e in written] == ["e-1", "e-2"]
    assert all(e["Source"] == SOURCE for e in written)


def test_json_lines_resend_writes_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    publisher = JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL)
    publisher.publish([Event("e-1"), Event("e-1")])
    publisher.publish([Event("e-1"), Event("e-2")])
    # A new process (after a crash) re-sends what the outbox had not yet marked published.
    JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL).publish([Event("e-2"), Event("e-3")])
    assert [json.loads(e["Detail"])["event_id"] for e in lines(path)] == ["e-1", "e-2", "e-3"]


def test_json_lines_cuts_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL).publish([Event("e-1")])
    with open(path, "a") as torn:
        torn.write('{"Detail": "{\\"event_id\\": \\"e-2')  # the process died mid-write
    JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL).publish([Event("e-2")])
    assert [json.loads(e["Detail"])["event_id"] for e in lines(path)] == ["e-1", "e-2"]


def test_json_lines_failure_raises_with_the_event_ids(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.mkdir()  # a directory where the file should be: appending fails
    with pytest.raises(PublishError) as caught:
        JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL).publish([Event("e-1"), Event("e-2")])
    assert caught.value.failed_event_ids == ("e-1", "e-2")


def test_json_lines_retry_after_a_failed_append_writes_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    publisher = JsonLinesPublisher(path, source=SOURCE, base_url=BASE_URL)
    publisher.publish([Event("e-1")])

    def failing_fsync(fd: int) -> None:
        raise OSError("disk unplugged")

    with monkeypatch.context() as patch:
        patch.setattr("ras_platform.publishers.os.fsync", failing_fsync)
        with pytest.raises(PublishError) as caught:
            publisher.publish([Event("e-2")])
    assert caught.value.failed_event_ids == ("e-2",)
    publisher.publish([Event("e-2")])  # the line did reach the file before fsync failed
    assert [json.loads(e["Detail"])["event_id"] for e in lines(path)] == ["e-1", "e-2"]


# --- EventBridge ------------------------------------------------------------------------------------


@pytest.fixture
def bus_to_queue(s3_server_url: str) -> tuple[str, str]:
    """A fresh event bus whose rule forwards our source's events to a fresh SQS queue."""
    suffix = uuid.uuid4().hex[:10]
    events = boto3.client("events", endpoint_url=s3_server_url, region_name="eu-west-1")
    sqs = boto3.client("sqs", endpoint_url=s3_server_url, region_name="eu-west-1")
    bus = f"bus-{suffix}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"q-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=f"r-{suffix}", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule=f"r-{suffix}", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    return bus, queue_url


def received(s3_server_url: str, queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=s3_server_url, region_name="eu-west-1")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(json.loads(m["Body"]) for m in batch)
    return messages


def test_eventbridge_delivers_every_event_in_batches(
    s3_server_url: str, bus_to_queue: tuple[str, str]
) -> None:
    bus, queue_url = bus_to_queue
    publisher = EventBridgePublisher(
        bus_name=bus, source=SOURCE, base_url=BASE_URL, endpoint_url=s3_server_url
    )
    publisher.publish([Event(f"e-{i:02}") for i in range(23)])  # three PutEvents calls
    delivered = received(s3_server_url, queue_url)
    assert sorted(m["detail"]["event_id"] for m in delivered) == [f"e-{i:02}" for i in range(23)]
    first = delivered[0]
    assert (first["source"], first["detail-type"]) == (SOURCE, "EventDetectionProcessedV1")
    assert first["detail"]["links"]["events"] == "https://ras.example/recordings/rec-001/events"


def test_eventbridge_partial_failure_names_the_failed_events(
    s3_server_url: str, bus_to_queue: tuple[str, str]
) -> None:
    bus, queue_url = bus_to_queue
    publisher = EventBridgePublisher(
        bus_name=bus, source=SOURCE, base_url=BASE_URL, endpoint_url=s3_server_url
    )
    # EventBridge refuses an entry without DetailType; its neighbours in the batch still go through.
    with pytest.raises(PublishError) as caught:
        publisher.publish([Event("ok-1"), Event("bad-1", detail_type=""), Event("ok-2")])
    assert caught.value.failed_event_ids == ("bad-1",)
    assert "InvalidArgument" in caught.value.reason
    assert sorted(m["detail"]["event_id"] for m in received(s3_server_url, queue_url)) == ["ok-1", "ok-2"]


class FlakyEvents:
    """An events client whose second PutEvents call fails outright."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, str]]] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if len(self.calls) == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def test_eventbridge_failed_call_fails_only_its_batch() -> None:
    client = FlakyEvents()
    publisher = EventBridgePublisher(bus_name="bus", source=SOURCE, base_url=BASE_URL, client=client)
    with pytest.raises(PublishError) as caught:
        publisher.publish([Event(f"e-{i:02}") for i in range(25)])
    assert [len(call) for call in client.calls] == [10, 10, 5]
    assert caught.value.failed_event_ids == tuple(f"e-{i:02}" for i in range(10, 20))
    assert "ThrottlingException" in caught.value.reason


def test_build_publisher_follows_settings(tmp_path: Path, s3_server_url: str) -> None:
    file_publisher = build_publisher(Settings(data_dir=tmp_path, api_base_url=BASE_URL))
    assert isinstance(file_publisher, JsonLinesPublisher)
    assert file_publisher.path == (tmp_path / "events.jsonl").absolute()
    bridge = build_publisher(
        Settings(event_publisher="eventbridge", event_bus_name="b", eventbridge_endpoint_url=s3_server_url)
    )
    assert isinstance(bridge, EventBridgePublisher) and bridge.bus_name == "b"
