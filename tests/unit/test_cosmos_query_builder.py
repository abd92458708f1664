"""The Cosmos DB SQL the adapter sends: pinned text and parameters, no server needed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.cosmos_query import build_sql, field_ref
from shared.ports import Filter, InvalidQuery, OrderBy, Query


def sql_for(
    query: Query, partition_key: str | None = None, pk_field: str = "tenantId"
) -> tuple[str, list[dict[str, Any]]]:
    return build_sql(query, partition_key_field=pk_field, partition_key=partition_key)


def test_empty_query_cross_partition() -> None:
    assert sql_for(Query()) == ("SELECT * FROM c", [])


def test_partition_key_is_always_in_the_where_clause() -> None:
    sql, params = sql_for(Query(where=[Filter("status", "=", "open")]), partition_key="t1")
    assert sql == 'SELECT * FROM c WHERE c["tenantId"] = @pk AND c["status"] = @p0'
    assert params == [{"name": "@pk", "value": "t1"}, {"name": "@p0", "value": "open"}]


def test_nested_partition_key_path() -> None:
    sql, _ = sql_for(Query(), partition_key="t1", pk_field="owner.tenant")
    assert sql == 'SELECT * FROM c WHERE c["owner"]["tenant"] = @pk'


def test_field_paths_use_brackets_so_keywords_are_safe() -> None:
    assert field_ref("value") == 'c["value"]'
    assert field_ref("halt.scope") == 'c["halt"]["scope"]'


@pytest.mark.parametrize(
    ("flt", "expected_sql", "expected_values"),
    [
        (Filter("a", "=", 1), 'c["a"] = @p0', [1]),
        (Filter("a", "=", None), 'c["a"] = @p0', [None]),
        (Filter("a", "!=", 1), '(IS_NUMBER(c["a"]) AND c["a"] != @p0)', [1]),
        (Filter("a", "!=", "x"), '(IS_STRING(c["a"]) AND c["a"] != @p0)', ["x"]),
        (Filter("a", "!=", True), '(IS_BOOL(c["a"]) AND c["a"] != @p0)', [True]),
        (Filter("a", "!=", None), "false", []),
        (Filter("a", "<", 1), 'c["a"] < @p0', [1]),
        (Filter("a", "<=", 1.5), 'c["a"] <= @p0', [1.5]),
        (Filter("a", ">", "m"), 'c["a"] > @p0', ["m"]),
        (Filter("a", ">=", 0), 'c["a"] >= @p0', [0]),
        (Filter("a", "in", [1, "b", True]), 'c["a"] IN (@p0, @p1, @p2)', [1, "b", True]),
        (Filter("a", "in", ()), "false", []),
        (Filter("a.b", "startswith", "x"), 'STARTSWITH(c["a"]["b"], @p0)', ["x"]),
        (Filter("a", "exists", True), 'IS_DEFINED(c["a"])', []),
        (Filter("a", "exists", False), 'NOT IS_DEFINED(c["a"])', []),
    ],
)
def test_each_filter_operator(flt: Filter, expected_sql: str, expected_values: list[Any]) -> None:
    sql, params = sql_for(Query(where=[flt]))
    assert sql == f"SELECT * FROM c WHERE {expected_sql}"
    assert [p["value"] for p in params] == expected_values
    assert [p["name"] for p in params] == [f"@p{i}" for i in range(len(expected_values))]


def test_conjunction_and_order() -> None:
    query = Query(
        where=[Filter("qty", ">", 1), Filter("side", "=", "buy")],
        order_by=OrderBy("created.at", descending=True),
        limit=10,
    )
    sql, params = sql_for(query, partition_key="acct")
    assert sql == (
        'SELECT * FROM c WHERE c["tenantId"] = @pk AND c["qty"] > @p0 AND c["side"] = @p1'
        ' ORDER BY c["created"]["at"] DESC'
    )
    assert [p["value"] for p in params] == ["acct", 1, "buy"]
    assert sql_for(Query(order_by=OrderBy("x")))[0] == 'SELECT * FROM c ORDER BY c["x"] ASC'


def test_values_never_reach_the_sql_text() -> None:
    hostile = '"; DROP c; --'
    sql, params = sql_for(Query(where=[Filter("a", "=", hostile)]), partition_key=hostile)
    assert hostile not in sql
    assert [p["value"] for p in params] == [hostile, hostile]


@pytest.mark.parametrize(
    "query",
    [
        Query(where=[Filter('a"]) OR 1=1 --', "=", 1)]),
        Query(where=[Filter("a b", "=", 1)]),
        Query(where=[Filter("", "=", 1)]),
        Query(where=[Filter("a", "~", 1)]),  # type: ignore[arg-type]
        Query(where=[Filter("a", ">", None)]),
        Query(where=[Filter("a", "<", False)]),
        Query(where=[Filter("a", "=", {"x": 1})]),
        Query(where=[Filter("a", "in", "abc")]),
        Query(where=[Filter("a", "in", [[1]])]),
        Query(where=[Filter("a", "startswith", 3)]),
        Query(where=[Filter("a", "exists", 1)]),
        Query(where=[Filter("a", "=", float("inf"))]),
        Query(order_by=OrderBy("a-b")),
        Query(limit=0),
        Query(limit=-3),
    ],
)
def test_invalid_queries_raise_before_any_io(query: Query) -> None:
    with pytest.raises(InvalidQuery):
        sql_for(query)
