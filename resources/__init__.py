"""Dagster resources: thin ConfigurableResource wrappers around the platform's adapters.

Adapters are cached per configuration in the process: the Dagster code server evaluates sensors
every few seconds, and a new SQLAlchemy engine (plus its migration check) per tick would cost more
than the tick's work.
"""

from functools import cache
from pathlib import Path

from dagster import ConfigurableResource

from ras_platform.ema_client import EmaClient
from ras_platform.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from ras_platform.publishers import EventBridgePublisher, JsonLinesPublisher, Publisher
from ras_platform.settings import Settings
from ras_platform.state_store import StateStore


@cache
def _state_store(url: str) -> StateStore:
    return StateStore(url)


class StateStoreResource(ConfigurableResource):
    """Registry, job states, change log, callback inbox and outbox (SQLite or PostgreSQL)."""

    database_url: str

    @property
    def store(self) -> StateStore:
        return _state_store(self.database_url)


@cache
def _object_store(
    kind: str, root: str, base_url: str, signing_key: str, bucket: str, endpoint_url: str | None, region: str
) -> ObjectStore:
    if kind == "s3":
        return S3ObjectStore(bucket, endpoint_url=endpoint_url, region=region)
    return LocalObjectStore(Path(root), base_url=base_url, signing_key=signing_key)


class ObjectStoreResource(ConfigurableResource):
    """Raw and processed files: a local directory (embedded) or an S3 bucket (production)."""

    kind: str = "local"
    root: str = ""
    base_url: str = ""
    signing_key: str = ""
    bucket: str = ""
    endpoint_url: str | None = None
    region: str = "eu-west-1"

    @property
    def store(self) -> ObjectStore:
        return _object_store(
            self.kind, self.root, self.base_url, self.signing_key, self.bucket, self.endpoint_url, self.region
        )


class EmaResource(ConfigurableResource):
    """EMA's v2/v3 API (the bundled simulator when embedded)."""

    base_url: str
    api_key: str
    max_attempts: int = 3  # automatic re-triggers of a failed job, counting the first
    api_base_url: str  # where EMA reaches our callback endpoint

    @property
    def client(self) -> EmaClient:
        return EmaClient(self.base_url, self.api_key)


class EventPublisherResource(ConfigurableResource):
    """Domain events: a JSON lines file (embedded) or EventBridge (production)."""

    kind: str = "file"
    path: str = ""
    source: str = "recording-analytics"
    base_url: str = ""
    bus_name: str = "default"
    endpoint_url: str | None = None
    region: str = "eu-west-1"

    @property
    def publisher(self) -> Publisher:
        return _publisher(
            self.kind, self.path, self.source, self.base_url, self.bus_name, self.endpoint_url, self.region
        )


@cache
def _publisher(
    kind: str, path: str, source: str, base_url: str, bus_name: str, endpoint_url: str | None, region: str
) -> Publisher:
    if kind == "eventbridge":
        return EventBridgePublisher(
            bus_name=bus_name, source=source, base_url=base_url, endpoint_url=endpoint_url, region=region
        )
    return JsonLinesPublisher(Path(path), source=source, base_url=base_url)


def resources_from_settings(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "state_store": StateStoreResource(database_url=settings.resolved_database_url),
        "object_store": ObjectStoreResource(
            kind=settings.object_store,
            root=str(settings.objects_dir),
            base_url=settings.api_base_url,
            signing_key=settings.signing_key,
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
        ),
        "ema": EmaResource(
            base_url=settings.ema_base_url,
            api_key=settings.ema_api_key,
            max_attempts=settings.ema_max_attempts,
            api_base_url=settings.api_base_url,
        ),
        "event_publisher": EventPublisherResource(
            kind=settings.event_publisher,
            path=str(settings.events_file),
            source=settings.event_source,
            base_url=settings.api_base_url,
            bus_name=settings.event_bus_name,
            endpoint_url=settings.eventbridge_endpoint_url,
            region=settings.aws_region,
        ),
    }
