"""The embedded Store: every container in one SQLite file (stdlib ``sqlite3``, WAL).

Why SQLite: the product must run on one machine with no cloud account, with the same
Store port as Cosmos DB, surviving restarts. One table keyed by (container, partition
key, id) holds each item's JSON with its etag, ``_ts`` and expiry.

Concurrency: each thread gets its own connection (WAL lets readers run beside the one
writer); every write is a ``BEGIN IMMEDIATE`` transaction, so a read-check-write such as
``replace(..., if_match=...)`` is atomic against other threads *and* other processes on
the same file, and ``busy_timeout`` makes contenders wait instead of failing. Inside one
process the writers queue on a mutex first: it wakes the next one the moment the lock
is free, where SQLite's busy handler would have it sleep and poll.

Units of work (``unit_of_work``): one transaction for many writes, so one commit (one
fsync with ``synchronous=FULL``) for all of them; nested units are savepoints. While a
unit is open it holds the write lock, so nobody else can change the file; the unit's
own bookkeeping (read cache, kept-back writes, live queries) is in ``sqlite_unit``.

Writes are checked first and written after (``_plan``, then ``_apply``), so a batch
whose third op fails has written nothing: no savepoint needed to take two back.
Hot queries use secondary indexes (``sqlite_indexes``), Cosmos DB's indexing in kind.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, TypeVar

from shared.adapters.clock import SystemClock
from shared.adapters.sqlite_indexes import DEFAULT_INDEXES, index_ddl
from shared.adapters.sqlite_plans import PlanCache
from shared.adapters.sqlite_query import next_token
from shared.adapters.sqlite_unit import MISSING, Cached, Local, Planned, Unit, UnitScope, planned_put
from shared.adapters.sqlite_writer_lock import WriterLock
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
_PUT_KINDS = frozenset({"create", "upsert", "replace"})


class SqliteStore:
    """A ``Store`` backed by one SQLite file; thread-safe, process-safe, persistent."""

    def __init__(
        self,
        path: Path,
        containers: Sequence[ContainerSpec] = CONTAINERS,
        *,
        clock: Clock | None = None,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
        indexes: Mapping[str, Sequence[str]] = DEFAULT_INDEXES,
        atomic_units: bool = True,
    ) -> None:
        """``synchronous``: FULL (default) makes an acknowledged write survive power loss;
        NORMAL (WAL) survives a crashed process but may lose the last commits on power
        loss, for several times the write throughput. ``indexes``: container -> fields
        its hot queries filter on (see ``sqlite_indexes``). ``atomic_units=False`` makes
        ``unit_of_work`` a no-op, every write committing alone, exactly as on Cosmos DB:
        how tests run the code paths Azure takes on a local file."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self._synchronous = synchronous
        self._local = Local()
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._conns_lock = threading.Lock()
        self._writer = WriterLock(self.path)  # writers, of every process, take turns here, not in SQLite
        # One connection for this process's writes, used by whichever thread holds
        # ``_writer``: its page cache stays warm from one transaction to the next, where
        # per-thread connections each find their cache stale after another's commit.
        self._writer_conn: sqlite3.Connection | None = None
        self._closed = False
        self.atomic_units = atomic_units
        self.indexes = {c: tuple(f) for c, f in indexes.items()}
        self.plans = PlanCache(self.indexes)  # see sqlite_plans: planning cost as much as running
        self._containers = {spec.name: SqliteContainer(self, spec) for spec in containers}
        self.run(lambda conn: conn.executescript(_SCHEMA + ";\n".join(index_ddl(self.indexes)) + ";"))
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

    def unit_of_work(self) -> AbstractContextManager[bool]:
        """One transaction for every write of the block (this thread's); nested: a savepoint.

        The outermost unit commits when the block ends, or rolls back if it raises. It holds
        the write lock throughout: keep it short. An exception leaving a nested unit rolls
        back that unit's writes only and propagates. Yields True (atomic), or False when
        the store was opened with ``atomic_units=False`` (then it does nothing).
        """
        return UnitScope(self)

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
            if self._writer_conn is not None:
                conns.append(self._writer_conn)
                self._writer_conn = None
        for conn in conns:
            conn.close()
        self._writer.close()

    # ----------------------------------------------------------------- plumbing

    def now(self) -> int:
        """Whole seconds (``_ts``, expiry): every read and write asks, so the wall clock's
        is ``time.time()``, the same floor as its ``now().timestamp()`` at a fifth of the cost."""
        clock = self.clock
        if type(clock) is SystemClock:
            return int(time.time())
        return int(clock.now().timestamp())

    @staticmethod
    def lock_timeout() -> float:
        """Seconds a writer waits for the write lock (read at each use: tests shorten it)."""
        return BUSY_TIMEOUT_MS / 1000

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        """The process's write connection; only the holder of ``_writer`` may use it."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self._writer_conn is None:
            conn = self._open()
            with self._conns_lock:
                if self._closed:
                    conn.close()
                    raise StoreUnavailable("the store is closed")
                self._writer_conn = conn
        return self._writer_conn

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection for reads; inside ``write()`` or a unit of work, the
        writer connection, so the reads see the transaction's own writes."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        unit = self._local.unit
        if unit is not None:
            return unit.conn
        tx = self._local.tx
        if tx is not None:
            return tx
        conn: sqlite3.Connection | None = self._local.conn
        if conn is not None:
            return conn
        conn = self._open()
        with self._conns_lock:
            if self._closed:
                conn.close()
                raise StoreUnavailable("the store is closed")
            for thread in [t for t in self._conns if not t.is_alive()]:
                self._conns.pop(thread).close()  # connections of threads that ended
            self._conns[threading.current_thread()] = conn
        self._local.conn = conn
        return conn

    def _unit(self) -> Unit | None:
        return self._local.unit

    def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a read: outside a unit each statement sees a consistent snapshot; inside
        one it also sees the unit's writes."""
        unit = self._unit()
        if unit is not None and unit.broken:
            raise StoreUnavailable("sqlite: the unit of work failed earlier")
        try:
            return fn(self._connection())
        except sqlite3.Error as exc:
            self._note_failure(unit)
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error.

        Inside a unit of work: the unit's connection, for the checks' reads (the writes
        themselves are kept back, see ``SqliteContainer._apply``).
        """
        unit = self._unit()
        if unit is not None:
            if unit.broken:
                raise StoreUnavailable("sqlite: the unit of work failed earlier")
            try:
                yield unit.conn
            except sqlite3.Error as exc:
                self._note_failure(unit)
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            return
        with self._write_lock():
            try:
                conn = self._writer_connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            self._local.tx = conn
            try:
                yield conn
            except BaseException as exc:
                with suppress(sqlite3.Error):  # if the connection failed, SQLite rolled back itself
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"sqlite: {exc}") from exc
                raise
            finally:
                self._local.tx = None
            self._commit(conn)

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # A failed COMMIT (SQLITE_BUSY, I/O error) can leave the transaction open,
            # holding the write lock against every other writer: give it up.
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        if not self._writer.acquire(timeout=self.lock_timeout()):
            raise StoreUnavailable("sqlite: database is locked (another writer held it too long)")
        try:
            yield
        finally:
            self._writer.release()

    @staticmethod
    def _note_failure(unit: Unit | None) -> None:
        """A statement failed inside a unit: if SQLite gave up the whole transaction (it
        does on I/O errors, a full disk, ...), later writes would run outside it, one
        commit each; mark the unit so they fail and its end reports the loss instead."""
        if unit is not None and not unit.conn.in_transaction:
            unit.broken = True
            unit.docs.clear()
            unit.dirty.clear()


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
        rows = self.store.run(lambda conn: conn.execute(sql, params).fetchall())
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
