"""The bounded chaos run of docs/chaos.md, on the production profile: 20 short recordings under every
simulator fault, the Dagster daemon and the API each killed with SIGKILL (and restarted) twice, and
poison callbacks (NUL, huge, nested) among the normal ones, with rows past the edge quarantined."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PostgresServer, _admin_url

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

RECORDINGS = 20
KILLS_PER_PROCESS = 2
POISON = 50
POISON_LINE = re.compile(
    r"poison: sent (?P<sent>\d+) .*injected (?P<injected>\d+) rows past the edge, quarantined "
    r"(?P<quarantined>\d+) .*stale by then (?P<stale>\d+); problems (?P<problems>\d+)"
)
LAST_LINE = re.compile(
    r"recordings=(?P<recordings>\d+) completed=(?P<completed>\d+) failed=(?P<failed>\d+) "
    r"lost=(?P<lost>\d+) doubled=(?P<doubled>\d+) kills=(?P<kills>\d+)"
)


@pytest.mark.timeout(900)
def test_nothing_lost_or_doubled_under_kills(postgres_server: PostgresServer, tmp_path: Path) -> None:
    server_url = _admin_url().set(database=None).render_as_string(hide_password=False)
    command = [
        str(Path(sys.executable).parent / "ras"),
        "chaos",
        f"--recordings={RECORDINGS}",
        f"--kills-per-process={KILLS_PER_PROCESS}",
        "--duration-s=30",
        "--job-duration-s=0.5",
        "--profile=production",
        "--timeout-s=780",
        f"--poison={POISON}",
        f"--home={tmp_path / 'chaos'}",
    ]
    env = {**os.environ, "RAS_CHAOS_PG_URL": server_url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=870)
    output = done.stdout.strip().splitlines()
    print("\n".join(output[-60:]))  # shown by pytest when the test fails
    last = LAST_LINE.fullmatch(output[-1]) if output else None
    assert last, f"no summary line; exit {done.returncode}; stderr tail: {done.stderr[-2000:]}"
    figures = {name: int(value) for name, value in last.groupdict().items()}
    assert figures["lost"] == 0 and figures["doubled"] == 0, figures
    assert figures["recordings"] == RECORDINGS
    assert figures["completed"] + figures["failed"] == RECORDINGS, figures
    assert figures["kills"] >= 2 * KILLS_PER_PROCESS, figures
    [poison] = [m for line in output if (m := POISON_LINE.search(line))]
    counts = {name: int(value) for name, value in poison.groupdict().items()}
    assert counts["sent"] == POISON and counts["injected"] == POISON // 5, poison.group(0)
    # Rows of an unknown job kind (half of them at least) always end quarantined; a NUL reason
    # aimed at a job that was retried meanwhile is merely stale.
    assert counts["quarantined"] + counts["stale"] == counts["injected"], poison.group(0)
    assert counts["quarantined"] >= counts["injected"] // 2 and counts["problems"] == 0, poison.group(0)
    assert done.returncode == 0, f"exit {done.returncode}: processed files differ or a recording is stuck"
