"""The embedded Store: every container in one SQLite file (stdlib ``sqlite3``, WAL).

Why SQLite: the product must run on one machine with no cloud account, with the same
Store port as Cosmos DB, surviving restarts. One table keyed by (container, partition
key, id) holds each item's JSON with its etag, ``_ts`` and expiry.

Concurrency: each thread gets its own connection (WAL lets readers run beside the one
writer); every write is a ``BEGIN IMMEDIATE`` transaction, so a read-check-write such as
``replace(..., if_match=...)`` is atomic against other threads *and* other processes on
the same file, and ``busy_timeout`` makes contenders wait instead of failing. Writers of
every process take turns on a ``WriterLock`` first (``sqlite_writer_lock``): prompter
than SQLite's busy handler, which sleeps and polls.

Units of work (``unit_of_work``): one transaction for many writes, so one commit (one
fsync with ``synchronous=FULL``) for all of them; nested units are savepoints. While a
unit is open it holds the write lock, so nobody else can change the file; the unit's
own bookkeeping (read cache, kept-back writes, live queries) is in ``sqlite_unit``.

The containers' reads and writes are in ``sqlite_container``: writes are checked first
and written after (``_plan``, then ``_apply``), so a batch whose third op fails has
written nothing. Hot queries use secondary indexes (``sqlite_indexes``), Cosmos DB's
indexing in kind, and plans cached per query shape (``sqlite_plans``).
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
from shared.adapters.sqlite_container import SqliteContainer
from shared.adapters.sqlite_indexes import DEFAULT_INDEXES, index_ddl
from shared.adapters.sqlite_plans import PlanCache
from shared.adapters.sqlite_read_cache import ReadCache
from shared.adapters.sqlite_unit import Local, Unit, UnitScope
from shared.adapters.sqlite_writer_lock import WriterLock
from shared.ports import (
    Clock,
    ContainerSpec,
    NotFound,
    StoreUnavailable,
)
from shared.topology import CONTAINERS

_T = TypeVar("_T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS items (
    container  TEXT    NOT NULL,
    pk         TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    etag       TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL",
)

BUSY_TIMEOUT_MS = 30_000


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
        with self.write() as conn:  # on the writer connection: reading connections never write
            for statement in (*_SCHEMA, *index_ddl(self.indexes)):
                conn.execute(statement)
            conn.execute("DELETE FROM items WHERE expires_at <= ?", (self.now(),))  # invisible anyway

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
        # A reading connection must never write: its own commits would not move its
        # ``data_version``, and its ``ReadCache`` would then answer with rows the file no
        # longer holds. SQLite refuses any write on it from here on.
        conn.execute("PRAGMA query_only = ON")
        with self._conns_lock:
            if self._closed:
                conn.close()
                raise StoreUnavailable("the store is closed")
            for thread in [t for t in self._conns if not t.is_alive()]:
                self._conns.pop(thread).close()  # connections of threads that ended
            self._conns[threading.current_thread()] = conn
        self._local.conn = conn
        self._local.reads = ReadCache(conn)
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

    def query_rows(self, sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
        """A query's rows. Outside a write or unit, from this thread's reading connection
        through its ``ReadCache`` (the same rows again while the file is unchanged);
        inside one, as ``run`` (the transaction's own writes must show)."""
        if self._local.unit is not None or self._local.tx is not None:
            return self.run(lambda conn: conn.execute(sql, params).fetchall())
        self._connection()  # opens this thread's reading connection and its cache if need be
        cache = self._local.reads
        assert cache is not None
        try:
            return cache.rows(sql, params)
        except sqlite3.Error as exc:
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

    def _take_write_turn(self) -> None:
        """Hold the writers' turn (``WriterLock``) or raise ``StoreUnavailable`` after the
        lock timeout; the caller releases ``_writer``."""
        try:
            got = self._writer.acquire(timeout=self.lock_timeout())
        except OSError as exc:  # the lock file cannot be opened (a missing or read-only folder)
            raise StoreUnavailable(f"sqlite: cannot take the write turn: {exc.strerror}") from exc
        if not got:
            raise StoreUnavailable("sqlite: database is locked (another writer held it too long)")

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        self._take_write_turn()
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
