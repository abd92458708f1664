"""How many connections each HTTP worker holds, shared so that they take turns fairly.

Why: the workers accept from one inherited socket, and a connection goes to whichever
worker's event loop wakes first. On a machine with few cores, one worker is often
running while the other sleeps, so when clients connect at once (a load test, a
dashboard's parallel requests) the awake one takes most of them and keeps them
(keep-alive): its clients then wait longer for every request, for the connection's
whole life. So each worker publishes its count of open connections in a small shared
file, and a worker that holds more than another steps back for a moment (stops
watching the socket for a millisecond) so the other can take the next one. A worker
that steps back for too long (the other is stuck or busy) takes the connection anyway:
balance must never leave a client waiting.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import select
import socket
import struct
from pathlib import Path
from typing import Any, Final

_SLOT: Final = struct.Struct("q")
GONE: Final = 2**62  # the count a worker leaves behind: nobody steps back for it
YIELD_SECONDS: Final = 0.001  # how long a worker with more connections steps back
MAX_DEFER_SECONDS: Final = 0.05  # then it takes the connection anyway (the other may be stuck)
REFRESH_SECONDS: Final = 0.05


def create(path: Path, workers: int) -> None:
    """The main process, before the workers start: one zeroed slot per worker."""
    with open(path, "wb") as file:
        file.write(b"\0" * (_SLOT.size * workers))


class ConnectionCounts:
    """Worker ``index``'s view of the shared counts (its own slot it writes)."""

    def __init__(self, path: Path, index: int, workers: int) -> None:
        if not 0 <= index < workers:
            raise ValueError("index must be within 0..workers-1")
        self.index = index
        self.workers = workers
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, _SLOT.size * workers)
        finally:
            os.close(fd)

    def publish(self, open_connections: int) -> None:
        _SLOT.pack_into(self._map, self.index * _SLOT.size, open_connections)

    def fewest_elsewhere(self) -> int | None:
        """The smallest count among the other workers (None with no other worker)."""
        others = [_SLOT.unpack_from(self._map, i * _SLOT.size)[0] for i in range(self.workers) if i != self.index]
        return min(others) if others else None

    def should_yield(self, open_connections: int) -> bool:
        """True when another worker holds fewer connections than we do."""
        fewest = self.fewest_elsewhere()
        return fewest is not None and fewest < open_connections

    def leave(self) -> None:
        """On the way out: a count no worker will defer to, then let go of the file."""
        self.publish(GONE)
        self._map.close()


class TurnTakingAcceptor:
    """Accepts from a listening socket shared with other workers: one connection per
    wake-up, stepping back while another worker holds fewer (``ConnectionCounts``).

    Why not asyncio's server: it accepts every waiting connection (up to its backlog,
    100) each time the socket turns readable, so the worker that wakes first takes most
    of a burst. ``server`` is the protocol factory (aiohttp's ``web.Server``), whose
    ``connections`` are this worker's open connections.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, server: Any,
                 counts: ConnectionCounts) -> None:
        self.loop = loop
        self.sock = sock
        self.server = server
        self.counts = counts
        self._fd = sock.fileno()
        self._deferred_since: float | None = None
        self._resume: asyncio.TimerHandle | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        self.sock.setblocking(False)
        self.loop.add_reader(self._fd, self._accept_one)
        self._publish_count()

    def stop(self) -> None:
        self._stopped = True
        self.loop.remove_reader(self._fd)
        for handle in (self._resume, self._refresh):
            if handle is not None:
                handle.cancel()

    def _accept_one(self) -> None:
        mine = len(self.server.connections)
        self.counts.publish(mine)
        if self.counts.should_yield(mine) and self._may_defer():
            self.loop.remove_reader(self._fd)
            self._resume = self.loop.call_later(YIELD_SECONDS, self._come_back)
            return
        self._deferred_since = None
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        conn.setblocking(False)
        self.counts.publish(mine + 1)
        self.loop.create_task(self.loop.connect_accepted_socket(self.server, conn))

    def _may_defer(self) -> bool:
        """Step back for this connection, unless it has waited ``MAX_DEFER_SECONDS``."""
        now = self.loop.time()
        if self._deferred_since is None:
            self._deferred_since = now
        return now - self._deferred_since < MAX_DEFER_SECONDS

    def _come_back(self) -> None:
        self._resume = None
        if self._stopped:
            return
        if not select.select([self._fd], [], [], 0)[0]:
            self._deferred_since = None  # another worker took it: the next one starts afresh
        self.loop.add_reader(self._fd, self._accept_one)

    def _publish_count(self) -> None:
        """Now and every ``REFRESH_SECONDS``: closed connections leave the count too."""
        if self._stopped:
            return
        self.counts.publish(len(self.server.connections))
        self._refresh = self.loop.call_later(REFRESH_SECONDS, self._publish_count)
