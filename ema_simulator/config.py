"""The simulator's knobs: one dataclass, read from EMA_SIM_* environment variables and CLI flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ema_simulator.synthetic import TRACKING_VARIANTS, recording_seed

ENV_PREFIX = "EMA_SIM_"


@dataclass(frozen=True)
class SimulatorConfig:
    # Total time a job takes from scheduled to its last callback; 0 = as fast as possible.
    job_duration_s: float = 2.0
    # Each job takes up to this much longer, drawn per job from the seeded RNG: with a fixed duration
    # every callback arrives at the same phase of the platform's 5 s sensor loop.
    job_duration_jitter_s: float = 0.0
    failure_rate: float = 0.0  # probability that a job attempt fails
    # Job kinds whose first attempt (the first Idempotency-Key seen for a recording and kind) fails once.
    fail_first_attempt: tuple[str, ...] = ()
    duplicate_rate: float = 0.0  # probability that a callback is sent twice
    out_of_order_rate: float = 0.0  # probability that a job sends one callback out of order
    stale_rate: float = 0.0  # probability that a job also sends a callback for a made-up old job id
    malformed_rate: float = 0.0  # probability that a job uploads a malformed file for one result
    malformed_kinds: tuple[str, ...] = ()  # job kinds the malformed knob applies to; empty = all
    # Recordings whose every job attempt (of the malformed kinds) uploads a malformed file.
    malformed_recordings: tuple[str, ...] = ()
    transient_trigger_failures: int = 0  # the first N trigger attempts per Idempotency-Key answer 503
    early_callback: bool = False  # send `scheduled` before the trigger request returns
    seed: int = 0
    api_key: str = "ema-dev-key"
    callback_token: str = "ema-dev-token"
    tracking_variant: str = "v3"  # tracking CSV header version uploaded: v3 or v2
    # Broadcast-like data (camera gaps, ball out of play, events without position; see
    # ema_simulator/synthetic.py) for these recordings, and for this share of the others (drawn from
    # the recording id, so a recording gets the same mode on every attempt and every run).
    broadcast_recordings: tuple[str, ...] = ()
    broadcast_rate: float = 0.0
    callback_retries: int = 5  # on connection errors and 5xx (the platform's API may be restarting)
    retry_backoff_s: float = 0.2  # first wait; doubles per retry
    # Callbacks and uploads in flight at once; the rest wait their turn. With thousands of jobs
    # running, an unbounded burst queued in httpx's connection pool, whose assignment of queued
    # requests to connections is quadratic: the simulator spent 90% of its CPU there, its own
    # requests timed out waiting for a connection, and it answered triggers in tens of seconds.
    max_outbound_requests: int = 32

    def __post_init__(self) -> None:
        rates = ("failure", "duplicate", "out_of_order", "stale", "malformed", "broadcast")
        for name in (f"{rate}_rate" for rate in rates):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.tracking_variant not in TRACKING_VARIANTS:
            raise ValueError(f"tracking_variant must be one of {TRACKING_VARIANTS}")
        if self.max_outbound_requests < 1:
            raise ValueError(f"max_outbound_requests must be >= 1, got {self.max_outbound_requests}")
        if min(self.job_duration_s, self.job_duration_jitter_s, self.transient_trigger_failures) < 0:
            raise ValueError(
                "job_duration_s, job_duration_jitter_s and transient_trigger_failures must be >= 0"
            )


    def is_broadcast(self, recording_id: str) -> bool:
        if recording_id in self.broadcast_recordings:
            return True
        return recording_seed(recording_id) % 1000 < self.broadcast_rate * 1000


def _convert(kind: str, text: str) -> Any:
    if kind == "bool":
        return text.strip().lower() in ("1", "true", "yes", "on")
    if kind == "tuple[str, ...]":
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return {"float": float, "int": int, "str": str}[kind](text)


def config_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> SimulatorConfig:
    """EMA_SIM_<FIELD> variables (lists comma separated), then explicit overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(SimulatorConfig):
        raw = environ.get(ENV_PREFIX + field.name.upper())
        if raw is not None:
            values[field.name] = _convert(str(field.type), raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SimulatorConfig(**values)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --flag per field; unset flags fall back to the environment, then the defaults."""
    for field in fields(SimulatorConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = str(field.type)
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif kind == "tuple[str, ...]":
            parser.add_argument(
                flag, type=lambda s: _convert("tuple[str, ...]", s), default=None, help="comma separated"
            )
        else:
            parser.add_argument(flag, type={"float": float, "int": int, "str": str}[kind], default=None)


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> SimulatorConfig:
    names = {field.name for field in fields(SimulatorConfig)}
    return config_from_env(environ, **{k: v for k, v in vars(args).items() if k in names})


def describe(config: SimulatorConfig) -> dict[str, Any]:
    """The knobs without the secrets, for /health and the start-up log."""
    secret = {"api_key", "callback_token"}
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name not in secret}


__all__: Sequence[str] = ("SimulatorConfig", "add_config_arguments", "config_from_args", "config_from_env")
