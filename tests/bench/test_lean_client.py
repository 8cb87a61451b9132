"""The delivery benchmark's lean HTTP client (and httpx's, its reference) counts a request only
when a whole 200 response was read off the keep-alive connection, sized or chunked, and stops at
anything else."""

from __future__ import annotations

import asyncio

import pytest

from bench.delivery import _throughput

SIZED = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\n[1,2]"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"
MISSING = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"


async def _serve(answer: bytes, seen: list[str], clients: int, seconds: float, lean: bool = True) -> int:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await reader.readuntil(b"\r\n\r\n"):
                seen.append(request.decode().split("\r\n")[0])
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        url = f"http://127.0.0.1:{port}/recordings/r/player-tracking"
        done, _ = await _throughput(url, [0.0, 20.0], seconds, clients, {}, lean=lean)
    return done


@pytest.mark.parametrize("answer", [SIZED, CHUNKED], ids=["content-length", "chunked"])
def test_each_whole_response_is_one_request(answer: bytes) -> None:
    seen: list[str] = []
    done = asyncio.run(_serve(answer, seen, clients=2, seconds=0.3))
    assert done > 10 and done == len(seen)
    assert set(seen[:2]) == {
        "GET /recordings/r/player-tracking?start=0.0&end=10.0 HTTP/1.1",
        "GET /recordings/r/player-tracking?start=20.0&end=30.0 HTTP/1.1",
    }


def test_an_error_answer_stops_the_run() -> None:
    with pytest.raises(RuntimeError, match="404"):
        asyncio.run(_serve(MISSING, [], clients=1, seconds=0.3))


def test_the_httpx_clients_count_the_same_way() -> None:
    seen: list[str] = []
    done = asyncio.run(_serve(SIZED, seen, clients=2, seconds=0.3, lean=False))
    assert done > 10 and done == len(seen)
