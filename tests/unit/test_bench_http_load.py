"""The benchmarks' load generator reads every response whole and counts what the server said.

A load generator that miscounted, cut a body short or stalled on a closing connection
would report latencies of answers it never read; these tests drive it against a real
aiohttp server (bodies of every framing) and feed its parser one byte at a time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from bench import http_load

BIG = b"x" * 300_000  # larger than one socket read


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    seen: list[int] = []
    ready = threading.Event()
    stop: list[asyncio.Event] = []

    async def counted(request: web.Request) -> web.Response:
        seen.append(1)
        status = 429 if len(seen) % 3 == 0 else 200
        return web.json_response({"n": len(seen)}, status=status)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"one", b"two" * 5000, b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    async def closing(request: web.Request) -> web.Response:
        response = web.Response(text="bye")
        response.force_close()
        return response

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body, status=201 if body == b'{"a": 1}' else 400)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/counted", counted)
        app.router.add_get("/big", big)
        app.router.add_get("/chunked", chunked)
        app.router.add_get("/closing", closing)
        app.router.add_post("/echo", echo)
        app.router.add_get("/empty", empty)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)


def _get(url: str) -> http_load.RequestBytes:
    return lambda n, i: http_load.build_request("GET", url, {})


def test_every_response_is_counted_by_status(server: str) -> None:
    result = http_load.run(f"{server}/counted", 4, 15, _get(f"{server}/counted"))
    assert len(result.samples) == 60
    assert result.statuses == {200: 40, 429: 20}
    assert all(s > 0 for s in result.samples)


@pytest.mark.parametrize(("path", "status"), [("/big", 200), ("/chunked", 200), ("/empty", 204)])
def test_long_chunked_and_empty_bodies_are_read_to_their_end_on_a_kept_connection(
        server: str, path: str, status: int) -> None:
    result = http_load.run(f"{server}{path}", 2, 5, _get(f"{server}{path}"))
    assert result.statuses == {status: 10}


def test_a_request_that_cannot_be_built_stops_the_run_instead_of_hanging_it(server: str) -> None:
    def broken(n: int, i: int) -> bytes:
        if i == 3:
            raise RuntimeError("no body for you")
        return http_load.build_request("GET", f"{server}/empty", {})

    with pytest.raises(RuntimeError, match="no body"):
        http_load.run(f"{server}/empty", 2, 5, broken)


def test_a_closed_connection_is_reopened_for_the_next_request(server: str) -> None:
    result = http_load.run(f"{server}/closing", 3, 4, _get(f"{server}/closing"))
    assert result.statuses == {200: 12}


def test_the_request_body_reaches_the_server(server: str) -> None:
    request = http_load.build_request("POST", f"{server}/echo", {"Content-Type": "application/json"}, b'{"a": 1}')
    result = http_load.run(f"{server}/echo", 2, 3, lambda n, i: request)
    assert result.statuses == {201: 6}


def test_the_parser_completes_only_at_the_last_byte_whatever_the_split() -> None:
    reader = http_load._ResponseReader()
    response = b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    answers = [reader.feed(response[i:i + 1]) for i in range(len(response))]
    assert answers[:-1] == [None] * (len(response) - 1)
    assert answers[-1] == (202, False)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    answers = [reader.feed(chunked[i:i + 1]) for i in range(len(chunked))]
    assert answers[:-1] == [None] * (len(chunked) - 1)
    assert answers[-1] == (200, True)


@pytest.mark.parametrize("response", [
    b"SMTP 220 hello\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",  # no length, no chunks: cannot know where it ends
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",  # more than was asked for
])
def test_what_is_not_a_readable_response_is_refused(response: bytes) -> None:
    with pytest.raises(http_load.BadResponse):
        http_load._ResponseReader().feed(response)
