"""Writers of one SQLite file take turns here, across threads and processes, before SQLite.

Why: SQLite lets one writer in at a time, and a writer that finds the file locked waits
in its busy handler, which *sleeps* between tries: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
50, then 100 ms. With writers in more than one process (the devhost's HTTP workers take
writes too) a waiter keeps sleeping long after the lock came free: the tail latency of
every write is then set by that sleep schedule, not by the work.

So a writer first takes this lock: a ``threading.Lock`` for the threads of this process,
then an exclusive ``flock`` on ``<file>.writers`` for the processes. A waiter tries again
after short pauses (50 us doubling to at most 1 ms, far below SQLite's), so it gets in
soon after the holder lets go; by then nobody holds SQLite's write lock, and ``BEGIN
IMMEDIATE`` succeeds at once. SQLite's own locking still guards the file (a writer that
does not take this lock, such as the ``sqlite3`` shell, is still excluded); its busy
timeout stays as the backstop.

Turns alternate between processes: a writer queues on a second ``flock``
(``<file>.writers-next``) before the first, and leaves that queue as soon as it holds the
first. So while one process's writer waits for the lock it holds the queue, and the
holder's own next writer waits behind it instead of taking the lock straight back (a
process with many busy writer threads would otherwise keep the lock to itself).

The lock is advisory and dies with its holder: a process killed mid-write leaves no
stale lock behind (the kernel drops an ``flock`` when its file closes). Where ``flock``
is missing (Windows) only the thread lock is taken and SQLite's busy handler serves
between processes, as before.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_FIRST_PAUSE = 0.00005
_LONGEST_PAUSE = 0.001


class WriterLock:
    """``acquire(timeout)`` / ``release()``, like ``threading.Lock``, but across processes too."""

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}.writers")
        self.queue_path = Path(f"{database}.writers-next")
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._queue_fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        """True once this thread holds the file's write turn; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        try:
            if self._take_file_lock(deadline):
                return True
        except BaseException:  # e.g. Ctrl-C right after the flock was taken: give it back
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # a no-op when we did not hold it
            self._thread_lock.release()
            raise
        self._thread_lock.release()
        return False

    def release(self) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @contextmanager
    def held(self, timeout: float) -> Iterator[bool]:
        """The turn for the block; yields False (and holds nothing) after ``timeout``."""
        got = self.acquire(timeout)
        try:
            yield got
        finally:
            if got:
                self.release()

    def close(self) -> None:
        for fd in (self._fd, self._queue_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._queue_fd = None

    def _take_file_lock(self, deadline: float) -> bool:
        if fcntl is None:
            return True
        if self._fd is None or self._queue_fd is None:
            self._queue_fd = os.open(self.queue_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _flock_until(self._queue_fd, deadline):
            return False
        try:
            return _flock_until(self._fd, deadline)
        finally:
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)


def _flock_until(fd: int, deadline: float) -> bool:
    """An exclusive ``flock`` on ``fd``, tried until ``deadline`` (a blocking flock would
    wake sooner still but could not give up)."""
    assert fcntl is not None
    pause = _FIRST_PAUSE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
