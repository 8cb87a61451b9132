"""Domain events for MES, as EventBridge PutEvents entries: a JSON lines file (embedded) or EventBridge.

The outbox sensor hands a batch of events to `Publisher.publish` and marks them published only
when it returns. A publisher therefore sees re-sends after a crash: the file publisher skips event
ids it already wrote; EventBridge has no deduplication, so MES deduplicates by `detail.event_id`
(at-least-once delivery, exactly-once effect).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ras_platform.settings import Settings

EVENTBRIDGE_BATCH = 10  # PutEvents accepts at most 10 entries per call


class OutboxEventLike(Protocol):
    event_id: str
    detail_type: str
    detail: dict[str, Any]


class PublishError(Exception):
    """Some events were not published; the caller retries exactly `failed_event_ids`."""

    def __init__(self, failed_event_ids: Sequence[str], reason: str) -> None:
        super().__init__(
            f"{len(failed_event_ids)} event(s) not published ({reason}): {', '.join(failed_event_ids)}"
        )
        self.failed_event_ids = tuple(failed_event_ids)
        self.reason = reason


class Publisher(Protocol):
    def publish(self, events: Sequence[OutboxEventLike]) -> None: ...


def put_events_entry(event: OutboxEventLike, *, source: str, base_url: str, bus_name: str) -> dict[str, str]:
    """The PutEvents entry for one event; relative links become absolute URLs under `base_url`."""
    detail = {**event.detail, "event_id": event.event_id}
    if "links" in detail:
        detail["links"] = absolute_links(detail["links"], base_url)
    return {
        "Source": source,
        "DetailType": event.detail_type,
        "Detail": json.dumps(detail, sort_keys=True, separators=(",", ":")),
        "EventBusName": bus_name,
    }


def absolute_links(links: Any, base_url: str) -> Any:
    """Links as MES can follow them: "/recordings/r/events" → "{base_url}/recordings/r/events"."""
    if isinstance(links, str):
        return f"{base_url.rstrip('/')}{links}" if links.startswith("/") else links
    if isinstance(links, dict):
        return {name: absolute_links(link, base_url) for name, link in links.items()}
    if isinstance(links, list):
        return [absolute_links(link, base_url) for link in links]
    return links


class JsonLinesPublisher:
    """Appends one PutEvents entry per line to `path`, each line flushed and fsynced before return.

    Idempotent by event id: the ids already in the file are loaded once, and a re-sent event is
    skipped. One process owns the file (the outbox sensor); the lock covers threads within it.
    """

    def __init__(self, path: Path, *, source: str, base_url: str, bus_name: str = "default") -> None:
        self.path = Path(path)
        self.source = source
        self.base_url = base_url
        self.bus_name = bus_name
        self._lock = threading.Lock()
        self._published: set[str] | None = None

    def publish(self, events: Sequence[OutboxEventLike]) -> None:
        unique = unique_events(events)
        with self._lock:
            try:
                published = self._published_ids()
            except (OSError, ValueError, KeyError, TypeError) as error:
                ids = [e.event_id for e in unique]
                raise PublishError(ids, f"cannot read published ids from {self.path}: {error!r}") from error
            fresh = [event for event in unique if event.event_id not in published]
            if fresh:
                self._append(fresh)
                published.update(event.event_id for event in fresh)

    def _append(self, events: list[OutboxEventLike]) -> None:
        lines = [
            json.dumps(
                put_events_entry(e, source=self.source, base_url=self.base_url, bus_name=self.bus_name)
            )
            + "\n"
            for e in events
        ]
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                out.writelines(lines)
                out.flush()
                os.fsync(out.fileno())
        except OSError as error:
            # Part of the batch may be on disk: reload ids (and cut a torn line) before the retry.
            self._published = None
            raise PublishError(
                [e.event_id for e in events], f"cannot append to {self.path}: {error}"
            ) from error

    def _published_ids(self) -> set[str]:
        if self._published is None:
            self._published = _load_published_ids(self.path)
        return self._published


def _load_published_ids(path: Path) -> set[str]:
    """Event ids in the file, after cutting off a torn last line left by a crash mid-write.

    A torn line was never acknowledged, so its event will be re-sent and written whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return set()
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as torn:
            torn.truncate(len(complete))
    ids = set()
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            ids.add(json.loads(json.loads(line)["Detail"])["event_id"])
    return ids


def unique_events(events: Iterable[OutboxEventLike]) -> list[OutboxEventLike]:
    seen: dict[str, OutboxEventLike] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())


def build_publisher(settings: Settings) -> Publisher:
    """The one place that chooses the backend, from the settings that spell its configuration."""
    if settings.event_publisher == "eventbridge":
        # boto3 costs ~0.3 s to import; embedded processes never need it.
        from ras_platform.eventbridge import EventBridgePublisher

        return EventBridgePublisher(
            bus_name=settings.event_bus_name,
            source=settings.event_source,
            base_url=settings.api_base_url,
            endpoint_url=settings.eventbridge_endpoint_url,
            region=settings.aws_region,
        )
    return JsonLinesPublisher(
        settings.events_file,
        source=settings.event_source,
        base_url=settings.api_base_url,
        bus_name=settings.event_bus_name,
    )
