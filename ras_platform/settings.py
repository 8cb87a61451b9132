"""The one place that decides the environment: embedded (one machine) or production.

Every process (API, Dagster code location, sensors, CLI, simulator wiring) reads its configuration
from `Settings`, which pydantic-settings fills from `RAS_*` environment variables. Embedded defaults
need nothing: SQLite and a local directory under `RAS_DATA_DIR`. Production refuses to start with
the embedded default tokens.
"""

from __future__ import annotations

import os
from dataclasses import fields
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ras_core.lifecycle import RetryPolicy
from ras_core.quality import QualityThresholds

EMBEDDED_ZOLA_TOKEN = "zola-dev-token"
EMBEDDED_EMA_TOKEN = "ema-dev-token"
EMBEDDED_SIGNING_KEY = "embedded-signing-key"
MIN_SECRET_BYTES = 32  # production tokens and signing key
# Runs the embedded Dagster instance runs at once (ras_platform/stack.py writes its dagster.yaml).
EMBEDDED_MAX_CONCURRENT_RUNS = 6


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAS_", extra="ignore")

    profile: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".ras")

    # Platform tables (registry, change log, projection, inbox, outbox); any SQLAlchemy URL.
    database_url: str | None = None

    # Object store: a local directory (embedded) or an S3 bucket (production).
    object_store: Literal["local", "s3"] = "local"
    s3_bucket: str = "recording-analytics"
    s3_endpoint_url: str | None = None  # a local S3-compatible server in tests
    aws_region: str = "eu-west-1"

    # Domain events: JSON lines file (embedded) or EventBridge (production).
    event_publisher: Literal["file", "eventbridge"] = "file"
    event_bus_name: str = "default"
    event_source: str = "recording-analytics"
    eventbridge_endpoint_url: str | None = None

    # The delivery + callback API, as EMA and clients reach it (callback and presigned URLs).
    api_base_url: str = "http://127.0.0.1:8080"
    # API worker processes (`python -m ras_api`); unset: one per CPU this process may run on. Each
    # worker holds its own application cache. In a container limited to fewer CPUs than the node
    # has, set it to the limit.
    api_workers: int | None = None
    # The API applies a callback and launches its import run right after the 202 (the callback
    # sensor remains the safety net); off, callbacks wait for the sensor's tick. Benchmarks compare.
    callback_fast_path: bool = True
    # How long the fast path waits before applying, so callbacks of one recording that arrive
    # together (a wave of EMA jobs finishing at once) share one import run; the sensor grouped them
    # per 5-s tick. Each second here is a second more from callback to import run.
    callback_fast_path_delay_s: float = 0.5
    # The fast path launches only while fewer Dagster runs (of any kind) than this are queued or
    # under way, i.e. while its run would start at once: past it the callbacks are still applied,
    # and the import waits in the state store for the callback sensor, where it picks up the
    # recording's outputs that become ready meanwhile (bench `throughput`: runs per recording). Set
    # it to the run coordinator's `max_concurrent_runs` (40 in deploy/dagster.production.yaml).
    callback_fast_path_max_active_runs: int = EMBEDDED_MAX_CONCURRENT_RUNS
    # The callback sensor keeps at most this many import runs queued or under way; the other waiting
    # imports stay in the state store. Only import runs count, so runs of other kinds waiting in the
    # queue cannot hold imports back. Set it to how many import runs the instance runs at once:
    # `max_concurrent_runs` embedded (6), the `ras/kind: import` tag limit in production (20).
    max_active_import_runs: int = EMBEDDED_MAX_CONCURRENT_RUNS
    # Dagster's webserver, for launching runs through its GraphQL API.
    dagster_url: str = "http://127.0.0.1:3000"
    dagster_location_name: str = "ras"

    ema_base_url: str = "http://127.0.0.1:8090"
    ema_api_key: str = "ema-dev-api-key"
    ema_max_attempts: int = 3  # automatic re-triggers of a failed EMA job, counting the first
    # How long a trigger (or a platform job's run) may take before dispatch asks again. Raise it
    # when runs wait long in the queue (ECS): a re-trigger is harmless but wasted work.
    ema_trigger_timeout_s: float = 90.0
    # Backoff before an automatic retry of a transient failure; doubles per attempt, capped at 300 s.
    retry_backoff_s: float = 2.0

    zola_token: str = EMBEDDED_ZOLA_TOKEN
    ema_token: str = EMBEDDED_EMA_TOKEN
    signing_key: str = EMBEDDED_SIGNING_KEY  # HMAC key of local presigned URLs

    # Video uploads (contracts.md): the part size offered to clients (S3's smallest part is 5 MiB;
    # the local store takes any size) and how long an upload may take before its parts are removed.
    upload_part_size: int = 8 * 1024 * 1024
    upload_expiry_s: float = 24 * 3600.0

    # Alerts (contracts.md, "Alerts"): a Slack-compatible webhook; unset, nothing is sent (the
    # failures still show in /metrics and in the domain events). The failure-rate alert fires when
    # over `threshold` of the job attempts that ended in the window failed, and at least
    # `min_attempts` ended.
    alert_webhook_url: str | None = None
    alert_failure_rate_threshold: float = 0.2
    alert_failure_rate_window_s: float = 1800.0
    alert_failure_rate_min_attempts: int = 10

    # Where a data-quality figure becomes a warning, never a failure (ras_core.quality):
    # RAS_QUALITY_MIN_PLAYER_FRAME_COVERAGE=0.6 and so on.
    quality_min_player_frame_coverage: float = QualityThresholds.min_player_frame_coverage
    quality_min_ball_frame_coverage: float = QualityThresholds.min_ball_frame_coverage
    quality_max_player_off_pitch_share: float = QualityThresholds.max_player_off_pitch_share
    quality_max_ball_off_pitch_share: float = QualityThresholds.max_ball_off_pitch_share
    quality_min_players_per_side: int = QualityThresholds.min_players_per_side
    quality_max_players_per_side: int = QualityThresholds.max_players_per_side
    quality_min_jersey_coverage: float = QualityThresholds.min_jersey_coverage

    # Request bodies over these are refused with 413 before they are parsed: JSON API bodies, and
    # uploads through local presigned URLs (S3 takes at most 5 GiB in one PUT too).
    api_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    object_max_body_bytes: int = Field(default=5 * 1024**3, gt=0)

    # The analytics marts rebuild by themselves after processed data changed, at most every
    # `MARTS_REFRESH_CRON` tick (ras_assets/marts.py); off, they are built only on demand (UI, CLI).
    # Each build is one dbt run over every recording, whatever changed.
    marts_automation: bool = True

    # Level of the API's JSON log lines (ras_platform/logs.py); INFO logs one line per request.
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.profile == "production":
            defaults = {
                "RAS_ZOLA_TOKEN": self.zola_token == EMBEDDED_ZOLA_TOKEN,
                "RAS_EMA_TOKEN": self.ema_token == EMBEDDED_EMA_TOKEN,
                "RAS_SIGNING_KEY": self.signing_key == EMBEDDED_SIGNING_KEY,
            }
            unset = [name for name, is_default in defaults.items() if is_default]
            if unset:
                raise ValueError(f"production profile refuses the embedded default for {', '.join(unset)}")
            # An empty key still signs URLs, and a short token can be guessed: 32 bytes or more.
            short = [
                name
                for name, secret in (
                    ("RAS_ZOLA_TOKEN", self.zola_token),
                    ("RAS_EMA_TOKEN", self.ema_token),
                    ("RAS_SIGNING_KEY", self.signing_key),
                )
                if len(secret.strip().encode()) < MIN_SECRET_BYTES
            ]
            if short:
                raise ValueError(
                    f"production profile needs at least {MIN_SECRET_BYTES} bytes in {', '.join(short)}"
                )
            if self.database_url is None:
                raise ValueError("production profile needs RAS_DATABASE_URL (PostgreSQL)")
            if self.object_store == "local":
                # The local store lives on one machine's disk and serves its own presigned URLs.
                raise ValueError("production profile needs RAS_OBJECT_STORE=s3, not the local object store")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ras.sqlite').absolute()}"

    @property
    def api_worker_count(self) -> int:
        return self.api_workers or len(os.sched_getaffinity(0))

    @property
    def objects_dir(self) -> Path:
        return (self.data_dir / "objects").absolute()

    @property
    def events_file(self) -> Path:
        return (self.data_dir / "events.jsonl").absolute()

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.ema_max_attempts, backoff_s=self.retry_backoff_s)


def get_settings() -> Settings:
    return Settings()


def quality_thresholds(settings: Settings) -> QualityThresholds:
    """The `RAS_QUALITY_*` settings."""
    return QualityThresholds(
        **{f.name: getattr(settings, f"quality_{f.name}") for f in fields(QualityThresholds)}
    )
