"""One container of the embedded store: reads, queries and writes of its rows.

Split from ``sqlite_store`` (which owns the file: connections, the write lock, units of
work); every container of a store shares its ``items`` table, each row carrying its
container's name. The semantics are the port's (``shared.ports.Container``), pinned by
``tests/contract``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.adapters.sqlite_query import next_token
from shared.adapters.sqlite_unit import MISSING, Cached, Planned, Unit, planned_put
from shared.adapters.store_common import (
    MAX_BATCH_OPS,
    apply_patch,
    check_id,
    check_partition_key,
    from_json,
    prepare_item_json,
)
from shared.ports import (
    BatchFailed,
    BatchOp,
    Conflict,
    ContainerSpec,
    InvalidQuery,
    NotFound,
    Page,
    PatchOp,
    PreconditionFailed,
    Query,
    StoreError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from shared.adapters.sqlite_store import SqliteStore

_PUT_KINDS = frozenset({"create", "upsert", "replace"})


class SqliteContainer:
    """One declared container; rows carry its name in the ``container`` column."""

    def __init__(self, store: SqliteStore, spec: ContainerSpec) -> None:
        self.store = store
        self.spec = spec

    # ----------------------------------------------------------------- reads

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        unit = self.store._local.unit
        if unit is not None:
            cached = unit.docs.get((self.spec.name, partition_key, id), MISSING)
            if cached is not MISSING:  # the unit read or wrote it (so the key was valid): no SQL
                if cached is None or (cached[2] is not None and cached[2] <= self.store.now()):
                    raise NotFound(f"{self.spec.name}/{partition_key}/{id} not found")
                return _load(cached[0])
        check_id(id)
        check_partition_key(partition_key)
        state = self.store.run(lambda conn: self._state(conn, partition_key, id, self.store.now()))
        if state is None:
            raise NotFound(f"{self.spec.name}/{partition_key}/{id} not found")
        return _load(state[0])

    def query(self, query: Query, *, partition_key: str | None = None) -> Page:
        if partition_key is not None:
            check_partition_key(partition_key)
            unit = self.store._unit()
            if unit is not None and query.order_by is None and query.limit is None and query.continuation is None:
                live = unit.live_query(self.spec.name, partition_key, query.where, now=self.store.now(),
                                       policy=self.store.indexes, run=self.store.run)
                if live is not None:
                    return Page(items=live.items(self.store.now()))
        plan, sql, params = self.store.plans.plan(query, container=self.spec.name, partition_key=partition_key,
                                                  now=self.store.now())
        unit = self.store._unit()
        if unit is not None:
            if unit.broken:
                raise StoreUnavailable("sqlite: the unit of work failed earlier")
            unit.flush(self.spec.name)  # the query reads the table: it must be current
        rows = self.store.query_rows(sql, params)
        token = None
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            token = next_token(plan, rows[-1])
        return Page(items=[_load(row[0]) for row in rows], continuation=token)

    # ----------------------------------------------------------------- writes

    def create(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return self._put("create", item, None)

    def upsert(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        return self._put("upsert", item, if_match)

    def replace(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        return self._put("replace", item, if_match)

    def delete(self, id: str, partition_key: str, *, if_match: str | None = None) -> None:
        check_id(id)
        self._one(BatchOp("delete", id=id, if_match=if_match), check_partition_key(partition_key))

    def patch(
        self,
        id: str,
        partition_key: str,
        ops: Sequence[PatchOp],
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        check_id(id)
        return self._one(BatchOp("patch", id=id, patch=ops, if_match=if_match), check_partition_key(partition_key))

    def batch(self, partition_key: str, ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
        """All ops in one transaction; the first failure rolls everything back.

        Two phases: every op is checked against the item as the earlier ops leave it, and
        only then is anything written, so a failing op needs no rollback (no savepoint).
        """
        check_partition_key(partition_key)
        if len(ops) > MAX_BATCH_OPS:
            raise InvalidQuery(f"a batch takes at most {MAX_BATCH_OPS} operations")
        now = self.store.now()
        unit = self.store._unit()
        if unit is not None:  # the common case in a unit: no transaction to open, nothing to write yet
            if unit.broken:
                raise StoreUnavailable("sqlite: the unit of work failed earlier")
            try:
                return self._batch(unit.conn, partition_key, ops, now)
            except sqlite3.Error as exc:  # a read of the checks failed
                self.store._note_failure(unit)
                raise StoreUnavailable(f"sqlite: {exc}") from exc
        with self.store.write() as conn:
            return self._batch(conn, partition_key, ops, now)

    def _batch(self, conn: sqlite3.Connection, pk: str, ops: Sequence[BatchOp], now: int) -> list[dict[str, Any]]:
        seen: dict[str, tuple[str, str] | None] = {}
        planned: list[Planned] = []
        spec = self.spec
        for index, op in enumerate(ops):
            try:
                if op.item is not None and op.kind in _PUT_KINDS:  # most ops: no dispatch through _plan
                    prepared = prepare_item_json(spec, op.item)
                    planned.append(self._plan_put(conn, pk, op.kind, prepared, op.if_match, now, seen))
                else:
                    planned.append(self._plan(conn, pk, op, now, seen))
            except StoreUnavailable:
                raise
            except StoreError as exc:
                raise BatchFailed(f"batch op {index} ({op.kind}) failed: {exc}", index=index, cause=exc) from exc
        unit = self.store._local.unit
        if unit is None:
            return [self._apply(conn, pk, step) for step in planned]
        return self._keep_back(unit, pk, planned)

    def _keep_back(self, unit: Unit, pk: str, planned: list[Planned]) -> list[dict[str, Any]]:
        """``_apply`` of a whole batch inside a unit: the unit's live queries of this
        partition are looked up once, not once per op (a batch cannot add one)."""
        name = self.spec.name
        live = unit.live.get((name, pk))
        results = []
        for step in planned:
            raw = step.raw
            result = step.result
            unit.keep_back((name, pk, step.id), None if raw is None else (raw, step.etag, step.expires, result["_ts"]))
            if live is not None:
                doc = None if raw is None else result
                for query in live.values():
                    query.written(step.id, doc, raw, step.expires)
            results.append(result)
        return results

    def _put(self, kind: str, item: Mapping[str, Any], if_match: str | None) -> dict[str, Any]:
        """A single create/upsert/replace: checked, then one statement (atomic by itself)."""
        prepared = prepare_item_json(self.spec, item)
        now = self.store.now()
        with self.store.write() as conn:
            pk = prepared[2]
            return self._apply(conn, pk, self._plan_put(conn, pk, kind, prepared, if_match, now, {}))

    def _one(self, op: BatchOp, pk: str) -> dict[str, Any]:
        """A single delete/patch: checked, then one statement (atomic by itself)."""
        now = self.store.now()
        with self.store.write() as conn:
            return self._apply(conn, pk, self._plan(conn, pk, op, now, {}))

    # ----------------------------------------------------------------- inside a transaction

    def _plan(
        self, conn: sqlite3.Connection, pk: str, op: BatchOp, now: int, seen: dict[str, tuple[str, str] | None]
    ) -> Planned:
        """Check one op against the item as it stands (``seen``: as earlier ops of the same
        batch leave it) and work out its write; raises the port's errors, writes nothing."""
        if op.kind in ("create", "upsert", "replace"):
            if op.item is None:
                raise InvalidQuery(f"batch {op.kind} needs an item")
            return self._plan_put(conn, pk, op.kind, prepare_item_json(self.spec, op.item), op.if_match, now, seen)
        if op.kind in ("delete", "patch"):
            id = check_id(op.id)
            current = seen[id] if id in seen else self._state(conn, pk, id, now)
            if current is None:
                raise NotFound(f"{self.spec.name}/{pk}/{id} not found")
            if op.if_match is not None and current[1] != op.if_match:
                raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
            if op.kind == "delete":
                seen[id] = None
                return Planned(id, None, "", None, {})
            patched = apply_patch(_load(current[0]), op.patch)
            body, new_id, new_pk, text = prepare_item_json(self.spec, patched)
            if new_pk != pk or new_id != id:
                raise InvalidQuery("a patch cannot change the id or the partition key")
            return planned_put(body, id, text, now, seen)
        raise InvalidQuery(f"unknown batch operation {op.kind!r}")

    def _plan_put(
        self,
        conn: sqlite3.Connection,
        pk: str,
        kind: str,
        prepared: tuple[dict[str, Any], str, str, str],
        if_match: str | None,
        now: int,
        seen: dict[str, tuple[str, str] | None],
    ) -> Planned:
        body, id, item_pk, text = prepared
        if item_pk != pk:
            raise InvalidQuery(f"item {id!r} is not in the batch's partition {pk!r}")
        if kind == "upsert" and if_match is None:  # unconditional: nothing to check
            return planned_put(body, id, text, now, seen)
        current = seen[id] if id in seen else self._state(conn, pk, id, now)
        if kind == "create" and current is not None:
            raise Conflict(f"{self.spec.name}/{pk}/{id} already exists")
        if kind == "replace" and current is None:
            raise NotFound(f"{self.spec.name}/{pk}/{id} not found")
        if if_match is not None and (current is None or current[1] != if_match):
            raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
        return planned_put(body, id, text, now, seen)

    def _apply(self, conn: sqlite3.Connection, pk: str, step: Planned) -> dict[str, Any]:
        """Write a checked step: inside a unit, kept back as the item's latest version (see
        ``sqlite_unit.Unit``); outside one, at once."""
        key = (self.spec.name, pk, step.id)
        value: Cached = None if step.raw is None else (step.raw, step.etag, step.expires, step.result["_ts"])
        unit = self.store._unit()
        if unit is not None:
            unit.keep_back(key, value)
            if (live := unit.live.get((self.spec.name, pk))) is not None:
                doc = None if step.raw is None else step.result
                for query in live.values():
                    query.written(step.id, doc, step.raw, step.expires)
        elif value is None:
            conn.execute("DELETE FROM items WHERE container = ? AND pk = ? AND id = ?", key)
        else:
            conn.execute(
                "INSERT OR REPLACE INTO items (container, pk, id, doc, etag, ts, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, value[0], value[1], value[3], value[2]),
            )
        return step.result

    def _state(self, conn: sqlite3.Connection, pk: str, id: str, now: int) -> tuple[str, str] | None:
        """(JSON text, etag) of the live item, or None; from the unit's cache when one is open.

        An expired row counts as absent (a write over it replaces it; startup purges it).
        """
        unit = self.store._local.unit
        cache = None if unit is None else unit.docs
        key = (self.spec.name, pk, id)
        cached: Cached = MISSING if cache is None else cache.get(key, MISSING)
        if cached is MISSING:
            row = conn.execute(
                "SELECT doc, etag, expires_at, ts FROM items WHERE container = ? AND pk = ? AND id = ?",
                key,
            ).fetchone()
            cached = None if row is None else (row[0], row[1], row[2], row[3])
            if cache is not None:
                cache[key] = cached
        if cached is None or (cached[2] is not None and cached[2] <= now):
            return None
        return cached[0], cached[1]


def _load(raw: str) -> dict[str, Any]:
    doc: dict[str, Any] = from_json(raw)
    return doc
