"""The EventBridge publisher (production); the contract is `ras_platform.publishers`'.

A module of its own so that only processes configured for EventBridge import boto3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ras_platform.publishers import (
    EVENTBRIDGE_BATCH,
    OutboxEventLike,
    PublishError,
    put_events_entry,
    unique_events,
)


class EventBridgePublisher:
    """PutEvents in batches of 10. Every batch is tried; failed entries are collected and raised
    together, so one bad batch does not hold back the others."""

    def __init__(
        self,
        *,
        bus_name: str,
        source: str,
        base_url: str,
        endpoint_url: str | None = None,
        region: str = "eu-west-1",
        client: Any = None,
    ) -> None:
        self.bus_name = bus_name
        self.source = source
        self.base_url = base_url
        self._client = client or boto3.client("events", endpoint_url=endpoint_url, region_name=region)

    def publish(self, events: Sequence[OutboxEventLike]) -> None:
        unique = unique_events(events)
        failed: list[str] = []
        reasons: list[str] = []
        for start in range(0, len(unique), EVENTBRIDGE_BATCH):
            batch = unique[start : start + EVENTBRIDGE_BATCH]
            batch_failed, reason = self._put_batch(batch)
            failed.extend(batch_failed)
            if reason:
                reasons.append(reason)
        if failed:
            raise PublishError(failed, "; ".join(dict.fromkeys(reasons)))

    def _put_batch(self, batch: list[OutboxEventLike]) -> tuple[list[str], str | None]:
        entries = [
            put_events_entry(e, source=self.source, base_url=self.base_url, bus_name=self.bus_name)
            for e in batch
        ]
        try:
            answer = self._client.put_events(Entries=entries)
        except (ClientError, BotoCoreError) as error:
            return [e.event_id for e in batch], str(error)
        if not answer.get("FailedEntryCount"):
            return [], None
        # Result entries are in request order; a failed one has ErrorCode instead of EventId.
        results = answer.get("Entries", [])
        if len(results) != len(batch):
            return [e.event_id for e in batch], f"PutEvents answered {len(results)} entries for {len(batch)}"
        failed = [
            (event.event_id, f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}")
            for event, result in zip(batch, results, strict=True)
            if "ErrorCode" in result or not result.get("EventId")
        ]
        return [event_id for event_id, _ in failed], "; ".join(dict.fromkeys(r for _, r in failed))
