"""Only the lifecycle service changes job states: every other module asks it (issue 11).

Walks the product packages' source and finds every call of a state-store method that records a
change of a job; the lifecycle service (`ras_platform/lifecycle.py`) is the one place allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PRODUCT_PACKAGES = (
    "ras_core",
    "ras_platform",
    "ras_assets",
    "sensors",
    "resources",
    "ras_api",
    "ema_simulator",
)
# StateStore methods that append to the change log or move a job.
TRANSITION_METHODS = frozenset({"transition", "apply_plan", "copy_recording_state", "mark_validated"})
LIFECYCLE_SERVICE = Path("ras_platform/lifecycle.py")


def _calls(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.func.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TRANSITION_METHODS
    ]


def test_only_the_lifecycle_service_calls_the_state_stores_transition_methods() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} calls .{method}()"
        for package in PRODUCT_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) != LIFECYCLE_SERVICE
        for method, line in _calls(path)
    ]
    assert offenders == []


def test_the_walk_finds_the_lifecycle_services_own_calls() -> None:
    # Guards the guard: if the walk stopped seeing calls, the test above would pass vacuously.
    assert {method for method, _ in _calls(ROOT / LIFECYCLE_SERVICE)} >= {"apply_plan", "mark_validated"}
