"""`ras`: the platform's command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ras_platform.settings import get_settings


def _register(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from ras_core.recording import InvalidRecordingMetadata, parse_recording_metadata
    from ras_platform.dagster_client import RECORDINGS_PARTITIONS
    from ras_platform.state_store import StateStore

    try:
        meta = parse_recording_metadata(json.loads(Path(args.metadata).read_text()))
    except (OSError, json.JSONDecodeError, InvalidRecordingMetadata) as error:
        print(f"not registered: {error}", file=sys.stderr)
        return 2
    created = StateStore(get_settings().resolved_database_url).register_recording(meta)
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(RECORDINGS_PARTITIONS, [meta.recording_id])
    print(f"{meta.recording_id}: {'registered' if created else 'already registered'}")
    return 0


def _upload(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ras_platform.upload_client import UploadClient, UploadFailed

    video = Path(args.file)
    try:
        metadata = json.loads(Path(args.metadata).read_text()) if args.metadata else {}
    except (OSError, json.JSONDecodeError) as error:
        print(f"not uploaded: metadata: {error}", file=sys.stderr)
        return 2
    settings = get_settings()
    with (
        UploadClient(args.api_url or settings.api_base_url, settings.zola_token) as client,
        tqdm(total=video.stat().st_size, unit="B", unit_scale=True, desc=video.name) as bar,
    ):
        try:
            result = client.upload(
                video, recording_id=args.recording_id, metadata=metadata, progress=bar.update
            )
        except (UploadFailed, OSError) as error:
            print(f"not uploaded: {error}", file=sys.stderr)
            return 1
    resumed = " (resumed)" if result.resumed else ""
    print(f"{args.recording_id}: upload {result.upload_id} {result.state}{resumed}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ras_platform.demo import run_demo

    try:
        return run_demo(
            recordings=args.recordings,
            duration_s=args.duration_s,
            exit_when_done=args.exit_when_done,
            home=args.home,
            timeout_s=args.timeout_s,
            simulator_args=args.simulator_arg,
        )
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from ras_platform.serve import run_serve

    return run_serve(api_host=args.host, stop_timeout_s=args.stop_timeout_s)


def _chaos(args: argparse.Namespace) -> int:
    from ras_tools.chaos import DEFAULT_PG_URL, ChaosOptions, run_chaos

    options = ChaosOptions(
        recordings=args.recordings,
        duration_s=args.duration_s,
        seed=args.seed,
        kills_per_process=args.kills_per_process,
        profile=args.profile,
        pg_url=os.environ.get("RAS_CHAOS_PG_URL", DEFAULT_PG_URL),
        home=args.home,
        timeout_s=args.timeout_s,
        job_duration_s=args.job_duration_s,
        keep=args.keep,
        poison=args.poison,
    )
    try:
        report = run_chaos(options)
    except KeyboardInterrupt:
        return 130
    print(report.last_line(), flush=True)
    return 0 if report.ok else 1


def _redrive(args: argparse.Namespace) -> int:
    from ras_platform.state_store import StateStore

    dead_letters = StateStore(get_settings().resolved_database_url).dead_letters
    source = {"inbox": "callback_inbox", "outbox": "outbox", "all": None}[args.source]
    if args.list:
        rows = dead_letters.quarantined(source=source)
        for row in rows:
            where = f"{row.source} {row.row_id} {row.recording_id or '-'}"
            print(f"{where} failures={row.failures}: {row.reason}")
        print(f"quarantined={len(rows)}")
        return 0
    redriven = dead_letters.redrive(source=source, recording_id=args.recording, row_ids=args.id or None)
    for row in redriven:
        print(f"redriven {row.source} {row.row_id} {row.recording_id or '-'} (was: {row.reason})")
    print(f"redriven={len(redriven)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ras", description="Recording Analytics platform")
    commands = parser.add_subparsers(dest="command", required=True)

    register = commands.add_parser("register", help="register a recording from a metadata JSON file")
    register.add_argument("metadata", help="path of the recording metadata JSON (contracts.md)")
    register.set_defaults(run=_register)

    upload = commands.add_parser(
        "upload",
        help="upload a recording's video through the API (resumable; the upload sensor registers it)",
        description="Sends the video in parts through presigned URLs. Interrupted, the same command "
        "resumes: the upload id is kept in FILE.ras-upload.json until the upload completes.",
    )
    upload.add_argument("file", help="the video file")
    upload.add_argument("--recording-id", required=True)
    upload.add_argument(
        "--metadata",
        help="JSON with pitch, periods, home_team, away_team (a full recording metadata file works)",
    )
    upload.add_argument("--api-url", default=None, help="the API's base URL (default: RAS_API_BASE_URL)")
    upload.set_defaults(run=_upload)

    serve = commands.add_parser(
        "serve",
        help="run the platform on this machine against the EMA of RAS_EMA_BASE_URL (no simulator)",
        description="Starts the API, the Dagster code servers, webserver and daemon; every RAS_* "
        "variable is honoured (RAS_EMA_BASE_URL, RAS_EMA_API_KEY, RAS_EMA_TOKEN, RAS_ZOLA_TOKEN, "
        "RAS_DATA_DIR, RAS_API_BASE_URL and RAS_DAGSTER_URL give the ports, ...). Prints where "
        "everything is; SIGTERM or Ctrl-C stops every process it started and exits 0.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="where the API listens; EMA must reach it at RAS_API_BASE_URL for callbacks (e.g. 0.0.0.0)",
    )
    serve.add_argument(
        "--stop-timeout-s", type=float, default=20.0, help="after SIGTERM, wait this long before SIGKILL"
    )
    serve.set_defaults(run=_serve)

    demo = commands.add_parser(
        "demo", help="ras serve plus the EMA simulator, processing N synthetic recordings (mixed kinds)"
    )
    demo.add_argument("--recordings", type=int, default=5)
    demo.add_argument("--duration-s", type=float, default=300.0, help="length of each synthetic recording")
    demo.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit when every recording is completed or failed; non-zero if any failed",
    )
    demo.add_argument("--home", type=Path, default=None, help="directory for data, logs and DAGSTER_HOME")
    demo.add_argument("--timeout-s", type=float, default=1800.0)
    demo.add_argument(
        "--simulator-arg",
        action="append",
        default=[],
        help="extra flag for the EMA simulator, e.g. --simulator-arg=--duplicate-rate=0.2",
    )
    demo.set_defaults(run=_demo)

    chaos = commands.add_parser(
        "chaos",
        help="N recordings under injected EMA faults and kill -9 of the Dagster daemon and the API",
        description="Last line: recordings=N completed=C failed=F lost=L doubled=D kills=K (docs/chaos.md); "
        "exit code 0 only when nothing was lost or doubled and every recording completed or failed "
        "with a reason. The production profile needs PostgreSQL at RAS_CHAOS_PG_URL "
        "(default postgresql+psycopg2://postgres@127.0.0.1:5432) and moto (dev dependency).",
    )
    chaos.add_argument("--recordings", type=int, default=20)
    chaos.add_argument("--duration-s", type=float, default=40.0, help="length of each recording (25 fps)")
    chaos.add_argument("--seed", type=int, default=1, help="seeds kill moments and faults")
    chaos.add_argument("--kills-per-process", type=int, default=2, help="kills of the daemon and of the API")
    chaos.add_argument("--profile", choices=["production", "embedded"], default="production")
    chaos.add_argument("--job-duration-s", type=float, default=1.0, help="simulated EMA job length")
    chaos.add_argument("--timeout-s", type=float, default=1200.0)
    chaos.add_argument("--home", type=Path, default=None, help="directory for data, logs and DAGSTER_HOME")
    chaos.add_argument("--keep", action="store_true", help="keep the PostgreSQL database for a post-mortem")
    chaos.add_argument(
        "--poison",
        type=int,
        default=0,
        help="poison callbacks (NUL, huge, nested) to send among the normal ones; a fifth as many "
        "inbox rows are written past the API, and must end quarantined (docs/chaos.md)",
    )
    chaos.set_defaults(run=_chaos)

    redrive = commands.add_parser(
        "redrive",
        help="put quarantined inbox/outbox rows back into their drain (after fixing their cause)",
        description="Rows that failed to apply or publish too often are quarantined in dead_letters "
        "(GET /recordings/{id}/analytics/logs shows them with their reason). This puts them back; a row "
        "that fails again is quarantined again after the same number of failures.",
    )
    redrive.add_argument("--source", choices=["inbox", "outbox", "all"], default="all")
    redrive.add_argument("--recording", default=None, help="only rows of this recording")
    redrive.add_argument("--id", type=int, action="append", help="only this row id (repeatable)")
    redrive.add_argument("--list", action="store_true", help="list quarantined rows, change nothing")
    redrive.set_defaults(run=_redrive)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
