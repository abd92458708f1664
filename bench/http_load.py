"""A lean closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight each.

Why not aiohttp's client (which ``bench/api.py`` used before): on the 2-core machine the
benchmarks run on, the load generator shares the cores with the devhost it measures.
aiohttp's client spent ~250 µs of CPU per request there (about a sixth of everything a
write costs the machine) and its coroutines queued behind each other when responses came
in a burst, so the client's own work landed inside the latencies it measured. This one
is a protocol per connection that writes the next request from the callback that
completes the previous response: no coroutine, no request object, no header
multidict. Against the same devhost, ``wrk`` (C) measured the read at p50 5.7 / p95
10.4 ms where this client measured 5.6 / 9.6-11.9 ms.

What it still checks, so a fast wrong answer does not pass for a fast right one: the
status line of every response (counted by status), a ``Content-Length`` or chunked body
read to its end, and ``Connection: close`` honoured by reconnecting.

The time of a request runs from writing it to the socket (or from opening the new
connection it needed) to the last byte of its response arriving in ``data_received``.
HEAD requests are not supported (their responses announce a length but carry no body).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

RequestBytes = Callable[[int, int], bytes]  # (client index, request index) -> the whole request
_NO_BODY = frozenset({204, 304})  # with 1xx: never a body (HEAD requests are not supported here)


class BadResponse(Exception):
    """The server answered with something that is not an HTTP/1.1 response we can read."""


@dataclass
class LoadResult:
    samples: list[float] = field(default_factory=list)  # seconds, one per request
    statuses: dict[int, int] = field(default_factory=dict)


def build_request(method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> bytes:
    """One HTTP/1.1 request, keep-alive, as bytes."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


class _ResponseReader:
    """Incremental parse of one response at a time; ``feed`` returns (status, keep_alive) when complete."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.status = 0
        self.keep_alive = True
        self.body_left = -1  # bytes of a Content-Length body still to come; -1: headers not read yet
        self.chunked = False

    def feed(self, data: bytes) -> tuple[int, bool] | None:
        self.buffer += data
        if self.body_left < 0 and not self.chunked and not self._read_head():
            return None
        if self.chunked:
            return self._read_chunks()
        if len(self.buffer) < self.body_left:
            return None
        if len(self.buffer) > self.body_left:
            raise BadResponse("bytes after the response (nothing was pipelined)")
        return self._done()

    def _read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        version, _, rest = head[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise BadResponse(f"not an HTTP/1.x status line: {head[0]!r}")
        self.status = int(rest[:3])
        length: int | None = None
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and value.lower() == "chunked":
                self.chunked = True
            elif name == "connection" and value.lower() == "close":
                self.keep_alive = False
        if self.status in _NO_BODY or self.status < 200:
            self.chunked, self.body_left = False, 0  # no body, whatever the headers say (RFC 9112 6.3)
        elif not self.chunked:
            if length is None:
                raise BadResponse("a response with neither Content-Length nor chunked encoding")
            self.body_left = length
        return True

    def _read_chunks(self) -> tuple[int, bool] | None:
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return None
            size = int(bytes(self.buffer[:line_end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0 and bytes(self.buffer[line_end:line_end + 4]) != b"\r\n\r\n":
                    return None
                del self.buffer[:]
                return self._done()
            if len(self.buffer) < line_end + 2 + size + 2:
                return None
            del self.buffer[: line_end + 2 + size + 2]

    def _done(self) -> tuple[int, bool]:
        answer = (self.status, self.keep_alive)
        self.buffer.clear()
        self.status, self.keep_alive, self.body_left, self.chunked = 0, True, -1, False
        return answer


class _Client:
    """One client: ``count`` requests back to back over a keep-alive connection, a new
    connection after ``Connection: close`` (the reconnect counts in that request's time)."""

    def __init__(self, index: int, count: int, request_bytes: RequestBytes, result: LoadResult,
                 finished: asyncio.Future[None], reconnect: Callable[[_Client], None]) -> None:
        self.index, self.count, self.request_bytes, self.result = index, count, request_bytes, result
        self.finished, self.reconnect = finished, reconnect
        self.sent = 0
        self.started: float | None = None  # when the request in flight (or the reconnect for it) began
        self.reader = _ResponseReader()

    def send_next(self, transport: asyncio.Transport) -> None:
        if self.sent == self.count:
            transport.close()
            self._finish()
            return
        try:
            request = self.request_bytes(self.index, self.sent)
        except Exception as exc:  # a bug in the caller's request: stop this run, loudly
            self.fail(exc, transport)
            return
        self.sent += 1
        if self.started is None:
            self.started = time.perf_counter()
        transport.write(request)

    def received(self, data: bytes, transport: asyncio.Transport) -> bool:
        """True when the connection is done with (closed: a new one is on its way)."""
        try:
            answer = self.reader.feed(data)
        except (BadResponse, ValueError) as exc:
            self.fail(exc, transport)
            return True
        if answer is None:
            return False
        assert self.started is not None
        self.result.samples.append(time.perf_counter() - self.started)
        self.started = None
        status, keep_alive = answer
        self.result.statuses[status] = self.result.statuses.get(status, 0) + 1
        if keep_alive:
            self.send_next(transport)
            return False
        transport.close()
        if self.sent < self.count:
            self.started = time.perf_counter()  # the next request's time starts with its connection
            self.reconnect(self)  # the reader reset itself at the end of the response
        else:
            self._finish()
        return True

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def fail(self, exc: BaseException, transport: asyncio.BaseTransport | None = None) -> None:
        if transport is not None:
            transport.close()
        if not self.finished.done():
            self.finished.set_exception(exc)


class _Connection(asyncio.Protocol):
    """One TCP connection of a client (a new object per connection: a late
    ``connection_lost`` of a closed one cannot touch its successor)."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        self.client.send_next(self.transport)

    def data_received(self, data: bytes) -> None:
        if not self.done and self.transport is not None:
            self.done = self.client.received(data, self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done and not self.client.finished.done():
            self.client.fail(exc or BadResponse("the server closed the connection mid-request"))


async def closed_loop(url: str, clients: int, per_client: int, request_bytes: RequestBytes) -> LoadResult:
    """``clients`` connections each sending ``per_client`` requests, the next as soon as the last is answered."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    result = LoadResult()
    connecting: set[asyncio.Task[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]] = set()

    def reconnect(client: _Client) -> None:
        task = loop.create_task(loop.create_connection(lambda: _Connection(client), host, port))
        connecting.add(task)  # a reference until done (the loop keeps only a weak one)

        def connected(done: asyncio.Task[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]) -> None:
            connecting.discard(done)
            error = None if done.cancelled() else done.exception()
            if error is not None:
                client.fail(error)
        task.add_done_callback(connected)

    finished = [loop.create_future() for _ in range(clients)]
    for n in range(clients):
        client = _Client(n, per_client, request_bytes, result, finished[n], reconnect)
        await loop.create_connection(lambda c=client: _Connection(c), host, port)  # type: ignore[misc]
    await asyncio.gather(*finished)
    return result


def run(url: str, clients: int, per_client: int, request_bytes: RequestBytes) -> LoadResult:
    """``closed_loop`` on uvloop when it is installed (it is, with the devhost's requirements)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(closed_loop(url, clients, per_client, request_bytes))
    return uvloop.run(closed_loop(url, clients, per_client, request_bytes))
