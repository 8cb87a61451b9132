"""The platform's production profile as the bench runs it, and how its CPU is accounted.

`production` gives a stack PostgreSQL (one temporary database, for the platform's state store and for
Dagster's instance alike) and an in-process moto server (`ras_tools.chaos.AwsDouble`) for S3 and
EventBridge: the `load` scenario and the `throughput` scenario's production variant both use it.

On that profile a stack's CPU is not all in its own processes: the PostgreSQL server's backends do
the platform's queries, and moto serves every object and event request from threads of the harness
process. `environment_roots` names both for `bench.throughput.CpuSampler`; `cpu_split` turns the
sampler's figures into the platform's CPU per recording and a note that keeps the environment's
doubles (the EMA simulator, the AWS double) apart from it.
"""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack
from pathlib import Path

POSTGRES = "postgres"
HARNESS = "aws-double (harness)"
# Stand-ins for services the platform calls, not the platform: left out of its CPU figure.
DOUBLES = ("ema", HARNESS)
POSTMASTER_PIDFILE = Path("/var/run/postgresql/15-main.pid")


def production(resources: ExitStack, prefix: str = "ras_bench") -> tuple[dict[str, str], str]:
    """A temporary PostgreSQL database and a started AWS double (a bucket, an event bus), both
    released by `resources`: the production profile's settings environment and the database URL
    (pass it as the stack's `dagster_postgres_url` too)."""
    from ras_tools.chaos import DEFAULT_PG_URL, AwsDouble, production_settings_env, temporary_database

    database = resources.enter_context(temporary_database(DEFAULT_PG_URL, prefix=prefix))
    aws = AwsDouble().start()
    resources.callback(aws.stop)
    tag = prefix.replace("_", "-")
    bucket, bus = f"{tag}-{uuid.uuid4().hex[:8]}", f"{tag}-{uuid.uuid4().hex[:8]}"
    aws.create_bucket(bucket)
    aws.bus_to_queue(bus)
    return production_settings_env(database, aws, bucket=bucket, bus=bus), database


def _stat(pid: int | str) -> tuple[str, int] | None:
    """(comm, parent pid) of a process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], int(text[text.rindex(")") + 2 :].split()[1])


def postmaster_pid(pidfile: Path = POSTMASTER_PIDFILE) -> int | None:
    """The PostgreSQL server's postmaster: the pid file's first line, else the `postgres` process
    whose parent is not a `postgres` process (its backends' is). None when neither is found."""
    try:
        pid = int(pidfile.read_text().split()[0])
        if (_stat(pid) or ("", 0))[0] == POSTGRES:
            return pid
    except (OSError, ValueError, IndexError):
        pass
    for entry in os.listdir("/proc"):
        found = _stat(entry) if entry.isdigit() else None
        if found and found[0] == POSTGRES and (_stat(found[1]) or ("", 0))[0] != POSTGRES:
            return int(entry)
    return None


def environment_roots() -> dict[int, str]:
    """Roots to sample beside a production-profile stack's own processes: the PostgreSQL server
    (its backends are its children: every connection's, whatever the database) and this harness
    process, where the AWS double runs as threads (count it without its children: those are the
    stack's processes, sampled under their own names, and the harness's own tools such as ffmpeg)."""
    roots = {os.getpid(): HARNESS}
    if (pid := postmaster_pid()) is not None:
        roots[pid] = POSTGRES
    return roots


def cpu_split(
    cpu_s: dict[str, float], n: int, threads_s: dict[str, float] | None = None
) -> tuple[float, str]:
    """The platform's CPU-s per recording (every sampled process but the doubles) and a note with
    the per-process split, the doubles apart."""
    platform = {k: v for k, v in cpu_s.items() if k not in DOUBLES}
    doubles = {k: v for k, v in cpu_s.items() if k in DOUBLES}
    per_rec = sum(platform.values()) / n
    parts = [
        f"platform (API, code servers with their run workers, daemon, webserver"
        f"{', PostgreSQL server' if POSTGRES in platform else ''}) {per_rec:.2f} CPU-s/rec: "
        + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(platform.items()))
    ]
    if POSTGRES in platform:
        parts.append(
            "postgres = every process of the server (backends of every database, the harness's own "
            "queries included; background writers)"
        )
    if doubles:
        parts.append(
            "environment's doubles, not in the value: "
            + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(doubles.items()))
        )
    if HARNESS in doubles:
        harness = "the harness process: moto's S3/EventBridge threads AND the harness's own work"
        if threads_s:
            harness += " (of which " + ", ".join(f"{k} {v / n:.2f}" for k, v in threads_s.items()) + ")"
        parts.append(f"{HARNESS} = {harness}, so it overstates the double")
    parts.append(f"all sampled {sum(cpu_s.values()) / n:.2f}")
    return per_rec, "; ".join(parts)
