"""A failed COMMIT must not leave the write transaction (and SQLite's write lock) open.

SQLite can fail a COMMIT (``database is locked`` after busy_timeout, a disk I/O
error) and keep the transaction open; the connection would then hold the write lock
and every other writer, in any process, would time out. The connection is wrapped
so that its next COMMIT raises without running, which is exactly that state.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devhost.durable.history import HistoryStore
from shared.adapters import sqlite_store
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import BatchOp, ContainerSpec, NotFound, StoreUnavailable
from tests.support.sqlite_faults import CommitFailsOnce

CONTAINERS = (ContainerSpec("things", "/tenantId"),)


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the fix the other writer would wait out the busy timeout: keep it short.
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)


def test_store_failed_commit_releases_the_write_lock(tmp_path: Path, short_busy_timeout: None) -> None:
    path = tmp_path / "store.db"
    first = SqliteStore(path, CONTAINERS)
    other = SqliteStore(path, CONTAINERS)  # another connection, as another process would have
    try:
        things = first.container("things")
        things.create({"id": "before", "tenantId": "t"})
        wrapper = CommitFailsOnce(first._writer_connection())
        first._writer_conn = wrapper  # type: ignore[assignment]  # a stand-in for the process's writer connection

        with pytest.raises(StoreUnavailable, match="database is locked"):
            things.create({"id": "lost", "tenantId": "t"})
        assert wrapper.failed
        assert not wrapper.in_transaction

        other.container("things").create({"id": "other", "tenantId": "t"})
        things.create({"id": "after", "tenantId": "t"})  # the same connection writes again
        for store in (first, other):
            c = store.container("things")
            with pytest.raises(NotFound):
                c.read("lost", "t")
            assert {c.read(i, "t")["id"] for i in ("before", "other", "after")} == {"before", "other", "after"}
    finally:
        first.close()
        other.close()


def _count_inbox(store: HistoryStore, instance_id: str) -> int:
    return len(store.inbox_for(instance_id))


def test_history_failed_commit_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    first = HistoryStore(path)
    other = HistoryStore(path)
    other._conn.execute("PRAGMA busy_timeout=200")  # without the fix it would wait this out
    try:
        wrapper = CommitFailsOnce(first._conn)
        first._conn = wrapper  # type: ignore[assignment]

        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            first.enqueue("lost", None, {"EventType": 0})
        assert wrapper.failed
        assert not wrapper.in_transaction

        other.enqueue("other", None, {"EventType": 0})
        first.enqueue("after", None, {"EventType": 0})
        for store in (first, other):
            assert _count_inbox(store, "lost") == 0
            assert _count_inbox(store, "other") == 1
            assert _count_inbox(store, "after") == 1
    finally:
        first.close()
        other.close()


def test_store_unit_whose_commit_fails_releases_the_write_lock(tmp_path: Path, short_busy_timeout: None) -> None:
    path = tmp_path / "store.db"
    first = SqliteStore(path, CONTAINERS)
    other = SqliteStore(path, CONTAINERS)
    try:
        things = first.container("things")
        things.create({"id": "before", "tenantId": "t"})
        wrapper = CommitFailsOnce(first._writer_connection())
        first._writer_conn = wrapper  # type: ignore[assignment]  # a stand-in for the process's writer connection

        with pytest.raises(StoreUnavailable, match="database is locked"), first.unit_of_work():
            things.create({"id": "lost-1", "tenantId": "t"})
            things.batch("t", [BatchOp("create", item={"id": "lost-2", "tenantId": "t"})])
        assert wrapper.failed and not wrapper.in_transaction

        other.container("things").create({"id": "other", "tenantId": "t"})  # the file lock is free
        with first.unit_of_work():  # and so is this process's writer mutex
            things.create({"id": "after", "tenantId": "t"})
        for store in (first, other):
            c = store.container("things")
            for lost in ("lost-1", "lost-2"):
                with pytest.raises(NotFound):
                    c.read(lost, "t")
            assert {c.read(i, "t")["id"] for i in ("before", "other", "after")} == {"before", "other", "after"}
    finally:
        first.close()
        other.close()
