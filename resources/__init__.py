"""Dagster resources: thin ConfigurableResource wrappers around the platform's adapters.

Adapters are cached per configuration in the process: the Dagster code server evaluates sensors
every few seconds, and a new SQLAlchemy engine (plus its migration check) per tick would cost more
than the tick's work.
"""

from dataclasses import asdict, fields
from datetime import timedelta
from functools import cache
from typing import TypeVar

from dagster import ConfigurableResource

from ras_core.alerts import FailureRatePolicy
from ras_core.quality import QualityThresholds
from ras_platform.alerts import WebhookAlerter
from ras_platform.ema_client import EmaClient
from ras_platform.object_store import ObjectStore, ObjectStoreConfig, open_object_store
from ras_platform.publishers import Publisher, PublisherConfig, open_publisher
from ras_platform.settings import Settings, quality_thresholds
from ras_platform.state_store import StateStore
from ras_platform.uploads import Uploads

T = TypeVar("T")


@cache
def _state_store(url: str) -> StateStore:
    return StateStore(url)


class StateStoreResource(ConfigurableResource):
    """Registry, job states, change log, callback inbox and outbox (SQLite or PostgreSQL)."""

    database_url: str

    @property
    def store(self) -> StateStore:
        return _state_store(self.database_url)


def _config_of(resource: ConfigurableResource, config_type: type[T]) -> T:
    """The backend config a resource's fields spell out (Dagster needs them declared on the class)."""
    return config_type(**{f.name: getattr(resource, f.name) for f in fields(config_type)})  # type: ignore[arg-type]


@cache
def _object_store(config: ObjectStoreConfig) -> ObjectStore:
    return open_object_store(config)


class ObjectStoreResource(ConfigurableResource):
    """Raw and processed files: a local directory (embedded) or an S3 bucket (production).
    The fields are `ObjectStoreConfig`'s."""

    kind: str = "local"
    root: str = ""
    base_url: str = ""
    signing_key: str = ""
    bucket: str = ""
    endpoint_url: str | None = None
    region: str = "eu-west-1"

    @property
    def store(self) -> ObjectStore:
        return _object_store(_config_of(self, ObjectStoreConfig))


class EmaResource(ConfigurableResource):
    """EMA's v2/v3 API (the bundled simulator when embedded)."""

    base_url: str
    api_key: str
    max_attempts: int = 3  # automatic re-triggers of a failed job, counting the first
    api_base_url: str  # where EMA reaches our callback endpoint
    # A job left scheduled with no EMA job id, or a platform job left running, this long lost its
    # run: dispatch asks again (EMA dedupes on the Idempotency-Key).
    trigger_timeout_s: float = 90.0

    @property
    def client(self) -> EmaClient:
        return EmaClient(self.base_url, self.api_key)


class EventPublisherResource(ConfigurableResource):
    """Domain events: a JSON lines file (embedded) or EventBridge (production).
    The fields are `PublisherConfig`'s."""

    kind: str = "file"
    path: str = ""
    source: str = "recording-analytics"
    base_url: str = ""
    bus_name: str = "default"
    endpoint_url: str | None = None
    region: str = "eu-west-1"

    @property
    def publisher(self) -> Publisher:
        return _publisher(_config_of(self, PublisherConfig))


@cache
def _publisher(config: PublisherConfig) -> Publisher:
    return open_publisher(config)


class UploadsResource(ConfigurableResource):
    """How video uploads are cut and how long they may take (`RAS_UPLOAD_*`)."""

    part_size: int = 8 * 1024 * 1024
    expiry_s: float = 24 * 3600.0

    def over(self, objects: ObjectStore) -> Uploads:
        return Uploads(objects, self.part_size, timedelta(seconds=self.expiry_s))


class QualityResource(ConfigurableResource):
    """Where an import's quality figures become warnings (`RAS_QUALITY_*`); the fields are
    `ras_core.checks.QualityThresholds`', with its defaults."""

    min_player_frame_coverage: float = QualityThresholds.min_player_frame_coverage
    min_ball_frame_coverage: float = QualityThresholds.min_ball_frame_coverage
    max_player_off_pitch_share: float = QualityThresholds.max_player_off_pitch_share
    max_ball_off_pitch_share: float = QualityThresholds.max_ball_off_pitch_share
    min_players_per_side: int = QualityThresholds.min_players_per_side
    max_players_per_side: int = QualityThresholds.max_players_per_side
    min_jersey_coverage: float = QualityThresholds.min_jersey_coverage

    @property
    def thresholds(self) -> QualityThresholds:
        return _config_of(self, QualityThresholds)


def resources_from_settings(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "state_store": StateStoreResource(database_url=settings.resolved_database_url),
        "object_store": ObjectStoreResource(**asdict(ObjectStoreConfig.from_settings(settings))),
        "ema": EmaResource(
            base_url=settings.ema_base_url,
            api_key=settings.ema_api_key,
            max_attempts=settings.ema_max_attempts,
            api_base_url=settings.api_base_url,
            trigger_timeout_s=settings.ema_trigger_timeout_s,
        ),
        "event_publisher": EventPublisherResource(**asdict(PublisherConfig.from_settings(settings))),
        "alerts": AlertsResource.from_settings(settings),
        "uploads": UploadsResource(part_size=settings.upload_part_size, expiry_s=settings.upload_expiry_s),
        "quality": QualityResource(**asdict(quality_thresholds(settings))),
    }


class AlertsResource(ConfigurableResource):
    """The alert webhook (`RAS_ALERT_WEBHOOK_URL`, none = no alerts sent) and the failure-rate policy."""

    webhook_url: str | None = None
    api_base_url: str = ""  # links in alerts
    dagster_url: str = ""
    failure_rate_threshold: float = 0.2
    failure_rate_window_s: float = 1800.0
    failure_rate_min_attempts: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertsResource":
        return cls(
            webhook_url=settings.alert_webhook_url,
            api_base_url=settings.api_base_url,
            dagster_url=settings.dagster_url,
            failure_rate_threshold=settings.alert_failure_rate_threshold,
            failure_rate_window_s=settings.alert_failure_rate_window_s,
            failure_rate_min_attempts=settings.alert_failure_rate_min_attempts,
        )

    @property
    def alerter(self) -> WebhookAlerter | None:
        return WebhookAlerter(self.webhook_url) if self.webhook_url else None

    @property
    def policy(self) -> FailureRatePolicy:
        return FailureRatePolicy(
            threshold=self.failure_rate_threshold,
            window=timedelta(seconds=self.failure_rate_window_s),
            min_attempts=self.failure_rate_min_attempts,
        )
