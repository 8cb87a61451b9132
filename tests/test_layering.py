"""The arrows between our packages point one way (docs/internals.md, "Packages and the seams").

Every import statement of every module is read (with `ast`, nothing is imported), wherever it
stands: an import inside a function is still an arrow. A new arrow against the layering fails here
with the module, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
OURS = (
    *("ras_core", "ras_platform", "ras_api"),
    *("ras_assets", "resources", "sensors"),
    *("ema_simulator", "ras_tools"),
)
DAGSTER_CODE = ("ras_assets", "resources", "sensors")
TOOLING = ("ras_tools", "bench", "tests")
PRODUCT = tuple(package for package in OURS if package not in TOOLING)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int


def imports_in(module: str, source: str) -> list[Import]:
    found: list[Import] = []
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.append(Import(module, base, node.lineno))
            # `from sensors import dispatch` imports the module sensors.dispatch, not only the package.
            found += [
                Import(module, f"{base}.{alias.name}", node.lineno)
                for alias in node.names
                if _is_our_module(f"{base}.{alias.name}")
            ]
    return found


def all_imports() -> list[Import]:
    found: list[Import] = []
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found += imports_in(module, path.read_text())
    return found


def _is_our_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages)


def _sensor_module(name: str) -> str | None:
    """`sensors.dispatch` for anything in that module; None for the package's own `__init__`."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "sensors" and len(parts) > 1 else None


# (rule, importing modules, imported modules it may not reach)
RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (
        "the core imports nothing of ours, nor Dagster, FastAPI, SQL or network libraries",
        ("ras_core",),
        (
            *(p for p in OURS if p != "ras_core"),
            *("dagster", "fastapi", "starlette", "sqlalchemy", "httpx", "boto3"),
        ),
    ),
    ("adapters never import the API or Dagster code", ("ras_platform",), ("ras_api", *DAGSTER_CODE)),
    ("the API never imports Dagster code", ("ras_api",), DAGSTER_CODE),
    ("resources never import assets or sensors", ("resources",), ("ras_assets", "sensors", "ras_api")),
    (
        "the simulator stands beside the platform, on the core alone",
        ("ema_simulator",),
        tuple(p for p in OURS if p not in ("ras_core", "ema_simulator")),
    ),
]

# `ras chaos` is a command of the product's CLI; it loads the tooling only when run.
TOOLING_ALLOWED = {("ras_platform.cli", "ras_tools.chaos")}


def arrows_against_the_layering(imports: list[Import]) -> list[str]:
    wrong: list[str] = []
    for imp in imports:
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        for rule, sources, forbidden in RULES:
            if _within(imp.module, sources) and _within(imp.target, forbidden):
                wrong.append(f"{where}: {rule}")
        tooling = _within(imp.target, TOOLING) and (imp.module, imp.target) not in TOOLING_ALLOWED
        if _within(imp.module, PRODUCT) and tooling:
            wrong.append(f"{where}: production modules never import tooling")
        own, other = _sensor_module(imp.module), _sensor_module(imp.target)
        if own and other and own != other:
            wrong.append(f"{where}: sensors never import each other (shared run helpers: ras_assets/runs.py)")
        assembling = imp.module == "ras_assets.definitions"
        if _within(imp.module, ("ras_assets",)) and not assembling and _within(imp.target, ("sensors",)):
            wrong.append(f"{where}: only ras_assets/definitions.py assembles sensors")
    return wrong


def test_no_arrow_points_against_the_layering() -> None:
    wrong = arrows_against_the_layering(all_imports())
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("ras_core.transforms.x", "from ras_platform.settings import Settings", "the core imports nothing"),
        ("ras_core.x", "def f():\n    import dagster\n", "the core imports nothing"),
        ("ras_api.routers.x", "from resources import EmaResource", "the API never imports Dagster code"),
        ("sensors.dispatch", "from sensors.ema_callbacks import x", "sensors never import each other"),
        ("sensors.dispatch", "from sensors import ema_callbacks", "sensors never import each other"),
        ("ras_platform.demo", "from ras_tools.chaos import run_chaos", "never import tooling"),
        ("ras_assets.processed", "from sensors.dispatch import x", "only ras_assets/definitions.py"),
    ],
)
def test_an_arrow_against_the_layering_is_named(module: str, source: str, broken: str) -> None:
    [problem] = arrows_against_the_layering(imports_in(module, source))
    assert broken in problem and module in problem


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("sensors.dispatch", "from sensors import TICK_INTERVAL_S"),
        ("ras_assets.definitions", "from sensors.dispatch import dispatch_sensor"),
        ("ras_platform.cli", "def chaos():\n    from ras_tools.chaos import run_chaos\n"),
        ("ras_api.routers.x", "from ras_platform.dagster_client import DagsterClient"),
    ],
)
def test_an_arrow_with_the_layering_passes(module: str, source: str) -> None:
    assert arrows_against_the_layering(imports_in(module, source)) == []
