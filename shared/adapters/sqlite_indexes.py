"""Secondary indexes of the embedded store: the SQLite side of an indexing policy.

Why: Cosmos DB indexes every path, so "the open orders of an account" costs what it
returns. SQLite would instead scan the whole partition and parse every document's JSON
(every order, fill and ledger entry the account ever had), so execution got slower with
each trade. Here each hot (container, field) pair gets a partial expression index on
``json_extract(doc, '$.field')`` within its partition.

How queries use them without touching ``sqlite_query`` (which binds field paths as
parameters, so SQLite can never match an expression index): ``hinted`` adds one
*redundant* condition on the indexed expression, spelled with the literal path, plus
``INDEXED BY``. The condition is implied by the planned filter (whose JSON type checks
stay in place), so results are exactly the same rows; only the access path changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.adapters.store_common import FIELD_PATH_RE
from shared.ports import Filter

#: container -> fields its hot queries filter on, the most selective first (the first
#: one a query filters on is the index it uses).
DEFAULT_INDEXES: Mapping[str, tuple[str, ...]] = {
    "orders": ("status", "kind"),  # open orders; one kind (positions, the outbox, ...)
    "paper": ("status",),  # the paper book's open orders
    "ledger": ("at",),  # entries since a time (the daily loss limit before its running total)
}

_CONTAINER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_ANCHOR = " FROM items WHERE "
_RANGE_OPS = ("<", "<=", ">", ">=")


def index_name(container: str, field: str) -> str:
    return f"items_{container.replace('-', '_')}_{field.replace('.', '_')}"


def _checked(container: str, field: str) -> None:
    if not _CONTAINER_RE.fullmatch(container) or not FIELD_PATH_RE.fullmatch(field):
        raise ValueError(f"cannot index {container}.{field}: names must be plain identifiers")


def index_ddl(policy: Mapping[str, Sequence[str]]) -> list[str]:
    """``CREATE INDEX`` statements for a policy (names are validated, then inlined)."""
    statements = []
    for container, fields in policy.items():
        for field in fields:
            _checked(container, field)
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {index_name(container, field)} ON items "
                f"(container, pk, json_extract(doc, '$.{field}')) WHERE container = '{container}'"
            )
    return statements


def _scalar(value: Any) -> bool:
    # bool is an int, but json_extract gives 0/1 for JSON booleans: leave them to the scan
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _condition(flt: Filter) -> tuple[str, list[Any]] | None:
    """The redundant index condition one filter implies, or None if it implies none."""
    expr = f"json_extract(doc, '$.{flt.field}')"
    if flt.op == "=" and _scalar(flt.value):
        return f"{expr} = ?", [flt.value]
    if flt.op in _RANGE_OPS and _scalar(flt.value):
        return f"{expr} {flt.op} ?", [flt.value]
    if flt.op == "in" and isinstance(flt.value, list | tuple) and flt.value and all(map(_scalar, flt.value)):
        return f"{expr} IN ({', '.join('?' for _ in flt.value)})", list(flt.value)
    return None


def hinted(
    sql: str,
    params: list[Any],
    *,
    container: str,
    where: Sequence[Filter],
    policy: Mapping[str, Sequence[str]],
) -> tuple[str, list[Any]]:
    """``sql``/``params`` of a partition query steered onto the container's best index.

    Unchanged when no filter matches an indexed field, or the SQL is not the shape
    ``plan_query`` builds (then it simply runs as planned).
    """
    fields = policy.get(container, ())
    if not fields or sql.count(_ANCHOR) != 1:
        return sql, params
    by_field: dict[str, list[Filter]] = {}
    for flt in where:
        by_field.setdefault(flt.field, []).append(flt)
    for field in fields:
        conditions = [c for c in map(_condition, by_field.get(field, ())) if c is not None]
        if not conditions:
            continue
        _checked(container, field)
        at = sql.index(_ANCHOR)
        before = sql.count("?", 0, at)  # parameters bound before the WHERE clause
        clause = " AND ".join([f"container = '{container}'", *(c[0] for c in conditions)]) + " AND "
        extra = [p for c in conditions for p in c[1]]
        new_sql = f"{sql[:at]} FROM items INDEXED BY {index_name(container, field)} WHERE {clause}" \
                  f"{sql[at + len(_ANCHOR):]}"
        return new_sql, [*params[:before], *extra, *params[before:]]
    return sql, params
