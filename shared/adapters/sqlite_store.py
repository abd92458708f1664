"""The embedded Store: every container in one SQLite file (stdlib ``sqlite3``, WAL).

Why SQLite: the product must run on one machine with no cloud account, with the same
Store port as Cosmos DB, surviving restarts. One table keyed by (container, partition
key, id) holds each item's JSON with its etag, ``_ts`` and expiry.

Concurrency: each thread gets its own connection (WAL lets readers run beside the one
writer); every write is a ``BEGIN IMMEDIATE`` transaction, so a read-check-write such as
``replace(..., if_match=...)`` is atomic against other threads *and* other processes on
the same file, and ``busy_timeout`` makes contenders wait instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, TypeVar

from shared.adapters.clock import SystemClock
from shared.adapters.sqlite_query import next_token, plan_query
from shared.adapters.store_common import (
    MAX_BATCH_OPS,
    apply_patch,
    check_id,
    check_partition_key,
    check_ttl,
    prepare_item,
    to_json,
)
from shared.ports import (
    BatchFailed,
    BatchOp,
    Clock,
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
from shared.topology import CONTAINERS

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    container  TEXT    NOT NULL,
    pk         TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    etag       TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""

BUSY_TIMEOUT_MS = 30_000


def _new_etag() -> str:
    """Quoted like Cosmos DB's etags, so nothing depends on the adapter's format."""
    return f'"{uuid.uuid4().hex}"'


class SqliteStore:
    """A ``Store`` backed by one SQLite file; thread-safe, process-safe, persistent."""

    def __init__(
        self,
        path: Path,
        containers: Sequence[ContainerSpec] = CONTAINERS,
        *,
        clock: Clock | None = None,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
    ) -> None:
        """``synchronous``: FULL (default) makes an acknowledged write survive power loss;
        NORMAL (WAL) survives a crashed process but may lose the last commits on power
        loss, for several times the write throughput."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self._synchronous = synchronous
        self._local = threading.local()
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._conns_lock = threading.Lock()
        self._closed = False
        self._containers = {spec.name: SqliteContainer(self, spec) for spec in containers}
        self.run(lambda conn: conn.executescript(_SCHEMA))
        with self.write() as conn:  # expired items are invisible anyway; this frees the space
            conn.execute("DELETE FROM items WHERE expires_at <= ?", (self.now(),))

    # ----------------------------------------------------------------- port

    def container(self, name: str) -> SqliteContainer:
        try:
            return self._containers[name]
        except KeyError:
            raise NotFound(f"container {name!r} is not declared") from None

    def ping(self) -> None:
        self.run(lambda conn: conn.execute("SELECT 1").fetchone())

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()

    # ----------------------------------------------------------------- plumbing

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        with self._conns_lock:
            if self._closed:
                conn.close()
                raise StoreUnavailable("the store is closed")
            for thread in [t for t in self._conns if not t.is_alive()]:
                self._conns.pop(thread).close()  # connections of threads that ended
            self._conns[threading.current_thread()] = conn
        self._local.conn = conn
        return conn

    def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a read outside any transaction (each statement sees a consistent snapshot)."""
        try:
            return fn(self._connection())
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        try:
            yield conn
        except BaseException:
            with suppress(sqlite3.Error):  # if the connection failed, SQLite rolled back itself
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # A failed COMMIT (SQLITE_BUSY, I/O error) can leave the transaction open,
            # holding the write lock against every other writer: give it up.
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StoreUnavailable(f"sqlite: {exc}") from exc


class SqliteContainer:
    """One declared container; rows carry its name in the ``container`` column."""

    def __init__(self, store: SqliteStore, spec: ContainerSpec) -> None:
        self.store = store
        self.spec = spec

    # ----------------------------------------------------------------- reads

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        check_id(id)
        check_partition_key(partition_key)
        doc = self.store.run(lambda conn: self._get(conn, partition_key, id, self.store.now()))
        if doc is None:
            raise NotFound(f"{self.spec.name}/{partition_key}/{id} not found")
        return doc

    def query(self, query: Query, *, partition_key: str | None = None) -> Page:
        if partition_key is not None:
            check_partition_key(partition_key)
        plan = plan_query(
            query, container=self.spec.name, partition_key=partition_key, now=self.store.now()
        )
        rows = self.store.run(lambda conn: conn.execute(plan.sql, plan.params).fetchall())
        token = None
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            token = next_token(plan, rows[-1])
        return Page(items=[_load(row[0]) for row in rows], continuation=token)

    # ----------------------------------------------------------------- writes

    def create(self, item: Mapping[str, Any]) -> dict[str, Any]:
        body, id, pk = prepare_item(self.spec, item)
        with self.store.write() as conn:
            return self._create(conn, body, id, pk)

    def upsert(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        body, id, pk = prepare_item(self.spec, item)
        with self.store.write() as conn:
            return self._upsert(conn, body, id, pk, if_match)

    def replace(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        body, id, pk = prepare_item(self.spec, item)
        with self.store.write() as conn:
            return self._replace(conn, body, id, pk, if_match)

    def delete(self, id: str, partition_key: str, *, if_match: str | None = None) -> None:
        check_id(id)
        check_partition_key(partition_key)
        with self.store.write() as conn:
            self._delete(conn, id, partition_key, if_match)

    def patch(
        self,
        id: str,
        partition_key: str,
        ops: Sequence[PatchOp],
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        check_id(id)
        check_partition_key(partition_key)
        with self.store.write() as conn:
            return self._patch(conn, id, partition_key, ops, if_match)

    def batch(self, partition_key: str, ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
        """All ops in one transaction; the first failure rolls everything back."""
        check_partition_key(partition_key)
        if len(ops) > MAX_BATCH_OPS:
            raise InvalidQuery(f"a batch takes at most {MAX_BATCH_OPS} operations")
        results: list[dict[str, Any]] = []
        with self.store.write() as conn:
            for index, op in enumerate(ops):
                try:
                    results.append(self._batch_op(conn, partition_key, op))
                except StoreUnavailable:
                    raise
                except StoreError as exc:
                    raise BatchFailed(
                        f"batch op {index} ({op.kind}) failed: {exc}", index=index, cause=exc
                    ) from exc
        return results

    # ----------------------------------------------------------------- inside a transaction

    def _batch_op(self, conn: sqlite3.Connection, pk: str, op: BatchOp) -> dict[str, Any]:
        if op.kind in ("create", "upsert", "replace"):
            if op.item is None:
                raise InvalidQuery(f"batch {op.kind} needs an item")
            body, id, item_pk = prepare_item(self.spec, op.item)
            if item_pk != pk:
                raise InvalidQuery(f"item {id!r} is not in the batch's partition {pk!r}")
            if op.kind == "create":
                return self._create(conn, body, id, pk)
            if op.kind == "upsert":
                return self._upsert(conn, body, id, pk, op.if_match)
            return self._replace(conn, body, id, pk, op.if_match)
        if op.kind in ("delete", "patch"):
            id = check_id(op.id)
            if op.kind == "delete":
                self._delete(conn, id, pk, op.if_match)
                return {}
            return self._patch(conn, id, pk, op.patch, op.if_match)
        raise InvalidQuery(f"unknown batch operation {op.kind!r}")

    def _get(self, conn: sqlite3.Connection, pk: str, id: str, now: int) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT doc FROM items WHERE container = ? AND pk = ? AND id = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (self.spec.name, pk, id, now),
        ).fetchone()
        return None if row is None else _load(row[0])

    def _current(self, conn: sqlite3.Connection, pk: str, id: str) -> dict[str, Any] | None:
        """The live item inside a write; an expired row is purged so the id is free again."""
        now = self.store.now()
        conn.execute(
            "DELETE FROM items WHERE container = ? AND pk = ? AND id = ? AND expires_at <= ?",
            (self.spec.name, pk, id, now),
        )
        return self._get(conn, pk, id, now)

    def _write(self, conn: sqlite3.Connection, body: dict[str, Any], id: str, pk: str) -> dict[str, Any]:
        ts = self.store.now()
        ttl = check_ttl(body)
        doc = {**body, "_etag": _new_etag(), "_ts": ts}
        conn.execute(
            "INSERT OR REPLACE INTO items (container, pk, id, doc, etag, ts, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.spec.name, pk, id, to_json(doc), doc["_etag"], ts, None if ttl is None else ts + ttl),
        )
        return doc

    def _create(self, conn: sqlite3.Connection, body: dict[str, Any], id: str, pk: str) -> dict[str, Any]:
        if self._current(conn, pk, id) is not None:
            raise Conflict(f"{self.spec.name}/{pk}/{id} already exists")
        return self._write(conn, body, id, pk)

    def _upsert(
        self, conn: sqlite3.Connection, body: dict[str, Any], id: str, pk: str, if_match: str | None
    ) -> dict[str, Any]:
        current = self._current(conn, pk, id)
        if if_match is not None and (current is None or current["_etag"] != if_match):
            raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
        return self._write(conn, body, id, pk)

    def _replace(
        self, conn: sqlite3.Connection, body: dict[str, Any], id: str, pk: str, if_match: str | None
    ) -> dict[str, Any]:
        current = self._current(conn, pk, id)
        if current is None:
            raise NotFound(f"{self.spec.name}/{pk}/{id} not found")
        if if_match is not None and current["_etag"] != if_match:
            raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
        return self._write(conn, body, id, pk)

    def _delete(self, conn: sqlite3.Connection, id: str, pk: str, if_match: str | None) -> None:
        current = self._current(conn, pk, id)
        if current is None:
            raise NotFound(f"{self.spec.name}/{pk}/{id} not found")
        if if_match is not None and current["_etag"] != if_match:
            raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
        conn.execute(
            "DELETE FROM items WHERE container = ? AND pk = ? AND id = ?", (self.spec.name, pk, id)
        )

    def _patch(
        self,
        conn: sqlite3.Connection,
        id: str,
        pk: str,
        ops: Sequence[PatchOp],
        if_match: str | None,
    ) -> dict[str, Any]:
        current = self._current(conn, pk, id)
        if current is None:
            raise NotFound(f"{self.spec.name}/{pk}/{id} not found")
        if if_match is not None and current["_etag"] != if_match:
            raise PreconditionFailed(f"{self.spec.name}/{pk}/{id}: etag does not match")
        patched = apply_patch(current, ops)
        body, new_id, new_pk = prepare_item(self.spec, patched)
        if new_pk != pk or new_id != id:
            raise InvalidQuery("a patch cannot change the id or the partition key")
        return self._write(conn, body, id, pk)


def _load(raw: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw)
    return doc
