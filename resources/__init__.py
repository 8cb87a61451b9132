"""Dagster resources: the platform's parts, as assets and sensors ask for them.

Each resource takes its part from the one composition root (`ras_platform.platform.platform_for`),
so backends are configured by `Settings` alone (the `RAS_*` environment) and every process caches
them the same way. `settings` overrides `Settings` fields by name, as strings (tests point the
resources at a temporary database and directory); the code location passes none, so the Dagster UI
shows no secrets.
"""

from dagster import ConfigurableResource
from pydantic import ConfigDict, Field

from ras_core.alerts import FailureRatePolicy
from ras_core.quality import QualityThresholds
from ras_platform.alerts import WebhookAlerter
from ras_platform.ema_client import EmaClient
from ras_platform.lifecycle import Lifecycle
from ras_platform.object_store import ObjectStore
from ras_platform.platform import Platform, platform_for
from ras_platform.publishers import Publisher
from ras_platform.state_store import StateStore
from ras_platform.uploads import Uploads, uploads_of


class _PlatformPart(ConfigurableResource):
    # A backend option given as a field of its own would be ignored silently: refuse it.
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, str] = Field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        return platform_for(self.settings)


class StateStoreResource(_PlatformPart):
    """Registry, job states, change log, callback inbox and outbox (SQLite or PostgreSQL)."""

    @property
    def store(self) -> StateStore:
        return self.platform.state_store

    @property
    def lifecycle(self) -> Lifecycle:
        """Every decision about a job (`ras_platform.lifecycle`), over this platform's stores."""
        return self.platform.lifecycle


class ObjectStoreResource(_PlatformPart):
    """Raw and processed files: a local directory (embedded) or an S3 bucket (production)."""

    @property
    def store(self) -> ObjectStore:
        return self.platform.object_store


class EmaResource(_PlatformPart):
    """EMA's v2/v3 API (the bundled simulator when embedded) and the retry policy around it."""

    @property
    def client(self) -> EmaClient:
        return self.platform.ema

    @property
    def max_attempts(self) -> int:
        """Automatic re-triggers of a failed job, counting the first."""
        return self.platform.settings.ema_max_attempts

    @property
    def api_base_url(self) -> str:
        """Where EMA reaches our callback endpoint."""
        return self.platform.settings.api_base_url

    @property
    def trigger_timeout_s(self) -> float:
        """A job left scheduled with no EMA job id, or a platform job left running, this long lost its
        run: dispatch asks again (EMA dedupes on the Idempotency-Key)."""
        return self.platform.settings.ema_trigger_timeout_s


class EventPublisherResource(_PlatformPart):
    """Domain events: a JSON lines file (embedded) or EventBridge (production)."""

    @property
    def publisher(self) -> Publisher:
        return self.platform.publisher


class UploadsResource(_PlatformPart):
    """How video uploads are cut and how long they may take (`RAS_UPLOAD_*`)."""

    def over(self, objects: ObjectStore) -> Uploads:
        return uploads_of(objects, self.platform.settings)


class QualityResource(_PlatformPart):
    """Where an import's quality figures become warnings (`RAS_QUALITY_*`)."""

    @property
    def thresholds(self) -> QualityThresholds:
        return self.platform.quality_thresholds


class AlertsResource(_PlatformPart):
    """The alert webhook (`RAS_ALERT_WEBHOOK_URL`, none = no alerts sent) and the failure-rate policy."""

    @property
    def alerter(self) -> WebhookAlerter | None:
        return self.platform.alerter

    @property
    def policy(self) -> FailureRatePolicy:
        return self.platform.failure_rate_policy

    @property
    def api_base_url(self) -> str:
        """Links in alerts."""
        return self.platform.settings.api_base_url

    @property
    def dagster_url(self) -> str:
        return self.platform.settings.dagster_url


class FfmpegResource(ConfigurableResource):
    """ffmpeg for cutting training clips: the binary bundled by imageio-ffmpeg unless `executable`
    names another (a wrapper, a system build)."""

    executable: str = ""
    clip_timeout_s: float = 120.0  # one clip; a stuck ffmpeg fails that clip, not the run
    max_parallel: int = 0  # clips cut at once; 0 = one per core this process may use


def platform_resources(settings: dict[str, str] | None = None) -> dict[str, ConfigurableResource]:
    """Every resource the code location binds, all on the same platform."""
    overrides = settings or {}
    platform_for(overrides)  # settings are checked now: bad ones fail the code location's load
    return {
        "state_store": StateStoreResource(settings=overrides),
        "object_store": ObjectStoreResource(settings=overrides),
        "ema": EmaResource(settings=overrides),
        "event_publisher": EventPublisherResource(settings=overrides),
        "alerts": AlertsResource(settings=overrides),
        "uploads": UploadsResource(settings=overrides),
        "quality": QualityResource(settings=overrides),
        "ffmpeg": FfmpegResource(),
    }
