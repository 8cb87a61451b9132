"""`ema-simulator` / `python -m ema_simulator`: serve the EMA double with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

import uvicorn

from ema_simulator.app import create_app
from ema_simulator.config import add_config_arguments, config_from_args, describe


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ema-simulator", description="The bundled EMA double.")
    parser.add_argument("--host", default=os.environ.get("EMA_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMA_SIM_PORT", "8900")))
    parser.add_argument("--log-level", default=os.environ.get("EMA_SIM_LOG_LEVEL", "info"))
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("ema_simulator").info("starting with %s", describe(config))
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
