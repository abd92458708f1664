"""The embedded store answers a repeated query from the reading connection's cache, and
never with rows the file no longer holds: whoever committed (this process's writer,
another process, a unit of work) and whatever expired, the next query sees it."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import ContainerSpec, Filter, Query, StoreUnavailable

SPECS = [ContainerSpec("things", "/tenantId")]
OWNED = Query(where=[Filter("kind", "=", "thing")], limit=50)


def _store(path: Path, clock: ManualClock | None = None) -> SqliteStore:
    return SqliteStore(path / "store.sqlite", SPECS, clock=clock)


def _add(store: SqliteStore, id: str, tenant: str = "t1", **fields: object) -> None:
    store.container("things").create({"id": id, "tenantId": tenant, "kind": "thing", **fields})


def _ids(store: SqliteStore) -> list[str]:
    return [d["id"] for d in store.container("things").query(OWNED, partition_key="t1").items]


def _hits(store: SqliteStore) -> int:
    cache = store._local.reads
    return cache.hits if cache is not None else 0


def test_a_repeated_query_is_answered_from_the_cache_with_the_same_items(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _add(store, "a")
    assert _ids(store) == ["a"]
    before = _hits(store)
    assert _ids(store) == ["a"]
    assert _hits(store) == before + 1
    store.close()


def test_a_write_by_this_process_shows_in_the_next_query(tmp_path: Path) -> None:
    store = _store(tmp_path)
    things = store.container("things")
    _add(store, "a")
    assert _ids(store) == ["a"]
    _add(store, "b")
    assert _ids(store) == ["a", "b"]
    things.delete("a", "t1")
    assert _ids(store) == ["b"]
    things.upsert({"id": "b", "tenantId": "t1", "kind": "other"})  # no longer matches
    assert _ids(store) == []
    store.close()


def test_a_write_by_another_thread_or_process_shows_in_the_next_query(tmp_path: Path) -> None:
    store = _store(tmp_path)
    other_process = _store(tmp_path)  # its own connections and writer lock, as another process has
    _add(store, "a")
    assert _ids(store) == ["a"]
    _add(other_process, "b")
    assert _ids(store) == ["a", "b"]
    thread = threading.Thread(target=lambda: store.container("things").delete("a", "t1"))
    thread.start()
    thread.join()
    assert _ids(store) == ["b"]
    other_process.close()
    store.close()


def test_an_item_that_expires_leaves_the_cached_answer(tmp_path: Path) -> None:
    clock = ManualClock()
    store = _store(tmp_path, clock)
    _add(store, "brief", ttl=10)
    assert _ids(store) == ["brief"]
    assert _ids(store) == ["brief"]
    clock.advance(timedelta(seconds=10))  # nothing was written: only time passed
    assert _ids(store) == []
    store.close()


def test_changing_a_returned_item_does_not_change_the_next_answer(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _add(store, "a", n=1)
    first = store.container("things").query(OWNED, partition_key="t1").items
    first[0]["n"] = 99
    first.append({"id": "intruder"})
    again = store.container("things").query(OWNED, partition_key="t1").items
    assert [(d["id"], d["n"]) for d in again] == [("a", 1)]
    store.close()


def test_inside_a_unit_of_work_a_query_sees_the_units_own_writes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _add(store, "a")
    assert _ids(store) == ["a"]
    with store.unit_of_work():
        _add(store, "b")
        assert _ids(store) == ["a", "b"]
    assert _ids(store) == ["a", "b"]
    store.close()


def test_a_reading_connection_refuses_to_write(tmp_path: Path) -> None:
    """Its own commit would not move its data_version, so its cache would go stale:
    SQLite refuses the write instead (``PRAGMA query_only``)."""
    store = _store(tmp_path)
    _add(store, "a")
    assert _ids(store) == ["a"]
    with pytest.raises(StoreUnavailable):
        store.run(lambda conn: conn.execute("DELETE FROM items WHERE id = 'a'"))
    assert _ids(store) == ["a"]
    store.close()


def test_a_change_of_the_file_drops_every_answer_kept_before_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    things = store.container("things")
    for tenant in ("t1", "t2", "t3"):
        _add(store, "a", tenant)
        things.query(OWNED, partition_key=tenant)
    _add(store, "b")
    assert _ids(store) == ["a", "b"]
    cache = store._local.reads
    assert cache is not None and len(cache) == 1, "answers read before the change must not be kept"
    store.close()
