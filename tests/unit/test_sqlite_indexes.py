"""The embedded store's secondary indexes: same answers, found through the index.

A query steered onto an index (``sqlite_indexes.hinted``) must return exactly the rows
the plain scan returns, whatever JSON types the documents hold (a status that is a
number, a boolean, null or missing must match or not exactly as before), and SQLite
must actually use the index (else the partition scan this exists to avoid is back).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_indexes import hinted, index_name
from shared.adapters.sqlite_query import plan_query
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import ContainerSpec, Filter, Query

SPECS = (ContainerSpec("orders", "/accountId"), ContainerSpec("ledger", "/accountId"))
POLICY = {"orders": ("status", "kind"), "ledger": ("at",)}
VALUES: list[Any] = ["new", "filled", "order", "fill", 1, 1.0, 0, True, False, None, "", "2024-01-02T00:00:00Z"]


def _doc(rng: random.Random, n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": f"d{n}", "accountId": rng.choice(["a", "b"])}
    for field in ("status", "kind", "at"):
        if rng.random() < 0.8:
            doc[field] = rng.choice(VALUES)
    return doc


FILTERS = [
    [Filter("status", "=", "new")],
    [Filter("status", "=", 1)],
    [Filter("status", "=", True)],
    [Filter("status", "=", None)],
    [Filter("kind", "=", "order"), Filter("status", "in", ["new", "filled", 1])],
    [Filter("kind", "in", ["order", "fill"])],
    [Filter("status", "in", [])],
    [Filter("status", ">=", "f")],
    [Filter("status", "<", 1)],
    [Filter("at", ">=", "2024-01-01T00:00:00Z")],
    [Filter("kind", "!=", "order")],
]


@pytest.mark.parametrize("where", FILTERS, ids=[repr(f) for f in FILTERS])
def test_hinted_queries_return_what_the_scan_returns(tmp_path: Path, where: list[Filter]) -> None:
    rng = random.Random(7)
    indexed = SqliteStore(tmp_path / "indexed.sqlite", SPECS, clock=ManualClock(), indexes=POLICY)
    plain = SqliteStore(tmp_path / "plain.sqlite", SPECS, clock=ManualClock(), indexes={})
    try:
        for n in range(300):
            doc = _doc(rng, n)
            for store in (indexed, plain):
                for container in ("orders", "ledger"):
                    store.container(container).create(doc)
        for container in ("orders", "ledger"):
            for pk in ("a", "b"):
                got = indexed.container(container).query(Query(where=where), partition_key=pk).items
                want = plain.container(container).query(Query(where=where), partition_key=pk).items
                assert [d["id"] for d in got] == [d["id"] for d in want]
    finally:
        indexed.close()
        plain.close()


def test_sqlite_uses_the_index_for_a_hinted_query(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite", SPECS, clock=ManualClock(), indexes=POLICY)
    try:
        where = [Filter("kind", "=", "order"), Filter("status", "in", ["new", "partially-filled"])]
        plan = plan_query(Query(where=where), container="orders", partition_key="a", now=0)
        sql, params = hinted(plan.sql, plan.params, container="orders", where=where, policy=POLICY)
        assert sql != plan.sql
        steps = store.run(lambda conn: conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        assert any(index_name("orders", "status") in str(step) for step in steps), steps
        # a field the policy does not index leaves the query as planned
        other = [Filter("symbol", "=", "BTCUSDT")]
        plan = plan_query(Query(where=other), container="orders", partition_key="a", now=0)
        assert hinted(plan.sql, plan.params, container="orders", where=other, policy=POLICY) == (plan.sql, plan.params)
    finally:
        store.close()
