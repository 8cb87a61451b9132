"""`ras demo --exit-when-done`, run as the README tells a user: every recording completes, the
command exits 0, and it stops the platform only after Dagster's last run has finished."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from ras_core import catalogue

pytestmark = pytest.mark.e2e

RAS = Path(sys.executable).with_name("ras")


def test_demo_exits_zero_after_its_runs_finished(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    command = [str(RAS), "demo", "--recordings", "2", "--duration-s", "30", "--exit-when-done"]
    done = subprocess.run(
        [*command, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 completed, 0 not completed" in done.stdout
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        statuses = [record.dagster_run.status for record in instance.get_run_records()]
    assert statuses, "the demo launched no Dagster run"
    assert set(statuses) == {DagsterRunStatus.SUCCESS}, statuses
    events = (home / "data" / "events.jsonl").read_text().splitlines()
    finished = [line for line in events if f'"{catalogue.ALL_PROCESSED_EVENT}"' in line]
    assert len(finished) == 2, events[-3:]
