"""The writers' turn on a SQLite file: exclusive across threads and processes, prompt to
hand over, fair between processes, gone with a killed holder, and bounded by its timeout
(the store and the queue then answer "unavailable" instead of waiting forever)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from shared.adapters import sqlite_store
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.adapters.sqlite_writer_lock import WriterLock
from shared.ports import OutgoingMessage, Query, QueueUnavailable, StoreUnavailable
from shared.topology import ORDER_INTENTS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")

_ctx = multiprocessing.get_context("spawn")


def _hold(database: str, held: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    lock = WriterLock(Path(database))
    assert lock.acquire(timeout=5)
    held.set()
    release.wait(30)
    lock.release()


def _hammer(database: str, started: multiprocessing.synchronize.Event, seconds: float, threads: int) -> None:
    """Several threads of one process re-taking the turn as fast as they can."""
    lock = WriterLock(Path(database))
    end = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < end:
            if lock.acquire(timeout=5):
                started.set()
                time.sleep(0.001)  # a short transaction
                lock.release()

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _holder(tmp_path: Path) -> tuple[multiprocessing.process.BaseProcess, multiprocessing.synchronize.Event,
                                     multiprocessing.synchronize.Event]:
    held, release = _ctx.Event(), _ctx.Event()
    proc = _ctx.Process(target=_hold, args=(str(tmp_path / "db.sqlite"), held, release))
    proc.start()
    assert held.wait(30)
    return proc, held, release


def test_threads_of_one_process_take_turns(tmp_path: Path):
    lock = WriterLock(tmp_path / "db.sqlite")
    inside = 0
    overlaps = 0

    def work() -> None:
        nonlocal inside, overlaps
        for _ in range(200):
            assert lock.acquire(timeout=5)
            inside += 1
            if inside != 1:
                overlaps += 1
            time.sleep(0)
            inside -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == 0


def test_another_process_holding_it_makes_us_wait_then_give_up(tmp_path: Path):
    proc, _, release = _holder(tmp_path)
    lock = WriterLock(tmp_path / "db.sqlite")
    try:
        started = time.monotonic()
        assert lock.acquire(timeout=0.3) is False
        assert 0.3 <= time.monotonic() - started < 2
        release.set()
        proc.join(10)
        started = time.monotonic()
        assert lock.acquire(timeout=5) is True
        assert time.monotonic() - started < 0.05  # free: at once
        lock.release()
    finally:
        release.set()
        proc.join(10)
        lock.close()


def test_the_turn_comes_soon_after_the_holder_lets_go(tmp_path: Path):
    proc, _, release = _holder(tmp_path)
    lock = WriterLock(tmp_path / "db.sqlite")
    got: list[float] = []
    waiter = threading.Thread(target=lambda: got.append(time.monotonic()) if lock.acquire(timeout=10) else None)
    waiter.start()
    time.sleep(0.5)  # the waiter's pauses have grown to their longest by now
    released_at = time.monotonic()
    release.set()
    proc.join(10)
    waiter.join(10)
    assert got, "the waiter never got the turn"
    # SQLite's own busy handler would sleep up to 100 ms between tries by now.
    assert got[0] - released_at < 0.05
    lock.release()
    lock.close()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path):
    proc, _, _ = _holder(tmp_path)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    lock = WriterLock(tmp_path / "db.sqlite")
    assert lock.acquire(timeout=1) is True
    lock.release()
    lock.close()


def test_a_busy_process_cannot_keep_the_turn_from_another(tmp_path: Path):
    """Four threads of another process re-take the turn back to back; each of our
    acquisitions still comes within a few of their turns, not after our timeout."""
    started = _ctx.Event()
    proc = _ctx.Process(target=_hammer, args=(str(tmp_path / "db.sqlite"), started, 3.0, 4))
    proc.start()
    lock = WriterLock(tmp_path / "db.sqlite")
    try:
        assert started.wait(30)
        waits = []
        for _ in range(20):
            began = time.monotonic()
            assert lock.acquire(timeout=2), "starved by the other process"
            waits.append(time.monotonic() - began)
            time.sleep(0.001)
            lock.release()
        assert max(waits) < 0.1, sorted(waits)[-5:]  # without the queue lock: 0.5 s seen here
    finally:
        proc.join(30)
        lock.close()


def test_the_store_reports_unavailable_when_another_process_keeps_the_turn(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    proc, _, release = _holder(tmp_path)
    monkeypatch.setattr(SqliteStore, "lock_timeout", staticmethod(lambda: 0.2))
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.container("controls").upsert({"id": "x", "scope": "global", "kind": "test"})
        with pytest.raises(StoreUnavailable, match="locked"), store.unit_of_work():
            pass
        assert store.container("controls").query(Query(where=[]), partition_key="global").items == []  # reads go on
    finally:
        release.set()
        proc.join(10)
    store.container("controls").upsert({"id": "x", "scope": "global", "kind": "test"})
    store.close()


def test_the_queue_reports_unavailable_when_another_process_keeps_the_turn(tmp_path: Path):
    broker = SqliteQueueBroker(tmp_path / "db.sqlite", busy_timeout_seconds=0.2)
    proc, _, release = _holder(tmp_path)
    try:
        with pytest.raises(QueueUnavailable, match="another writer"):
            broker.queue(ORDER_INTENTS).send(OutgoingMessage(body="{}", message_id="m-1", session_id="s"))
    finally:
        release.set()
        proc.join(10)
    broker.queue(ORDER_INTENTS).send(OutgoingMessage(body="{}", message_id="m-1", session_id="s"))
    assert broker.queue(ORDER_INTENTS).pending() == 1
    broker.close()


def test_sqlite_still_excludes_a_writer_that_does_not_take_the_turn(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    """The turn is advisory; SQLite's own lock still guards the file."""
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)
    store = SqliteStore(tmp_path / "db.sqlite")
    other = sqlite3.connect(tmp_path / "db.sqlite", timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable):
            store.container("controls").upsert({"id": "y", "scope": "global", "kind": "test"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.close()


def test_an_interrupt_right_after_the_file_lock_was_taken_gives_everything_back(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    """Ctrl-C lands after ``flock`` succeeded but before ``acquire`` returned: neither the
    thread lock nor the file lock may stay held (another process would wait forever)."""
    from shared.adapters import sqlite_writer_lock

    ours, theirs = WriterLock(tmp_path / "db.sqlite"), WriterLock(tmp_path / "db.sqlite")  # two open files
    real = sqlite_writer_lock._flock_until
    taken: list[int] = []

    def interrupted(fd: int, deadline: float) -> bool:
        got = real(fd, deadline)
        taken.append(fd)
        if len(taken) == 2:  # the queue lock, then the lock itself: interrupt now
            raise KeyboardInterrupt
        return got

    monkeypatch.setattr(sqlite_writer_lock, "_flock_until", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ours.acquire(timeout=1)
    monkeypatch.setattr(sqlite_writer_lock, "_flock_until", real)
    assert theirs.acquire(timeout=0.5), "the file lock stayed held"
    theirs.release()
    assert ours.acquire(timeout=0.5), "the thread lock stayed held"
    ours.release()
    ours.close()
    theirs.close()
