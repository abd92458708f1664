"""Cached query plans give exactly the SQL and parameters a fresh plan would, whatever
the partition key and the clock, and never conflate two shapes that plan differently."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.sqlite_indexes import DEFAULT_INDEXES, hinted
from shared.adapters.sqlite_plans import PlanCache
from shared.adapters.sqlite_query import next_token, plan_query
from shared.ports import Filter, OrderBy, Query

QUERIES = [
    Query(where=[Filter("kind", "=", "profile")], limit=200),
    Query(where=[Filter("kind", "=", "position")]),
    Query(where=[Filter("kind", "=", "order"), Filter("status", "in", ["new", "partially-filled"])]),
    Query(where=[Filter("kind", "=", "decision"), Filter("action", "=", "buy")],
          order_by=OrderBy("createdAt", descending=True), limit=50),
    Query(where=[Filter("active", "=", True)]),
    Query(where=[Filter("active", "=", 1)]),
    Query(where=[Filter("qty", ">", 0.5), Filter("note", "exists", False)]),
    Query(where=[Filter("id", "startswith", "ord-")], order_by=OrderBy("qty")),
]


def fresh(query: Query, container: str, partition_key: str | None, now: int) -> tuple[str, list[Any]]:
    plan = plan_query(query, container=container, partition_key=partition_key, now=now)
    sql, params = plan.sql, plan.params
    if partition_key is not None:
        sql, params = hinted(sql, params, container=container, where=query.where, policy=DEFAULT_INDEXES)
    return sql, params


@pytest.mark.parametrize("container", ["orders", "profiles", "decisions", "controls"])
def test_a_cached_plan_equals_a_fresh_one_for_every_partition_and_time(container: str):
    cache = PlanCache(DEFAULT_INDEXES)
    for round_ in range(3):
        for query in QUERIES:
            for partition_key in (None, "acct-1", "acct-2"):
                now = 1_700_000_000 + round_ * 17
                plan, sql, params = cache.plan(query, container=container, partition_key=partition_key, now=now)
                assert (sql, params) == fresh(query, container, partition_key, now)
                assert plan.key_columns == plan_query(query, container=container, partition_key=partition_key,
                                                      now=now).key_columns
    assert len(cache) == len(QUERIES) * 2  # one per shape, with and without a partition key


def test_true_and_one_are_different_shapes():
    cache = PlanCache(DEFAULT_INDEXES)
    as_bool = cache.plan(Query(where=[Filter("active", "=", True)]), container="controls", partition_key="g", now=1)
    as_int = cache.plan(Query(where=[Filter("active", "=", 1)]), container="controls", partition_key="g", now=1)
    assert as_bool[1] != as_int[1] and len(cache) == 2


def test_a_continuation_is_planned_afresh_each_time():
    cache = PlanCache(DEFAULT_INDEXES)
    query = Query(where=[Filter("kind", "=", "order")], limit=1)
    first = cache.plan(query, container="orders", partition_key="a", now=5)[0]
    token = next_token(first, ["doc", "ord-1", "a"])
    paged = Query(where=query.where, limit=1, continuation=token)
    _, sql, params = cache.plan(paged, container="orders", partition_key="a", now=6)
    assert (sql, params) == fresh(paged, "orders", "a", 6)
    assert len(cache) == 1


def test_unhashable_values_are_planned_without_the_cache():
    cache = PlanCache(DEFAULT_INDEXES)
    query = Query(where=[Filter("meta", "=", {"a": 1})])  # a dict: not hashable
    with pytest.raises(Exception) as cached_error:
        cache.plan(query, container="orders", partition_key="a", now=1)
    with pytest.raises(Exception) as fresh_error:
        fresh(query, "orders", "a", 1)
    assert type(cached_error.value) is type(fresh_error.value) and len(cache) == 0


def test_the_cache_stays_bounded():
    cache = PlanCache(DEFAULT_INDEXES, max_plans=8)
    for n in range(20):
        cache.plan(Query(where=[Filter("id", "=", f"ord-{n}")]), container="orders", partition_key="a", now=1)
    assert 1 <= len(cache) <= 8


def test_sets_are_planned_afresh_because_true_and_one_are_equal_members():
    cache = PlanCache(DEFAULT_INDEXES)
    as_bool = cache.plan(Query(where=[Filter("flag", "in", frozenset({True}))]), container="controls",
                         partition_key="g", now=1)
    as_int = cache.plan(Query(where=[Filter("flag", "in", frozenset({1}))]), container="controls",
                        partition_key="g", now=1)
    assert as_bool[1:] == fresh(Query(where=[Filter("flag", "in", frozenset({True}))]), "controls", "g", 1)
    assert as_int[1:] == fresh(Query(where=[Filter("flag", "in", frozenset({1}))]), "controls", "g", 1)
    assert as_bool[1] != as_int[1] and len(cache) == 0
