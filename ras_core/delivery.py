"""On-the-fly delivery transforms over processed data: no HTTP here, only tables and documents in, JSON out.

Every function reads what the processed outputs already hold (normalised positions, seconds, one event
shape), so the API never goes back to raw files per request.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import polars as pl
import pyarrow as pa

from ras_core.states import JobState
from ras_core.transforms.clock import TIME_DECIMALS

# contracts.md, "Event types"; the order is the contract's.
EVENT_TYPES = (
    "kick-off", "goal", "shot", "save", "corner", "free-kick", "penalty", "throw-in", "goal-kick",
    "offside", "foul", "card", "substitution", "period-start", "period-end",
)  # fmt: skip
TEAM_SIDES = ("home", "away")
TRACKING_SIDES = ("home", "away", "referee", "unknown")
FRAME_COLUMNS = ("frame", "t", "period", "track_id", "team_side", "jersey_number", "x", "y", "speed_mps")
FRAME_BALL_COLUMNS = ("ball_x", "ball_y", "ball_z")
FRAME_PLAYER_COLUMNS = FRAME_COLUMNS[3:]  # track_id … speed_mps: one entry of a frame's `players`
POSITION_DECIMALS = 4
# What the API promises about numbers, for its OpenAPI description: one statement next to the
# constants it quotes.
SERVED_PRECISION = (
    "**Precision.** Times are seconds on one clock for every EMA format version: a tracking frame's "
    "`t` is its integer frame index / fps, to the microsecond ("
    f"{TIME_DECIMALS} decimals), the same for v2 (frame ids) and v3 (pts) files, so a match delivered "
    "in either version serves identical windows. Positions are pitch fractions (origin top-left, y down, "
    "not clipped: off-pitch values leave [0, 1]); player-tracking windows round them to "
    f"{POSITION_DECIMALS} decimals (1e-4 of a pitch is about 1 cm); events, shots and other documents "
    "serve them as imported. Ball height `z` is in metres. Events without a location (period "
    "start/end, substitutions, cards given off the ball) have `position: null`."
)
# Clock markers carry no team action; chaining them would glue an attack onto a kick-off or half-time.
_NOT_ATTACKING = frozenset({"period-start", "period-end"})
ATTACKING_CHAIN_GAP_S = 15.0
TOP_SPEED_MOMENTS = 3
# Samples of one run are the same moment: keep one per player within this many seconds.
TOP_SPEED_SEPARATION_S = 5.0


# --- what is served while a job is not completed ---------------------------------------------------

# The one rule, quoted in the OpenAPI description; `data_served` applies it.
DATA_AVAILABILITY = (
    "**When data is served.** Every endpoint serves a job's data only while that job is `completed` "
    "(`GET /recordings/{id}/analytics` shows its state); in every other state (pending, scheduled, "
    "starting, running, succeeded, failed, and a retry or forced re-run in progress) every endpoint "
    "of that job answers 404 with a problem whose detail names the job, its state, its attempt and, "
    "when failed, the reason. An endpoint that reads the outputs of two jobs (player-moments) needs "
    "both completed. A job's outputs are written by separate imports: only once the job is completed "
    "do they all come from the same attempt, so nothing is served half-updated. Clients keep what "
    "they cached (ETag, Cache-Control) while a re-run is under way."
)


def data_served(state: JobState) -> bool:
    """Whether the outputs of a job in `state` are served (see `DATA_AVAILABILITY`)."""
    return state is JobState.COMPLETED


def unavailable_detail(
    endpoint: str,
    job_type: str,
    state: JobState,
    attempt: int,
    reason: str | None,
    *,
    missing: str | None = None,
) -> str:
    """The 404 detail: why `endpoint` serves nothing now, in terms of the job that makes its data."""
    detail = f"{endpoint} is not available: job {job_type} is {state.value} (attempt {attempt})"
    if state is JobState.FAILED and reason:
        detail += f": {reason}"
    if missing is not None:
        # Completed but absent: the processed file was removed; a forced re-run rebuilds it.
        detail += f", but {missing} is missing from storage"
    return detail


# --- player tracking ------------------------------------------------------------------------------


def tracking_frames(table: pa.Table, team_side: str | None = None, jersey: int | None = None) -> pl.DataFrame:
    """Rows of a tracking window as frames: `frame, t, period, ball {x,y,z} | null, players [...]`.

    Frames are kept even when the player filters leave none of their players, so a client still gets
    the ball and the clock. Polars groups in native code: 3x faster than dicts + json.
    """
    rows = _tracking_rows(table)
    ball = (
        pl.when(pl.col("ball_x").is_null())
        .then(None)
        .otherwise(pl.struct(x="ball_x", y="ball_y", z="ball_z"))
        .first()
        .alias("ball")
    )
    players = pl.struct(*FRAME_PLAYER_COLUMNS).filter(_wanted(team_side, jersey)).alias("players")
    return rows.group_by("frame", maintain_order=True).agg(
        pl.col("t").first(), pl.col("period").first(), ball, players
    )


def tracking_frames_json(table: pa.Table, team_side: str | None = None, jersey: int | None = None) -> bytes:
    """`tracking_frames` as a JSON array of frames (UTF-8), serialised by polars in native code."""
    # Bytes, as polars writes them: `write_json()` without a file decodes them into a str, which
    # the response then encodes again (together ~1 of a cold window's ~10 CPU-ms).
    buffer = io.BytesIO()
    tracking_frames(table, team_side, jersey).write_json(buffer)
    return buffer.getvalue()


# The frames shape as Arrow: what `tracking_frames` holds, with the processed file's column types.
_POSITION = pa.float32()
TRACKING_FRAMES_SCHEMA = pa.schema(
    [
        ("frame", pa.int64()),
        ("t", pa.float64()),
        ("period", pa.int16()),
        ("ball", pa.struct([("x", _POSITION), ("y", _POSITION), ("z", _POSITION)])),
        (
            "players",
            pa.list_(
                pa.struct(
                    [
                        ("track_id", pa.int32()),
                        ("team_side", pa.string()),
                        ("jersey_number", pa.int16()),
                        ("x", _POSITION),
                        ("y", _POSITION),
                        ("speed_mps", _POSITION),
                    ]
                )
            ),
        ),
    ]
)


def tracking_frames_arrow(
    table: pa.Table, team_side: str | None = None, jersey: int | None = None
) -> pa.Table:
    """`tracking_frames` as an Arrow table of `TRACKING_FRAMES_SCHEMA`."""
    frames = tracking_frames(table, team_side, jersey).to_arrow(compat_level=pl.CompatLevel.oldest())
    return frames.cast(TRACKING_FRAMES_SCHEMA)


def tracking_columns(
    table: pa.Table, team_side: str | None = None, jersey: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The same window as two flat tables: one row per frame (clock and ball) and one per player seen.

    `frames` holds `frame, t, period, ball_x, ball_y, ball_z` (ball columns null when the ball was not
    seen); `players` holds `frame` plus the player columns of the frames shape, filtered like it.
    """
    rows = _tracking_rows(table)
    frames = rows.group_by("frame", maintain_order=True).agg(
        pl.col("t", "period", *FRAME_BALL_COLUMNS).first()
    )
    players = rows.filter(_wanted(team_side, jersey)).select("frame", *FRAME_PLAYER_COLUMNS)
    return frames, players


def _tracking_rows(table: pa.Table) -> pl.DataFrame:
    rows = pl.from_arrow(table.select([*FRAME_COLUMNS, *FRAME_BALL_COLUMNS]))
    assert isinstance(rows, pl.DataFrame)
    # 1e-4 of a pitch is 1 cm: finer digits are tracking noise, and they are a third of the bytes.
    return rows.with_columns(pl.col("x", "y", "ball_x", "ball_y").round(POSITION_DECIMALS))


def _wanted(team_side: str | None, jersey: int | None) -> pl.Expr:
    wanted = pl.lit(True)
    if team_side is not None:
        wanted &= pl.col("team_side") == team_side
    if jersey is not None:
        wanted &= pl.col("jersey_number") == jersey
    return wanted


def jersey_numbers(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """Per side and period: the jersey numbers seen and the share of the period's frames each is in.

    `rows` holds `frame, period, team_side, jersey_number`. Rows without a number are counted in the
    period's frames but list no number.
    """
    frames = rows.group_by("period").agg(pl.col("frame").n_unique().alias("frames"))
    seen = (
        rows.drop_nulls("jersey_number")
        .group_by("team_side", "period", "jersey_number")
        .agg(pl.col("frame").n_unique().alias("seen"))
        .join(frames, on="period")
        .with_columns(share=(pl.col("seen") / pl.col("frames")).round(4))
        .sort("team_side", "period", "jersey_number")
    )
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for row in seen.iter_rows(named=True):
        key = (row["team_side"], row["period"])
        group = groups.setdefault(
            key, {"team_side": key[0], "period": key[1], "frames": row["frames"], "jersey_numbers": []}
        )
        group["jersey_numbers"].append({"jersey_number": row["jersey_number"], "share": row["share"]})
    return list(groups.values())


# --- player moments -------------------------------------------------------------------------------


def top_speed_moments(
    rows: pl.DataFrame,
    top_n: int = TOP_SPEED_MOMENTS,
    separation_s: float = TOP_SPEED_SEPARATION_S,
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The `top_n` fastest samples per identified player, at least `separation_s` apart.

    `rows` holds `t, period, team_side, jersey_number, speed_mps`. The fastest sample per player and
    `separation_s` bucket is taken first (in native code), so the greedy pick in Python sees
    thousands of candidates, not millions of samples.
    """
    candidates = (
        rows.filter(pl.col("team_side").is_in(TEAM_SIDES))
        .drop_nulls(["jersey_number", "speed_mps"])
        .with_columns(bucket=(pl.col("t") / separation_s).floor())
        .sort("speed_mps", descending=True)
        .group_by("team_side", "jersey_number", "bucket")
        .first()
        .sort(["team_side", "jersey_number", "speed_mps", "t"], descending=[False, False, True, False])
    )
    moments: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in candidates.iter_rows(named=True):
        picked = moments.setdefault((row["team_side"], row["jersey_number"]), [])
        if len(picked) < top_n and all(abs(row["t"] - m["t"]) >= separation_s for m in picked):
            picked.append(
                {"t": round(row["t"], 3), "period": row["period"], "speed_mps": round(row["speed_mps"], 3)}
            )
    return moments


def player_moments(
    shots: Iterable[dict[str, Any]], speed_moments: dict[tuple[str, int], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Per identified player (side + jersey): shots, goals and top-speed moments, sorted by side, jersey."""
    by_player: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for shot in shots:
        if shot["team_side"] in TEAM_SIDES and shot.get("jersey_number") is not None:
            by_player.setdefault((shot["team_side"], shot["jersey_number"]), []).append(shot)
    players = sorted(set(by_player) | set(speed_moments))
    return [_player_entry(key, by_player.get(key, []), speed_moments.get(key, [])) for key in players]


def _player_entry(
    key: tuple[str, int], shots: list[dict[str, Any]], speeds: list[dict[str, Any]]
) -> dict[str, Any]:
    moments = [_shot_moment(shot) for shot in sorted(shots, key=lambda s: s["time_s"])]
    return {
        "team_side": key[0],
        "jersey_number": key[1],
        "shots": moments,
        "goals": [moment for moment in moments if moment["outcome"] == "goal"],
        "top_speed_moments": speeds,
    }


def _shot_moment(shot: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "time_s", "period", "xg", "outcome", "body_part", "position")
    return {name: shot.get(name) for name in fields}


# --- events ---------------------------------------------------------------------------------------


def unknown_event_types(types: Iterable[str]) -> list[str]:
    return sorted(set(types) - set(EVENT_TYPES))


def events_of_types(events: list[dict[str, Any]], types: Iterable[str] | None) -> list[dict[str, Any]]:
    if types is None:
        return events
    wanted = set(types)
    return [event for event in events if event["type"] in wanted]


def attacking_moments(
    events: list[dict[str, Any]], team: str | None = None, gap_s: float = ATTACKING_CHAIN_GAP_S
) -> list[dict[str, Any]]:
    """A team's events chained into moments: the next event starts within `gap_s` of the chain's end.

    Only the team's own events count (the contract's definition); a period boundary always ends a
    moment. `team` None gives both teams' moments, interleaved by start time.
    """
    sides = TEAM_SIDES if team is None else (team,)
    moments = [moment for side in sides for moment in _chains(events, side, gap_s)]
    return sorted(moments, key=lambda moment: (moment["start_s"], moment["team_side"]))


def _chains(events: list[dict[str, Any]], side: str, gap_s: float) -> list[dict[str, Any]]:
    own = [e for e in events if e["team_side"] == side and e["type"] not in _NOT_ATTACKING]
    chains: list[list[dict[str, Any]]] = []
    for event in sorted(own, key=lambda e: (e["start_s"], e["period"])):
        last = chains[-1] if chains else None
        if (
            last is not None
            and last[-1]["period"] == event["period"]
            and event["start_s"] - max(e["end_s"] for e in last) <= gap_s
        ):
            last.append(event)
        else:
            chains.append([event])
    return [_moment(side, chain) for chain in chains]


def _moment(side: str, chain: list[dict[str, Any]]) -> dict[str, Any]:
    types = [event["type"] for event in chain]
    return {
        "team_side": side,
        "period": chain[0]["period"],
        "start_s": chain[0]["start_s"],
        "end_s": max(event["end_s"] for event in chain),
        "event_count": len(chain),
        "types": types,
        "event_ids": [event["id"] for event in chain],
        "has_shot": "shot" in types or "goal" in types,
        "has_goal": "goal" in types,
    }
