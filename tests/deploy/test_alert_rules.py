"""The Prometheus alert rules in deploy/prometheus/: promtool's own unit tests of them, and every
metric they read is one the API really exposes.

promtool comes from Debian's `prometheus` package (`make test` installs it in CI). Without it these
tests skip locally and fail when the CI environment variable is set, so CI never goes green by not
testing the rules.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from ras_api.app import create_app
from ras_platform.settings import Settings

RULES_DIR = Path(__file__).parents[2] / "deploy" / "prometheus"
# Names a rule may read that Prometheus itself provides, not the API.
PROMETHEUS_OWN = {"up"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (Debian package `prometheus`; `make test` installs it in CI)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    tool = promtool()
    check = subprocess.run(
        [tool, "check", "rules", "alerts.yml"], cwd=RULES_DIR, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=RULES_DIR, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def _metric_names_read_by_rules() -> set[str]:
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    names: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            # Metric names, not recorded series (`ras:…`), label names inside {} or functions.
            expression = re.sub(r"\{[^}]*\}", "", rule["expr"])
            names |= set(re.findall(r"(?<![:\w])(ras_[a-z_]+|up)\b", expression))
    return names


def test_every_metric_the_rules_read_is_exposed_by_the_api(tmp_path: Path) -> None:
    exposed = TestClient(create_app(Settings(data_dir=tmp_path))).get("/metrics").text
    exposed_names = {
        line.split("{")[0].split(" ")[0] for line in exposed.splitlines() if not line.startswith("#")
    }
    # The delivery histogram has no series before a delivery request; its family is declared anyway.
    declared = set(re.findall(r"^# TYPE (\S+) histogram", exposed, flags=re.MULTILINE))
    exposed_names |= {f"{name}_bucket" for name in declared}

    read = _metric_names_read_by_rules()

    assert {"ras_job_transitions_total", "ras_inbox_lag_seconds", "ras_quarantined"} <= read
    assert read - PROMETHEUS_OWN <= exposed_names, read - PROMETHEUS_OWN - exposed_names
