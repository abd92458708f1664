"""Planned SQL for a query, built once per query shape and reused.

Why: every API read and every risk check runs the same few queries ("the tenant's
profiles", "the account's positions", "its open orders") with only the partition key and
the clock changing. Planning one (``plan_query`` then ``hinted``: validating fields,
composing the type-guarded SQL, choosing the index) cost about as much as SQLite running
it. So a plan is kept per shape (container, filters with their values and value types,
order, page size) and only the partition key and ``now`` are put into a copy of its
parameters on each use.

What is never cached: a query with a continuation token (each token is a new position
and must be checked), and one whose filter values cannot be hashed or are sets. The
value's type is part of the shape: ``True == 1`` in Python, but the two plan different
SQL (and ``{True} == {1}``, so a set's members' types cannot be keyed: sets are planned
afresh).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from shared.adapters.sqlite_indexes import hinted
from shared.adapters.sqlite_query import SqlPlan, plan_query
from shared.ports import Query

MAX_PLANS: Final = 512


class _Slot:
    """Stands where a per-call value (``now``, the partition key) goes in the parameters."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_NOW: Final = _Slot("now")
_PARTITION: Final = _Slot("partition key")


class PlanCache:
    """Plans by query shape; safe to share between threads."""

    def __init__(self, policy: Mapping[str, Sequence[str]], max_plans: int = MAX_PLANS) -> None:
        self._policy = policy
        self._max = max_plans
        self._plans: dict[Any, tuple[SqlPlan, str, tuple[Any, ...], tuple[int, ...], tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._plans)

    def plan(self, query: Query, *, container: str, partition_key: str | None,
             now: int) -> tuple[SqlPlan, str, list[Any]]:
        """(plan, sql, params) for this query now, as ``plan_query`` + ``hinted`` give."""
        key = _shape(container, partition_key is not None, query)
        cached = self._plans.get(key) if key is not None else None
        if cached is None:
            if key is None:
                return self._build(query, container, partition_key, now)
            cached = self._template(query, container, partition_key is not None)
            with self._lock:
                if len(self._plans) >= self._max:
                    self._plans.clear()  # a new shape per call would be a bug elsewhere; stay bounded
                self._plans[key] = cached
        plan, sql, template, now_at, partition_at = cached
        params = list(template)
        for index in now_at:
            params[index] = now
        for index in partition_at:
            params[index] = partition_key
        return plan, sql, params

    def _build(self, query: Query, container: str, partition_key: str | None,
               now: int) -> tuple[SqlPlan, str, list[Any]]:
        plan = plan_query(query, container=container, partition_key=partition_key, now=now)
        sql, params = plan.sql, plan.params
        if partition_key is not None:
            sql, params = hinted(sql, params, container=container, where=query.where, policy=self._policy)
        return plan, sql, params

    def _template(self, query: Query, container: str,
                  partitioned: bool) -> tuple[SqlPlan, str, tuple[Any, ...], tuple[int, ...], tuple[int, ...]]:
        slot_partition = cast(str, _PARTITION) if partitioned else None
        plan, sql, params = self._build(query, container, slot_partition, cast(int, _NOW))
        now_at = tuple(i for i, p in enumerate(params) if p is _NOW)
        partition_at = tuple(i for i, p in enumerate(params) if p is _PARTITION)
        return plan, sql, tuple(params), now_at, partition_at


def _shape(container: str, partitioned: bool, query: Query) -> Any:
    """A hashable key for everything but the partition key and now; None: do not cache."""
    if query.continuation is not None:
        return None
    try:
        filters = tuple((f.field, f.op, _typed(f.value)) for f in query.where)
        key = (container, partitioned, filters, query.order_by, query.limit)
        hash(key)
    except TypeError:
        return None
    return key


def _typed(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ("seq", tuple(_typed(v) for v in value))
    if isinstance(value, set | frozenset | dict):
        raise TypeError("not cached")  # {True} == {1}: a set's own equality hides its members' types
    return (type(value), value)
