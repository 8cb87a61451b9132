"""HTTP caching of delivery responses (Cache-Control, strong ETags, 304) and the in-process response cache.

ETags derive from the processed object's own etag, which changes on every write (a re-import), plus the
query parameters of a filtered response. The application cache is keyed the same way, so a re-import
is never served from it: the new etag simply misses, and the stale entry ages out by LRU or TTL.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from fastapi import Request, Response

SEVEN_DAYS_S = 7 * 24 * 3600
PUBLIC_7_DAYS = f"public, max-age={SEVEN_DAYS_S}"
NO_STORE = "no-store"
PRIVATE_60_S = "private, max-age=60"


def strong_etag(object_etags: tuple[str, ...], endpoint: str, params: Mapping[str, Any]) -> str:
    """A quoted strong ETag over the source objects' etags, the endpoint and its parameters."""
    material = json.dumps([object_etags, endpoint, sorted(params.items())], default=str)
    return '"' + hashlib.sha256(material.encode()).hexdigest()[:32] + '"'


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): `W/` prefixes are ignored."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    presented = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in presented


def caching_headers(etag: str, cache_control: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": cache_control}


def not_modified(etag: str, cache_control: str) -> Response:
    # A 304 repeats the validators and the caching policy, so a cache refreshes its stored copy.
    return Response(status_code=304, headers=caching_headers(etag, cache_control))


class ResponseCache:
    """Computed response bodies, bounded by entry count and total bytes, each living at most `ttl_s`.

    Thread-safe: sync endpoints run on the threadpool. Bodies over `max_entry_bytes` are not kept,
    so one huge response cannot evict everything else.
    """

    def __init__(
        self,
        *,
        max_entries: int = 512,
        max_bytes: int = 128 * 1024 * 1024,
        max_entry_bytes: int = 8 * 1024 * 1024,
        ttl_s: float = SEVEN_DAYS_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.max_bytes, self.max_entry_bytes = max_entries, max_bytes, max_entry_bytes
        self.ttl_s, self._clock = ttl_s, clock
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._clock():
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_entry_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (self._clock() + self.ttl_s, body)
            self._bytes += len(body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def get_or_compute(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        # Two threads missing the same key both compute it; the result is identical, so no lock is held.
        body = self.get(key)
        if body is None:
            body = compute()
            self.put(key, body)
        return body

    def _drop(self, key: Hashable) -> None:
        _, body = self._entries.pop(key)
        self._bytes -= len(body)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes
