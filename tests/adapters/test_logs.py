"""Structured logs (ras_platform/logs.py): JSON lines with recording, job type, attempt and run id."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from dagster import DynamicPartitionsDefinition, asset, instance_for_test, materialize

from ras_platform.logs import FIELDS, JsonFormatter, dagster_python_logs, log_context


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_has_the_four_fields_bound_or_null() -> None:
    logger, stream = _capture()
    logger.info("before")
    with log_context(recording_id="rec-1", job_type="ball-tracking", attempt=2):
        logger.info("inside %s", "the block", extra={"ras": {"status": 202}})
    logger.warning("\x1b[31mred\x1b[0m after")

    before, inside, after = _lines(stream)
    assert {k: before[k] for k in FIELDS} == dict.fromkeys(FIELDS)
    assert inside["recording_id"] == "rec-1" and inside["attempt"] == 2 and inside["run_id"] is None
    assert inside["message"] == "inside the block" and inside["status"] == 202
    assert after["message"] == "red after" and after["level"] == "warning" and after["recording_id"] is None


def test_a_dagster_run_writes_json_lines_with_its_run_and_recording(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    partitions = DynamicPartitionsDefinition(name="recordings")

    @asset(name="ball_tracking", partitions_def=partitions)
    def ball_tracking(context) -> None:  # type: ignore[no-untyped-def]
        context.log.info(f"importing {context.partition_key}")

    with instance_for_test(overrides={"python_logs": dagster_python_logs(path=str(path))}) as instance:
        instance.add_dynamic_partitions("recordings", ["rec-7"])
        result = materialize(
            [ball_tracking], instance=instance, partition_key="rec-7", tags={"ras/recording": "rec-7"}
        )

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    [ours] = [line for line in lines if line["message"] == "importing rec-7"]
    assert ours["run_id"] == result.run_id and ours["recording_id"] == "rec-7"
    assert ours["job_type"] == "ball-tracking" and "attempt" in ours
    assert all(set(FIELDS) <= set(line) for line in lines)
    assert "\x1b" not in path.read_text()


def test_production_instance_logs_runs_the_same_way() -> None:
    import yaml

    production_yaml = Path(__file__).parents[2] / "deploy" / "dagster.production.yaml"
    production = yaml.safe_load(production_yaml.read_text())
    assert production["python_logs"] == dagster_python_logs()
