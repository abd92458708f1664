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

import mmap
import os
import struct
from pathlib import Path
from typing import Final

_SLOT: Final = struct.Struct("q")


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

    def close(self) -> None:
        self._map.close()
