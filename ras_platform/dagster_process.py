"""`python -m ras_platform.dagster_process webserver|daemon ARGS...`: Dagster's webserver or daemon,
its own command line and arguments, with `ras_platform.dagster_tuning` applied first.

Only the embedded stack (`ras_platform.stack`) starts them this way, as it starts the code servers
through `ras_platform.code_server`; the production image runs Dagster's commands unchanged.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# Name → the console script's entry point (see `dagster-webserver` and `dagster-daemon` in the venv).
ENTRY_POINTS = {"webserver": "dagster_webserver.cli:main", "daemon": "dagster._daemon.cli:main"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ENTRY_POINTS:
        print(f"usage: python -m ras_platform.dagster_process {{{','.join(ENTRY_POINTS)}}} ARGS...")
        return 2
    import ras_platform.dagster_tuning  # noqa: F401  (applied on import)

    module, function = ENTRY_POINTS[args[0]].split(":")
    sys.argv = [f"dagster-{args[0]}", *args[1:]]
    return getattr(importlib.import_module(module), function)()


if __name__ == "__main__":
    sys.exit(main())
