"""The composition root: the platform's parts built once from `Settings`, for every process.

The API and the CLI hold a `Platform`; the Dagster resources (`resources/`) take their parts from
`platform_for`, so a backend's configuration is spelled once, as `Settings` fields, and every process
caches its engines and clients the same way: one per `Platform`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import cache, cached_property

from ras_core.alerts import FailureRatePolicy
from ras_core.quality import QualityThresholds
from ras_platform.alerts import WebhookAlerter
from ras_platform.callback_fast_path import CallbackFastPath
from ras_platform.dagster_client import DagsterClient
from ras_platform.ema_client import EmaClient
from ras_platform.lifecycle import Lifecycle
from ras_platform.object_store import ObjectStore, build_object_store
from ras_platform.publishers import Publisher, build_publisher
from ras_platform.settings import Settings, quality_thresholds
from ras_platform.state_store import StateStore
from ras_platform.uploads import Uploads, uploads_of


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def state_store(self) -> StateStore:
        return StateStore(self.settings.resolved_database_url)

    @cached_property
    def object_store(self) -> ObjectStore:
        return build_object_store(self.settings)

    @cached_property
    def publisher(self) -> Publisher:
        return build_publisher(self.settings)

    @cached_property
    def dagster(self) -> DagsterClient:
        return DagsterClient(self.settings.dagster_url, self.settings.dagster_location_name)

    @cached_property
    def ema(self) -> EmaClient:
        return EmaClient(self.settings.ema_base_url, self.settings.ema_api_key)

    @cached_property
    def uploads(self) -> Uploads:
        return uploads_of(self.object_store, self.settings)

    @cached_property
    def alerter(self) -> WebhookAlerter | None:
        """None when no alert webhook is configured: alerts are then only logged."""
        url = self.settings.alert_webhook_url
        return WebhookAlerter(url) if url else None

    @cached_property
    def quality_thresholds(self) -> QualityThresholds:
        return quality_thresholds(self.settings)

    @cached_property
    def failure_rate_policy(self) -> FailureRatePolicy:
        return FailureRatePolicy(
            threshold=self.settings.alert_failure_rate_threshold,
            window=timedelta(seconds=self.settings.alert_failure_rate_window_s),
            min_attempts=self.settings.alert_failure_rate_min_attempts,
        )

    @cached_property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.state_store, self.object_store, self.settings.retry_policy)

    @cached_property
    def callback_fast_path(self) -> CallbackFastPath:
        return CallbackFastPath(
            self.lifecycle, self.dagster, max_active_runs=self.settings.callback_fast_path_max_active_runs
        )


def platform_for(overrides: Mapping[str, str] | None = None) -> Platform:
    """This process's platform for the environment's settings with `overrides` (by `Settings` field
    name) on top, built once: the Dagster code server evaluates sensors every few seconds, and a new
    SQLAlchemy engine (plus its migration check) per tick would cost more than the tick's work."""
    return _platform(frozenset((overrides or {}).items()))


@cache
def _platform(overrides: frozenset[tuple[str, str]]) -> Platform:
    return Platform(Settings(**dict(overrides)))
