"""The platform's adapters built once from `Settings`, for the API and the CLI."""

from __future__ import annotations

from functools import cached_property

from ras_platform.dagster_client import DagsterClient
from ras_platform.ema_client import EmaClient
from ras_platform.object_store import ObjectStore, build_object_store
from ras_platform.publishers import Publisher, build_publisher
from ras_platform.settings import Settings
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
