"""Translate a portable ``Query`` into SQLite SQL over JSON documents.

Why type guards everywhere: ``json_extract`` returns native SQLite values, and SQLite
happily compares a string with a number (every TEXT sorts after every INTEGER) and
returns booleans as 0/1. Cosmos DB instead treats a comparison across JSON types as
*undefined* (the item is left out). Every condition therefore checks ``json_type``
first, so ``Filter("qty", ">", 0)`` skips ``"qty": "5"`` and ``Filter("flag", "=", True)``
matches ``true`` but not ``1`` -- exactly as on Cosmos DB.

Paging is keyset-based (the last row's sort key travels in the continuation token), so
a walk sees every item exactly once even if items are written between pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.adapters.store_common import field_segments, in_values, scalar_kind
from shared.ports import Filter, InvalidQuery, OrderBy, Query

_NUMBER_TYPES = "('integer','real')"
_BOOL_JSON = {True: "true", False: "false"}

# Cosmos DB's cross-type sort order: undefined < null < false < true < numbers < strings.
_RANK_SQL = (
    "CASE json_type(doc, {p}) WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 "
    "WHEN 'integer' THEN 4 WHEN 'real' THEN 4 WHEN 'text' THEN 5 WHEN 'array' THEN 6 "
    "WHEN 'object' THEN 7 ELSE 0 END"
)
_VALUE_SQL = (
    "CASE WHEN json_type(doc, {p}) IN ('integer','real','text') "
    "THEN json_extract(doc, {p}) ELSE 0 END"
)


def json_path(field: str) -> str:
    """``"a.b"`` -> ``"$.a.b"`` after strict validation (identifiers only)."""
    return "$." + ".".join(field_segments(field))


def _equals(path: str, value: Any) -> tuple[str, list[Any]]:
    kind = scalar_kind(value)
    if kind == "bool":
        return "json_type(doc, ?) = ?", [path, _BOOL_JSON[value]]
    if kind == "null":
        return "json_type(doc, ?) = 'null'", [path]
    types = _NUMBER_TYPES if kind == "number" else "('text')"
    return f"(json_type(doc, ?) IN {types} AND json_extract(doc, ?) = ?)", [path, path, value]


def filter_sql(flt: Filter) -> tuple[str, list[Any]]:
    """One filter as a SQL boolean expression over the ``doc`` column, with its params."""
    path = json_path(flt.field)
    op, value = flt.op, flt.value
    if op == "=":
        return _equals(path, value)
    if op == "!=":
        kind = scalar_kind(value)
        if kind == "bool":
            return "json_type(doc, ?) = ?", [path, _BOOL_JSON[not value]]
        if kind == "null":
            return "0", []  # null != null is false; null vs another type is undefined
        types = _NUMBER_TYPES if kind == "number" else "('text')"
        return f"(json_type(doc, ?) IN {types} AND json_extract(doc, ?) != ?)", [path, path, value]
    if op in ("<", "<=", ">", ">="):
        kind = scalar_kind(value)
        if kind not in ("number", "string"):
            raise InvalidQuery(f"{op!r} compares numbers or strings, not {kind}")
        types = _NUMBER_TYPES if kind == "number" else "('text')"
        return f"(json_type(doc, ?) IN {types} AND json_extract(doc, ?) {op} ?)", [path, path, value]
    if op == "in":
        values = in_values(value)
        if not values:
            return "0", []
        parts = [_equals(path, v) for v in values]
        return "(" + " OR ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]
    if op == "startswith":
        if not isinstance(value, str):
            raise InvalidQuery("'startswith' takes a string")
        sql = "(json_type(doc, ?) = 'text' AND substr(json_extract(doc, ?), 1, length(?)) = ?)"
        return sql, [path, path, value, value]
    if op == "exists":
        if not isinstance(value, bool):
            raise InvalidQuery("'exists' takes True or False")
        return f"json_type(doc, ?) IS {'NOT ' if value else ''}NULL", [path]
    raise InvalidQuery(f"unknown filter operator {op!r}")


def encode_token(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidQuery("malformed continuation token") from exc
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise InvalidQuery("malformed continuation token")
    return payload


@dataclass(frozen=True)
class SqlPlan:
    """SQL text and parameters for one page, and how to read each row's sort key."""

    sql: str
    params: list[Any]
    key_columns: int  # trailing columns of each row that form its keyset position
    fingerprint: str


def plan_query(
    query: Query,
    *,
    container: str,
    partition_key: str | None,
    now: int,
) -> SqlPlan:
    """Build the page query: filters, order, keyset position from the token, limit+1.

    Rows are ``(doc, <sort key...>)``; the sort key is (rank, value, id, pk) with an
    ``order_by`` and (id, pk) without, so every row has a unique, total position.
    """
    if query.limit is not None and (
        isinstance(query.limit, bool) or not isinstance(query.limit, int) or query.limit <= 0
    ):
        raise InvalidQuery("limit must be a positive integer")
    where = ["container = ?", "(expires_at IS NULL OR expires_at > ?)"]
    params: list[Any] = [container, now]
    if partition_key is not None:
        where.append("pk = ?")
        params.append(partition_key)
    for flt in query.where:
        sql, flt_params = filter_sql(flt)
        where.append(sql)
        params.extend(flt_params)
    order: OrderBy | None = query.order_by
    key_sql: list[str] = []
    key_params: list[Any] = []
    if order is not None:
        path = json_path(order.field)
        key_sql = [_RANK_SQL.format(p="?"), _VALUE_SQL.format(p="?")]
        key_params = [path, path, path]
    key_sql += ["id", "pk"]
    key_names = [f"k{i}" for i in range(len(key_sql))]
    descending = bool(order and order.descending)
    fingerprint = f"{order.field}:{'d' if descending else 'a'}" if order else "-"
    inner = (
        "SELECT doc, "
        + ", ".join(f"{expr} AS {name}" for expr, name in zip(key_sql, key_names, strict=True))
        + " FROM items WHERE "
        + " AND ".join(where)
    )
    all_params = key_params + params
    outer_where = ""
    if query.continuation:
        token = decode_token(query.continuation)
        after = token.get("k")
        if token.get("f") != fingerprint or not isinstance(after, list) or len(after) != len(key_names):
            raise InvalidQuery("continuation token does not belong to this query")
        cmp = "<" if descending else ">"
        placeholders = ", ".join("?" for _ in key_names)
        outer_where = f" WHERE ({', '.join(key_names)}) {cmp} ({placeholders})"
        all_params.extend(after)
    direction = " DESC" if descending else ""
    sql = (
        f"SELECT * FROM ({inner}){outer_where} ORDER BY "
        + ", ".join(name + direction for name in key_names)
    )
    if query.limit is not None:
        sql += " LIMIT ?"
        all_params.append(query.limit + 1)
    return SqlPlan(sql=sql, params=all_params, key_columns=len(key_names), fingerprint=fingerprint)


def next_token(plan: SqlPlan, last_row: Sequence[Any]) -> str:
    """The continuation token that resumes right after ``last_row``."""
    key = list(last_row[len(last_row) - plan.key_columns :])
    return encode_token({"v": 1, "f": plan.fingerprint, "k": key})
