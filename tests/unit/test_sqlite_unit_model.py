"""The SQLite unit of work against a model: random writes, queries and nested units.

Why a model: inside a unit the store keeps writes back, answers simple queries from
live results, and makes savepoints lazily, undoing kept-back writes from a log. Each of
those is easy to get subtly wrong (a write flushed inside a savepoint that is then rolled
back, a nested unit released into one that fails later, ...). Here seeded random
sequences of operations run against the store and against a plain dict with a snapshot
per nested unit, and every read, every query and the committed file must agree.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import BatchOp, ContainerSpec, Filter, NotFound, Query

SPECS = (ContainerSpec("things", "/tenantId"), ContainerSpec("others", "/tenantId"))
IDS = [f"i{n}" for n in range(8)]
KINDS = ["a", "b", "c"]


class Rollback(Exception):
    pass


class Model:
    """What the store must show: (container, id) -> (kind, v) in partition "t"."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], tuple[str, int]] = {}
        self.frames: list[dict[tuple[str, str], tuple[str, int]]] = []


def _query(kind: str | list[str], limit: int | None) -> Query:
    """With a limit it is not a live query: it runs as SQL, flushing what was kept back."""
    where = [Filter("kind", "in", kind)] if isinstance(kind, list) else [Filter("kind", "=", kind)]
    return Query(where=where, limit=limit)


def _check_views(store: SqliteStore, model: Model, rng: random.Random) -> None:
    name = rng.choice(["things", "others"])
    c = store.container(name)
    ident = rng.choice(IDS)
    expected = model.state.get((name, ident))
    if expected is None:
        with pytest.raises(NotFound):
            c.read(ident, "t")
    else:
        doc = c.read(ident, "t")
        assert (doc["kind"], doc["v"]) == expected
    kinds: str | list[str] = rng.choice(KINDS) if rng.random() < 0.5 else rng.sample(KINDS, 2)
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    query = _query(kinds, rng.choice([None, None, 100]))
    got = [(d["id"], d["kind"], d["v"]) for d in c.query(query, partition_key="t").items]
    want = sorted((i, k, v) for (n, i), (k, v) in model.state.items() if n == name and k in wanted)
    assert got == want


def _step(store: SqliteStore, model: Model, rng: random.Random, depth: int) -> None:
    name = rng.choice(["things", "others"])
    c = store.container(name)
    ident = rng.choice(IDS)
    roll = rng.random()
    if roll < 0.35:
        kind, v = rng.choice(KINDS), rng.randrange(1000)
        c.upsert({"id": ident, "tenantId": "t", "kind": kind, "v": v})
        model.state[(name, ident)] = (kind, v)
    elif roll < 0.45:
        if (name, ident) in model.state:
            c.delete(ident, "t")
            del model.state[(name, ident)]
    elif roll < 0.6:
        kind, v = rng.choice(KINDS), rng.randrange(1000)
        c.batch("t", [BatchOp("upsert", item={"id": ident, "tenantId": "t", "kind": kind, "v": v}),
                      BatchOp("upsert", item={"id": ident + "x", "tenantId": "t", "kind": kind, "v": v + 1})])
        model.state[(name, ident)] = (kind, v)
        model.state[(name, ident + "x")] = (kind, v + 1)
    elif roll < 0.8:
        _check_views(store, model, rng)
    elif depth < 3:
        fail = rng.random() < 0.4
        model.frames.append(dict(model.state))
        try:
            with store.unit_of_work():
                for _ in range(rng.randrange(1, 8)):
                    _step(store, model, rng, depth + 1)
                if fail:
                    raise Rollback
        except Rollback:
            model.state = model.frames.pop()
        else:
            model.frames.pop()


@pytest.mark.parametrize("seed", range(40))
def test_a_unit_shows_and_commits_what_a_plain_model_does(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SqliteStore(tmp_path / "store.sqlite", SPECS, clock=ManualClock())
    model = Model()
    # some committed history first, written outside any unit
    for ident in rng.sample(IDS, 4):
        kind = rng.choice(KINDS)
        store.container("things").create({"id": ident, "tenantId": "t", "kind": kind, "v": 0})
        model.state[("things", ident)] = (kind, 0)
    outer_fails = rng.random() < 0.2
    committed = dict(model.state)
    try:
        with store.unit_of_work():
            for _ in range(60):
                _step(store, model, rng, 0)
            _check_views(store, model, rng)
            if outer_fails:
                raise Rollback
    except Rollback:
        model.state = committed
    fresh = SqliteStore(tmp_path / "store.sqlite", SPECS, clock=ManualClock())
    try:
        for name in ("things", "others"):
            got = {(name, d["id"]): (d["kind"], d["v"])
                   for d in fresh.container(name).query(Query(), partition_key="t").items}
            assert got == {k: v for k, v in model.state.items() if k[0] == name}
    finally:
        fresh.close()
        store.close()


def test_the_model_test_exercises_flushes_inside_savepoints(tmp_path: Path) -> None:
    """Guard against the random test going soft: some seed must open a SQL savepoint
    (a flush inside a nested unit) and roll it back."""
    from shared.adapters import sqlite_unit

    seen: list[Any] = []
    original = sqlite_unit.UnitScope._leave_savepoint

    def spy(self: Any, exc: BaseException | None) -> None:
        if self.frame is not None and self.frame.opened and exc is not None:
            seen.append(self.frame.name)
        original(self, exc)

    sqlite_unit.UnitScope._leave_savepoint = spy  # type: ignore[method-assign]
    try:
        for seed in range(40):
            (tmp_path / str(seed)).mkdir()
            test_a_unit_shows_and_commits_what_a_plain_model_does(tmp_path / str(seed), seed)
    finally:
        sqlite_unit.UnitScope._leave_savepoint = original  # type: ignore[method-assign]
    assert seen


MIXED: list[Any] = ["new", "filled", 1, 1.0, 0, 2.5, True, False, None, "", {"x": 1}, [1]]


@pytest.mark.parametrize("where", [
    [Filter("status", "=", "new")], [Filter("status", "=", 1)], [Filter("status", "=", True)],
    [Filter("status", "=", False)], [Filter("status", "=", None)], [Filter("status", "=", 0)],
    [Filter("status", "in", ["new", 1, None])], [Filter("status", "in", [])],
    [Filter("kind", "=", "a"), Filter("status", "in", ["filled", 2.5, False])],
], ids=repr)
def test_live_queries_answer_as_sql_does_on_every_json_type(tmp_path: Path, where: list[Filter]) -> None:
    from shared.domain.trading import OrderStatus

    rng = random.Random(11)
    values = [*MIXED, OrderStatus.NEW, OrderStatus.FILLED]  # str enums are written as their strings
    store = SqliteStore(tmp_path / "store.sqlite", SPECS, clock=ManualClock())
    c = store.container("things")

    def put(n: int) -> None:
        doc: dict[str, Any] = {"id": f"d{n:03d}", "tenantId": "t", "kind": rng.choice(KINDS)}
        if rng.random() < 0.85:
            doc["status"] = rng.choice(values)
        c.upsert(doc)

    for n in range(40):
        put(n)
    query = Query(where=where)
    with store.unit_of_work():
        c.query(query, partition_key="t")  # the live answer is made by SQL here
        for n in range(20, 80):  # rewrites and new items: the live answer follows them
            put(n)
        live = [d["id"] for d in c.query(query, partition_key="t").items]
    sql = [d["id"] for d in c.query(query, partition_key="t").items]  # outside a unit: plain SQL
    assert live == sql
    store.close()
