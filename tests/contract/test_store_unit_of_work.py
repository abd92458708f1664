"""The Store port's ``unit_of_work``: what every adapter promises, then what SQLite adds.

Every adapter: a unit changes nothing a caller can rely on -- reads inside see the
unit's writes, conditional writes fail inside exactly as outside, exceptions pass
through unchanged, and everything written survives the unit. (Cosmos DB's unit is a
no-op: each write commits on its own.) SQLite only: the unit is one transaction (atomic,
invisible to others until it ends), nested units are savepoints, and the unit's read
cache never serves a stale or rolled-back document.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from shared.ports import BatchFailed, BatchOp, Conflict, Filter, NotFound, PreconditionFailed, Query, Store
from tests.contract.conftest import Backend, sqlite_only


class Boom(Exception):
    pass


def sqlite_unit(backend: Backend) -> None:
    """Not a stand-in gap: on Cosmos DB a unit is a no-op by design (see the port)."""
    if backend.name != "sqlite":
        pytest.skip("a unit of work is one transaction on SQLite only; on Cosmos DB each write commits alone")


def things(store: Store) -> Any:
    return store.container("things")


def names(store: Store, partition: str = "t1") -> set[str]:
    return {d["id"] for d in things(store).query(Query(), partition_key=partition).items}


# ------------------------------------------------------------------ every adapter


def test_reads_inside_a_unit_see_its_writes_and_they_survive_it(store: Store, backend: Backend) -> None:
    c = things(store)
    with store.unit_of_work() as atomic:
        assert atomic is (backend.name == "sqlite")  # Cosmos DB says its unit is a no-op
        created = c.create({"id": "a", "tenantId": "t1", "v": 1})
        assert c.read("a", "t1") == created
        replaced = c.replace({"id": "a", "tenantId": "t1", "v": 2}, if_match=created["_etag"])
        assert c.read("a", "t1")["v"] == 2 and replaced["_etag"] != created["_etag"]
        c.create({"id": "b", "tenantId": "t1", "kind": "x"})
        assert [d["id"] for d in c.query(Query(where=[Filter("kind", "=", "x")]), partition_key="t1").items] == ["b"]
        c.delete("b", "t1")
        with pytest.raises(NotFound):
            c.read("b", "t1")
    assert c.read("a", "t1") == replaced
    assert user_fields_of(backend.open().container("things").read("a", "t1")) == {"id": "a", "tenantId": "t1", "v": 2}


def user_fields_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def test_conditional_writes_fail_inside_a_unit_as_outside(store: Store) -> None:
    c = things(store)
    first = c.create({"id": "a", "tenantId": "t1", "v": 1})
    with store.unit_of_work():
        with pytest.raises(Conflict):
            c.create({"id": "a", "tenantId": "t1", "v": 9})
        second = c.replace({"id": "a", "tenantId": "t1", "v": 2}, if_match=first["_etag"])
        with pytest.raises(PreconditionFailed):
            c.replace({"id": "a", "tenantId": "t1", "v": 3}, if_match=first["_etag"])
        with pytest.raises(NotFound):
            c.replace({"id": "zz", "tenantId": "t1"})
        c.replace({"id": "a", "tenantId": "t1", "v": 4}, if_match=second["_etag"])
    assert c.read("a", "t1")["v"] == 4


def test_exceptions_pass_through_units_unchanged_and_other_writes_survive(store: Store) -> None:
    c = things(store)
    raised = Boom("inner")
    with store.unit_of_work():
        c.create({"id": "before", "tenantId": "t1"})
        with pytest.raises(Boom) as caught, store.unit_of_work():
            raise raised
        assert caught.value is raised
        c.create({"id": "after", "tenantId": "t1"})
    assert {"before", "after"} <= names(store)
    with pytest.raises(Boom) as caught, store.unit_of_work():
        raise raised
    assert caught.value is raised


def test_a_failed_batch_inside_a_unit_raises_as_outside(store: Store) -> None:
    c = things(store)
    c.create({"id": "taken", "tenantId": "t1"})
    with store.unit_of_work():
        with pytest.raises(BatchFailed) as failed:
            c.batch("t1", [BatchOp("create", item={"id": "taken", "tenantId": "t1"})])
        assert failed.value.index == 0 and isinstance(failed.value.cause, Conflict)
        c.batch("t1", [BatchOp("create", item={"id": "fresh", "tenantId": "t1"})])
    assert names(store) == {"taken", "fresh"}


# ------------------------------------------------------------------ SQLite: one transaction


def test_sqlite_a_failing_nested_unit_rolls_back_only_its_writes(store: Store, backend: Backend) -> None:
    sqlite_unit(backend)
    c = things(store)
    kept = c.create({"id": "kept", "tenantId": "t1", "v": 1})
    with store.unit_of_work():
        c.create({"id": "outer", "tenantId": "t1"})
        with pytest.raises(Boom), store.unit_of_work():
            c.create({"id": "inner", "tenantId": "t1"})
            c.replace({"id": "kept", "tenantId": "t1", "v": 2}, if_match=kept["_etag"])
            c.delete("outer", "t1")
            assert names(store) == {"kept", "inner"}
            raise Boom
        # the cache must not serve what the savepoint rolled back
        assert c.read("kept", "t1") == kept
        assert c.read("outer", "t1")["id"] == "outer"
        with pytest.raises(NotFound):
            c.read("inner", "t1")
        c.replace({"id": "kept", "tenantId": "t1", "v": 3}, if_match=kept["_etag"])  # etag still valid
    assert names(store) == {"kept", "outer"}
    assert c.read("kept", "t1")["v"] == 3


def test_sqlite_writes_kept_back_in_a_unit_survive_a_savepoint_that_flushed_then_rolled_back(
    store: Store, backend: Backend
) -> None:
    sqlite_unit(backend)
    c = things(store)
    by_kind = Query(where=[Filter("kind", "=", "k")])
    with store.unit_of_work():
        first = c.create({"id": "a", "tenantId": "t1", "kind": "k", "v": 1})
        with pytest.raises(Boom), store.unit_of_work():
            c.replace({"id": "a", "tenantId": "t1", "kind": "k", "v": 2}, if_match=first["_etag"])
            c.create({"id": "b", "tenantId": "t1", "kind": "k"})
            assert {d["id"]: d.get("v") for d in c.query(by_kind, partition_key="t1").items} == {"a": 2, "b": None}
            raise Boom
        assert c.read("a", "t1") == first
        assert [(d["id"], d["v"]) for d in c.query(by_kind, partition_key="t1").items] == [("a", 1)]
        second = c.replace({"id": "a", "tenantId": "t1", "kind": "k", "v": 3}, if_match=first["_etag"])
    assert c.read("a", "t1") == second
    assert names(store) == {"a"}


def test_sqlite_an_exception_out_of_the_outer_unit_keeps_nothing(store: Store, backend: Backend) -> None:
    sqlite_unit(backend)
    c = things(store)
    with pytest.raises(Boom), store.unit_of_work():
        c.create({"id": "a", "tenantId": "t1"})
        c.batch("t1", [BatchOp("create", item={"id": "b", "tenantId": "t1"})])
        raise Boom
    assert names(store) == set()
    c.create({"id": "a", "tenantId": "t1"})  # the write lock was given back
    assert names(store) == {"a"}


def test_sqlite_a_failed_batch_inside_a_unit_rolls_back_only_the_batch(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "transactional batch supports only create and has no rollback")
    c = things(store)
    c.create({"id": "taken", "tenantId": "t1"})
    with store.unit_of_work():
        c.create({"id": "mine", "tenantId": "t1"})
        with pytest.raises(BatchFailed):
            c.batch("t1", [BatchOp("create", item={"id": "half", "tenantId": "t1"}),
                           BatchOp("create", item={"id": "taken", "tenantId": "t1"})])
        with pytest.raises(NotFound):
            c.read("half", "t1")
    assert names(store) == {"taken", "mine"}


def test_sqlite_nothing_is_visible_to_others_before_the_unit_ends(store: Store, backend: Backend) -> None:
    sqlite_unit(backend)
    other = backend.open()  # another connection on the same file, as another process has
    c = things(store)
    with store.unit_of_work():
        c.create({"id": "a", "tenantId": "t1"})
        c.create({"id": "b", "tenantId": "t1"})
        assert names(other) == set()
    assert names(other) == {"a", "b"}


def test_sqlite_another_threads_write_waits_for_the_unit_and_is_not_part_of_it(
    store: Store, backend: Backend
) -> None:
    sqlite_unit(backend)
    c = things(store)
    started, done = threading.Event(), threading.Event()

    def other_thread() -> None:
        started.set()
        c.create({"id": "theirs", "tenantId": "t1"})
        done.set()

    with pytest.raises(Boom), store.unit_of_work():
        c.create({"id": "mine", "tenantId": "t1"})
        worker = threading.Thread(target=other_thread)
        worker.start()
        started.wait(5)
        time.sleep(0.05)
        assert not done.is_set()  # it waits for the unit's write lock
        raise Boom  # rolls back the unit: "theirs" is not part of it
    worker.join(5)
    assert done.is_set()
    assert names(store) == {"theirs"}


def test_sqlite_ttl_applies_to_documents_the_unit_has_read(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "TTL is not enforced")
    assert backend.clock is not None
    c = things(store)
    c.create({"id": "short", "tenantId": "t1", "ttl": 10})
    with store.unit_of_work():
        assert c.read("short", "t1")["id"] == "short"  # now in the unit's cache
        backend.clock.advance(timedelta(seconds=11))
        with pytest.raises(NotFound):
            c.read("short", "t1")
        c.create({"id": "short", "tenantId": "t1", "v": 2})  # the id is free again
    assert c.read("short", "t1")["v"] == 2
