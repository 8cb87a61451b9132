"""Dagster's queued run coordinator with a fast lane: a run a user is waiting on starts when it is
submitted, instead of at the daemon's next dequeue, whenever the queue would have started it anyway.

Every run still goes through `QueuedRunCoordinator`'s limits. The import run the callback fast path
launches (tagged `ras/lane: fast`) skips only the wait: the daemon dequeues every 1-2 s and launches
one batch at a time, which was most of a callback's time to its import run (bench `latency`: p95 2.4
of 3.6 s in the queue). It is launched at once only when launching it leaves every limit met: the
runs not finished (queued, not yet started or under way, this one included) are within
`max_concurrent_runs`, and within each tag concurrency limit that applies to it. Counting queued runs
keeps the queue's order: a fast-lane run never overtakes a run already waiting for a slot. Otherwise
it is queued like any other run.

Dagster's UI and GraphQL API submit runs from the webserver, so with this coordinator the webserver
launches fast-lane runs itself, with the instance's run launcher: on ECS its task role needs the
daemon's `ecs:RunTask` and `iam:PassRole` (docs/deployment.md).

The count is read before the launch, so two processes launching at the same moment (the webserver's
fast lane and the daemon's dequeue) can together exceed a limit by the runs they launch in that
moment; the queue's own dequeue has the same window between its threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field, RunsFilter, Shape
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, DagsterRun, DagsterRunStatus
from dagster._serdes import ConfigurableClassData

from ras_platform.dagster_client import FAST_LANE, FAST_LANE_TAG


class FastLaneRunCoordinator(QueuedRunCoordinator):
    """`QueuedRunCoordinator` that launches runs tagged `fast_lane` at once while the queue's
    limits allow it (see the module's docstring)."""

    def __init__(self, fast_lane: Mapping[str, str] | None = None, **queue_config: Any) -> None:
        super().__init__(**queue_config)
        lane = fast_lane or {"key": FAST_LANE_TAG, "value": FAST_LANE}
        self._fast_lane = (lane["key"], lane["value"])

    @classmethod
    def config_type(cls) -> dict:
        return {
            **QueuedRunCoordinator.config_type(),
            "fast_lane": Field(
                Shape({"key": str, "value": str}),
                is_required=False,
                description=f"The run tag of the runs launched at once when the limits allow "
                f"(default {FAST_LANE_TAG}: {FAST_LANE}).",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Any:
        queue_config = {key: value for key, value in config_value.items() if key != "fast_lane"}
        coordinator = super().from_config_value(inst_data, queue_config)
        if lane := config_value.get("fast_lane"):
            coordinator._fast_lane = (lane["key"], lane["value"])
        return coordinator

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if (
            run.status == DagsterRunStatus.NOT_STARTED
            and self.in_fast_lane(run)
            and self.would_start_now(run)
        ):
            self._instance.launch_run(run.run_id, context.workspace)
            launched = self._instance.get_run_by_id(run.run_id)
            assert launched is not None
            return launched
        return super().submit_run(context)

    def in_fast_lane(self, run: DagsterRun) -> bool:
        key, value = self._fast_lane
        return run.tags.get(key) == value

    def would_start_now(self, run: DagsterRun) -> bool:
        """Whether launching `run` (created, not yet submitted) keeps every limit of the queue,
        counting the runs queued before it as if they were started first."""
        limit = self._max_concurrent_runs
        if limit != -1 and self._not_finished() > limit:
            return False
        for tag_limit in self._tag_concurrency_limits:
            tags = self._tags_counted_by(tag_limit, run)
            if tags is None:
                continue
            if not tags or self._not_finished(tags) > tag_limit["limit"]:
                return False  # a limit the count cannot tell apart: the queue decides
        return True

    def _not_finished(self, tags: Mapping[str, str] | None = None) -> int:
        # This run is among them: it is NOT_STARTED until launched.
        return self._instance.get_runs_count(RunsFilter(statuses=NOT_FINISHED_STATUSES, tags=tags or {}))

    @staticmethod
    def _tags_counted_by(tag_limit: Mapping[str, Any], run: DagsterRun) -> dict[str, str] | None:
        """The tags selecting the runs that `tag_limit` counts together with `run`; None when the
        limit does not apply to `run`, {} when runs cannot be counted by one tag value."""
        key = tag_limit["key"]
        if key not in run.tags:
            return None
        value = tag_limit.get("value")
        if isinstance(value, str):
            return {key: value} if run.tags[key] == value else None
        if isinstance(value, Mapping) and value.get("applyLimitPerUniqueValue"):
            return {key: run.tags[key]}
        return {}  # one limit over every value of the key
