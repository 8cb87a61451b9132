"""The application response cache (TTL + LRU by entries and bytes) and the pure delivery transforms."""

from __future__ import annotations

import polars as pl

from ras_api.caching import ResponseCache, strong_etag
from ras_core import delivery


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = ResponseCache(ttl_s=10, clock=clock)
    cache.put("a", b"1")
    clock.now = 9.9
    assert cache.get("a") == b"1"
    clock.now = 10.0
    assert cache.get("a") is None and len(cache) == 0 and cache.size_bytes == 0


def test_least_recently_used_goes_first_by_count_and_by_bytes() -> None:
    cache = ResponseCache(max_entries=2, max_bytes=10, max_entry_bytes=8)
    cache.put("a", b"11")
    cache.put("b", b"22")
    cache.get("a")
    cache.put("c", b"33")
    assert cache.get("b") is None and cache.get("a") == b"11"
    cache.put("d", b"12345678")  # 8 + 2 + 2 > 10 bytes: the oldest go until it fits
    assert cache.size_bytes <= 10 and cache.get("d") == b"12345678"
    cache.put("huge", b"123456789")  # over the per-entry bound: never stored
    assert cache.get("huge") is None


def test_etag_depends_on_object_etag_and_parameters() -> None:
    base = strong_etag(("e1",), "player-tracking", {"start": 0.0})
    assert base == strong_etag(("e1",), "player-tracking", {"start": 0.0})
    assert base != strong_etag(("e2",), "player-tracking", {"start": 0.0})
    assert base != strong_etag(("e1",), "player-tracking", {"start": 1.0})


def _event(i: str, side: str, start: float, end: float, kind: str = "foul", period: int = 1) -> dict:
    return {"id": i, "type": kind, "start_s": start, "end_s": end, "period": period, "team_side": side}


def test_attacking_moments_chain_within_15_s_and_break_at_periods() -> None:
    events = [
        _event("a", "home", 0, 1, "period-start"),
        _event("b", "home", 10, 12),
        _event("c", "away", 13, 13),
        _event("d", "home", 27, 28, "shot"),  # 15 s after b ended: chained
        _event("e", "home", 44, 45),  # 16 s after d: a new moment
        _event("f", "home", 46, 47, "goal", period=2),  # another period: a new moment
    ]
    moments = delivery.attacking_moments(events, "home")
    assert [m["event_ids"] for m in moments] == [["b", "d"], ["e"], ["f"]]
    assert moments[0]["has_shot"] and not moments[0]["has_goal"] and moments[2]["has_goal"]
    assert [m["team_side"] for m in delivery.attacking_moments(events)] == ["home", "away", "home", "home"]


def test_top_speed_moments_are_separated_per_player() -> None:
    rows = pl.DataFrame(
        {
            "t": [1.0, 1.2, 2.0, 9.0, 30.0, 1.0],
            "period": [1] * 6,
            "team_side": ["home"] * 5 + ["referee"],
            "jersey_number": [7] * 5 + [None],
            "speed_mps": [8.0, 8.5, 7.0, 6.0, 5.0, 9.9],
        }
    )
    moments = delivery.top_speed_moments(rows, top_n=3, separation_s=5.0)
    assert list(moments) == [("home", 7)]
    assert [(m["t"], m["speed_mps"]) for m in moments[("home", 7)]] == [(1.2, 8.5), (9.0, 6.0), (30.0, 5.0)]
