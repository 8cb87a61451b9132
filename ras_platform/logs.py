"""Structured logs: one JSON object per line, with the recording, job type, attempt and Dagster run
on every line (null where a line concerns none), and no terminal colour codes.

- The API configures it at start (`configure_logging`) and binds the recording of each request.
- Dagster runs write through the instance's `python_logs` handler (`dagster_python_logs`): the
  formatter reads the run id and the run's tags (`ras/recording`, the partition) from the record
  Dagster attaches, and the job type from the asset a step materializes.
- Code anywhere binds more with `log_context(job_type=..., attempt=...)` (contextvars, so it follows a
  request into the threadpool and does not leak between threads).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = ("recording_id", "job_type", "attempt", "run_id")
_bound: ContextVar[Mapping[str, Any] | None] = ContextVar("ras_log_context", default=None)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields to every log line written inside the block (in this thread or task)."""
    token = _bound.set({**(_bound.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def _job_type_of_step(step_key: str | None) -> str | None:
    if not step_key:
        return None
    from ras_core import catalogue

    asset = step_key.split(".")[-1]
    for out in catalogue.PROCESSED_OUTPUTS:
        if out.name == asset:
            return catalogue.job_of_processed(out.name).name
    return None


def _from_dagster(record: logging.LogRecord) -> tuple[dict[str, Any], str | None]:
    """Fields from the metadata Dagster puts on the records of a run, and the plain message."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, Mapping):
        return {}, None
    tags = meta.get("job_tags") or {}
    fields = {
        "run_id": meta.get("run_id"),
        "recording_id": tags.get("ras/recording") or tags.get("dagster/partition"),
        "job_type": _job_type_of_step(meta.get("step_key")),
        "dagster_job": meta.get("job_name"),
        "step": meta.get("step_key"),
    }
    return {k: v for k, v in fields.items() if v is not None}, meta.get("orig_message")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the four `FIELDS` and any bound or
    `extra` fields. Colour codes some libraries embed in messages are stripped."""

    def format(self, record: logging.LogRecord) -> str:
        dagster_fields, dagster_message = _from_dagster(record)
        message = dagster_message if dagster_message is not None else record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _ANSI.sub("", message),
            **dict.fromkeys(FIELDS),
            **dagster_fields,
            **(_bound.get() or {}),
            **getattr(record, "ras", {}),
        }
        if record.exc_info:
            entry["exception"] = _ANSI.sub("", self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for this process: the root logger and uvicorn's (whose access log is
    replaced by the API's own request lines, which carry the recording)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; the API's own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def dagster_python_logs(level: str = "INFO", *, path: str | None = None) -> dict[str, Any]:
    """The `python_logs` section of a Dagster instance: every run's log lines as JSON, appended to
    `path` (one file for all runs on a machine) or written to the run worker's stderr (a container,
    whose stderr is collected). Dagster's own console lines stay as they are, without colour codes
    outside a terminal."""
    target = (
        {"class": "logging.FileHandler", "filename": path}
        if path
        else {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    )
    return {
        "python_log_level": level.upper(),
        "dagster_handler_config": {
            "handlers": {"ras_json": {**target, "level": level.upper(), "formatter": "ras_json"}},
            "formatters": {"ras_json": {"()": "ras_platform.logs.JsonFormatter"}},
        },
    }
