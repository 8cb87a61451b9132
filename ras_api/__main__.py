"""`python -m ras_api`: the delivery + callback API under uvicorn, one worker process per CPU.

A cold delivery request is CPU work (parquet decoding, encoding, compression) done while holding
Python's GIL, so one process serves one core; `RAS_API_WORKERS` sets the count (settings.py).
uvicorn runs on uvloop with the httptools parser (both dependencies), and without its access log:
the request log (request_log.py) writes one line per request already, naming the route template
where uvicorn's line would name the raw path, which holds recording ids.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import uvicorn

from ras_api.metrics import MULTIPROCESS_DIR_ENV
from ras_platform.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ras_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-* headers")
    parser.add_argument("--forwarded-allow-ips", default=None)
    args = parser.parse_args(argv)
    workers = get_settings().api_worker_count
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_DIR_ENV):
        # Workers inherit it: their HTTP metrics go to files there, and /metrics sums them. A fresh
        # directory per start: files left by an earlier start would be summed too.
        metrics_dir = os.environ[MULTIPROCESS_DIR_ENV] = tempfile.mkdtemp(prefix="ras-api-metrics-")
    try:
        uvicorn.run(
            "ras_api.app:app",
            host=args.host,
            port=args.port,
            workers=workers,
            log_level=args.log_level,
            loop="uvloop",
            http="httptools",
            access_log=False,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
