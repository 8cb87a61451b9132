"""Representations of delivery responses: media types chosen by `Accept`, content codings by
`Accept-Encoding`, and the encoders behind them (orjson for JSON, Arrow IPC streams for Arrow).

Encoding is where a cold delivery request spends its CPU after the parquet read, so every encoder
here is native code: orjson, polars, pyarrow, zlib and brotli at their fastest levels.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import brotli
import orjson
import polars as pl
import pyarrow as pa

JSON = "application/json"
COLUMNAR_JSON = "application/vnd.ras.columnar+json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
# The Arrow schema's metadata key holding what a JSON body has beside its rows.
ARROW_HEAD_KEY = b"ras"

BROTLI, GZIP = "br", "gzip"
# Smaller bodies fit a few packets: compressing them costs more than it saves.
MIN_COMPRESSED_BYTES = 8 * 1024
# The fastest levels: a cold body is compressed on every request, and on a 600 KB tracking window
# they keep most of the gain (br 1: 7.7x in 1.9 ms, gzip 1: 6.4x in 2.5 ms) at a third of the CPU
# of the defaults (br 11 is slower still; gzip 6 takes 9 ms for 10x).
BROTLI_QUALITY = 1
GZIP_LEVEL = 1
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON; non-string keys become strings, as with `json.dumps`."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


# --- content negotiation --------------------------------------------------------------------------


def _ranges(header: str) -> list[tuple[str, float]]:
    """(range, q) pairs of an Accept or Accept-Encoding header; a malformed q counts as 0."""
    ranges = []
    for item in header.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((name.lower(), q))
    return ranges


def _media_q(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The q of the most specific range matching `media_type` (RFC 9110 12.5.1), 0 when none does."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for name, q in ranges:
        specificity = 2 if name == media_type else 1 if name == f"{kind}/*" else 0 if name == "*/*" else -1
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type the client prefers (highest q; ties go to the order offered), or None.

    No `Accept` header means anything, so the first offered type.
    """
    if not accept or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    scored = [(_media_q(ranges, media_type), -index, media_type) for index, media_type in enumerate(offered)]
    q, _, media_type = max(scored)
    return media_type if q > 0 else None


def content_coding(accept_encoding: str | None) -> str | None:
    """`br` or `gzip` when the client accepts it (brotli first on a tie), None for identity."""
    if not accept_encoding:
        return None
    ranges = dict(_ranges(accept_encoding))
    star = ranges.get("*", 0.0)
    scored = [(ranges.get(coding, star), -index, coding) for index, coding in enumerate((BROTLI, GZIP))]
    q, _, coding = max(scored)
    return coding if q > 0 else None


# --- content codings ------------------------------------------------------------------------------


def compress(body: bytes, coding: str) -> bytes:
    if coding == BROTLI:
        return brotli.compress(body, quality=BROTLI_QUALITY)
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(body) + compressor.flush()


def compress_stream(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """A streamed body compressed chunk by chunk: never held whole."""
    if coding == BROTLI:
        brotli_compressor = brotli.Compressor(quality=BROTLI_QUALITY)
        for chunk in chunks:
            if out := brotli_compressor.process(chunk):
                yield out
        yield brotli_compressor.finish()
        return
    zlib_compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    for chunk in chunks:
        if out := zlib_compressor.compress(chunk):
            yield out
    yield zlib_compressor.flush()


# --- encoders -------------------------------------------------------------------------------------


def columns(frame: pl.DataFrame) -> dict[str, Any]:
    """A table as `{column: [values]}`; numeric columns without nulls go to orjson as numpy arrays."""
    return {
        name: series.to_numpy()
        if series.dtype.is_numeric() and series.null_count() == 0
        else series.to_list()
        for name, series in frame.to_dict().items()
    }


def columnar_json(head: dict[str, Any], tables: dict[str, pl.DataFrame]) -> bytes:
    """`head` plus each table as an object of equally long column arrays."""
    document = {**head, **{name: columns(frame) for name, frame in tables.items()}}
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def arrow_stream(head: dict[str, Any], schema: pa.Schema, tables: Iterable[pa.Table]) -> Iterator[bytes]:
    """An Arrow IPC stream: the schema (with `head` as JSON under the `ras` metadata key), then the
    record batches of each table as it comes, so a long window is never held whole."""
    schema = schema.with_metadata({ARROW_HEAD_KEY: json.dumps(head, separators=(",", ":")).encode()})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        for table in tables:
            writer.write_table(table.cast(schema))
            yield _drain(sink)
    yield _drain(sink)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data
