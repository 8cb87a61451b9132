"""The long schemathesis run (issue 14): the CI contract test's app, doubles and checks, with many more
cases: every operation in positive and negative generation modes, then call sequences (stateful).
Not collected by pytest (no `test_` prefix); run it by hand, under the heavy lock:

    flock /work/heavy.lock .venv/bin/python -m tests.api.contract_long_run --cases 30000

Failures do not stop it: every case is checked and counted. The last line reads
`cases=N 5xx=X schema_violations=S other_failures=F`; the exit code is 0 only when all three are 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tests.api.conftest import RECORDING, build_app, import_all
from tests.api.test_openapi_contract import CHECKS, prepare, with_doubles, with_token


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def run(self, case: schemathesis.Case) -> None:
        self.cases += 1
        response = case.call()
        self.validate(case, response)

    def validate(self, case: schemathesis.Case, response: Any) -> None:
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                name = type(failure).__name__
                self.failures[name] += 1
                self.examples.setdefault(
                    name, f"{case.operation.method.upper()} {case.operation.path}: {str(failure)[:300]}"
                )
        except AssertionError as error:
            self.failures[type(error).__name__] += 1
            self.examples.setdefault(type(error).__name__, str(error)[:300])

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def schema_violations(self) -> int:
        return sum(n for name, n in self.failures.items() if "Schema" in name or "Conformance" in name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30000)
    parser.add_argument("--stateful-share", type=float, default=0.15)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="contract-long-"))
    objects = work / "processed" / "objects"
    import_all(RECORDING, objects)
    built = with_doubles(build_app(work / "api", objects))
    schema = schemathesis.openapi.from_asgi("/openapi.json", built.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    tally = Tally()
    started = time.monotonic()

    stateful_cases = int(args.cases * args.stateful_share)
    per_run = max(1, (args.cases - stateful_cases) // (2 * len(operations)))
    bounded = settings(
        max_examples=per_run,
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )

    def one(case: schemathesis.Case) -> None:
        prepare(case)
        tally.run(case)

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            before = tally.cases
            try:
                bounded(given(case=operation.as_strategy(generation_mode=mode))(one))()
            except Unsatisfiable:
                pass  # no negative case exists for an operation without parameters or body
            except Exception as error:  # a generation problem of one operation; count and go on
                tally.failures[f"generation:{type(error).__name__}"] += 1
                tally.examples.setdefault(f"generation:{type(error).__name__}", str(error)[:300])
            print(f"{mode.value:8} {operation.method.upper():6} {operation.path}: {tally.cases - before}")

    base = schema.as_state_machine()

    class Sequences(base):  # type: ignore[valid-type, misc]
        def before_call(self, case: schemathesis.Case) -> None:
            with_token(case)
            tally.cases += 1

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            tally.validate(case, response)

    steps = 8
    while tally.cases < args.cases:
        before = tally.cases
        run_state_machine_as_test(
            Sequences,
            settings=settings(
                max_examples=max(1, (args.cases - tally.cases) // steps),
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],
                database=None,
            ),
        )
        print(f"stateful sequences: {tally.cases - before} calls")
        if tally.cases == before:
            break

    built.platform.state_store.close()
    elapsed = time.monotonic() - started
    print(f"statuses: {dict(sorted(tally.statuses.items()))}")
    print(f"failures: {dict(tally.failures)}")
    for name, example in tally.examples.items():
        print(f"  {name}: {example}")
    other = sum(tally.failures.values()) - tally.schema_violations
    print(f"operations={len(operations)} wall={elapsed:.0f}s")
    print(
        f"cases={tally.cases} 5xx={tally.server_errors} schema_violations={tally.schema_violations} "
        f"other_failures={other}"
    )
    return 0 if tally.server_errors == tally.schema_violations == other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
