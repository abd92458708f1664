"""Build parameterized Cosmos DB SQL from a portable ``Query`` (pure; no Azure import).

Why a separate pure function: the generated text is the contract with Cosmos DB, and
it is cheapest to pin with unit tests. Values are always bound as ``@pN`` parameters;
field paths are validated identifiers written in bracket form (``c["a"]["b"]``) so a
property named like a keyword (``value``, ``order``) cannot break the statement.

Semantics match the SQLite adapter: ``!=`` is guarded by the value's type because real
Cosmos DB treats a cross-type comparison as undefined (item excluded) while the test
stand-in treats it as true; with the guard both answer the same.
"""

from __future__ import annotations

from typing import Any

from shared.adapters.store_common import field_segments, in_values, scalar_kind
from shared.ports import Filter, InvalidQuery, Query

_TYPE_CHECK = {"number": "IS_NUMBER", "string": "IS_STRING", "bool": "IS_BOOL"}


def field_ref(field: str) -> str:
    """``"a.b"`` -> ``c["a"]["b"]`` (segments are validated identifiers, safe to quote)."""
    return "c" + "".join(f'["{segment}"]' for segment in field_segments(field))


class _Params:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, value: Any) -> str:
        name = f"@p{len(self.items)}"
        self.items.append({"name": name, "value": value})
        return name


def _condition(flt: Filter, params: _Params) -> str:
    ref = field_ref(flt.field)
    op, value = flt.op, flt.value
    if op == "=":
        scalar_kind(value)
        return f"{ref} = {params.add(value)}"
    if op == "!=":
        kind = scalar_kind(value)
        if kind == "null":
            return "false"  # null != null is false; null vs another type is undefined
        return f"({_TYPE_CHECK[kind]}({ref}) AND {ref} != {params.add(value)})"
    if op in ("<", "<=", ">", ">="):
        kind = scalar_kind(value)
        if kind not in ("number", "string"):
            raise InvalidQuery(f"{op!r} compares numbers or strings, not {kind}")
        return f"{ref} {op} {params.add(value)}"
    if op == "in":
        values = in_values(value)
        if not values:
            return "false"
        return f"{ref} IN ({', '.join(params.add(v) for v in values)})"
    if op == "startswith":
        if not isinstance(value, str):
            raise InvalidQuery("'startswith' takes a string")
        return f"STARTSWITH({ref}, {params.add(value)})"
    if op == "exists":
        if not isinstance(value, bool):
            raise InvalidQuery("'exists' takes True or False")
        return f"IS_DEFINED({ref})" if value else f"NOT IS_DEFINED({ref})"
    raise InvalidQuery(f"unknown filter operator {op!r}")


def build_sql(
    query: Query, *, partition_key_field: str, partition_key: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """``(sql, parameters)`` for ``query_items``.

    With a partition key the WHERE clause always carries ``c.<pk> = @pk``: the stand-in
    ignores the SDK's ``partition_key`` argument, and on real Cosmos DB it is harmless.
    """
    if query.limit is not None and (
        isinstance(query.limit, bool) or not isinstance(query.limit, int) or query.limit <= 0
    ):
        raise InvalidQuery("limit must be a positive integer")
    params = _Params()
    conditions: list[str] = []
    if partition_key is not None:
        if not isinstance(partition_key, str):
            raise InvalidQuery("partition key values are strings")
        conditions.append(f"{field_ref(partition_key_field)} = @pk")
    conditions.extend(_condition(flt, params) for flt in query.where)
    parameters = params.items
    if partition_key is not None:
        parameters = [{"name": "@pk", "value": partition_key}, *parameters]
    sql = "SELECT * FROM c"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if query.order_by is not None:
        direction = "DESC" if query.order_by.descending else "ASC"
        sql += f" ORDER BY {field_ref(query.order_by.field)} {direction}"
    return sql, parameters
