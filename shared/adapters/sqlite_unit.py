"""The embedded store's unit of work: one SQLite transaction for many writes.

Why its own module: ``SqliteStore`` stays the adapter (connections, containers, SQL);
this is the bookkeeping of one open unit. A unit holds SQLite's write lock, so nobody
else can change the file while it is open, which makes three savings sound:

* a read cache: what the unit read or wrote is what a fresh read would return;
* kept-back writes (``Unit.dirty``): each item's latest version reaches SQLite once, at
  the first query of its container or at commit, however often the unit rewrote it;
* live queries: a simple partition query (equality and ``in`` filters) is answered by
  SQL once, then kept current by the unit's own writes (``LiveQuery``).

Nested units are savepoints, made lazily (see ``UnitScope``).
"""

from __future__ import annotations

import functools
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from typing import TYPE_CHECKING, Any, NamedTuple

from shared.adapters.sqlite_indexes import hinted
from shared.adapters.sqlite_query import filter_sql
from shared.adapters.sqlite_read_cache import ReadCache
from shared.adapters.store_common import field_segments, from_json
from shared.ports import Filter, InvalidQuery, StoreUnavailable

if TYPE_CHECKING:
    from shared.adapters.sqlite_store import SqliteStore

_ETAG_PREFIX = os.urandom(8).hex()  # per process: etags of two processes never collide
_etag_counter = itertools.count(1)  # next() on a count is atomic under the GIL


def new_etag() -> str:
    """Quoted like Cosmos DB's etags, so nothing depends on the adapter's format; unique
    per write (a random per-process prefix and a counter, far cheaper than a uuid4)."""
    return f'"{_ETAG_PREFIX}{next(_etag_counter):x}"'


#: A cached document: (JSON text, etag, expires_at, ts); None caches "no such item".
Cached = tuple[str, str, int | None, int] | None
MISSING: Any = object()


class Planned(NamedTuple):
    """One checked write: a put (``raw`` JSON, ``etag``) or a delete (``raw`` None)."""

    id: str
    raw: str | None
    etag: str
    expires: int | None
    result: dict[str, Any]


def planned_put(body: dict[str, Any], id: str, text: str, ts: int, seen: dict[str, tuple[str, str] | None]) -> Planned:
    """``body`` (``text`` is its JSON, its ttl checked) with a new etag and ``_ts``;
    ``seen`` (the batch's view of its items) learns the new version."""
    ttl = body.get("ttl")
    if ttl == -1:
        ttl = None
    etag = new_etag()
    # ``text`` is a JSON object with at least an id: splice the system properties in
    # (the etag is quotes around hex digits, so as a JSON string its quotes are escaped)
    raw = f'{text[:-1]},"_etag":"\\{etag[:-1]}\\"","_ts":{ts}}}'
    seen[id] = (raw, etag)
    return Planned(id, raw, etag, None if ttl is None else ts + ttl, {**body, "_etag": etag, "_ts": ts})


class Local(threading.local):
    """Per thread: its connection and its open unit of work (class defaults: no lookups
    that miss, this is read on every store call)."""

    conn: sqlite3.Connection | None = None
    unit: Unit | None = None
    tx: sqlite3.Connection | None = None  # the writer connection while this thread is in ``write()``
    reads: ReadCache | None = None  # repeated queries on ``conn`` (``sqlite_read_cache``)


class UnitScope(AbstractContextManager[bool]):
    """``SqliteStore.unit_of_work``: a class, not a generator, as it wraps every message.

    Nested units are savepoints, made lazily: while a nested unit only keeps writes back
    (nothing reached SQLite since it began), undoing it is replaying its undo log onto
    ``dirty``, and SQLite never hears of it; the first flush inside it opens the SQL
    savepoint (and logs what it hands over, which the SQL rollback will take back).
    """

    __slots__ = ("frame", "store", "unit")

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.unit: Unit | None = None
        self.frame: Frame | None = None

    def __enter__(self) -> bool:
        store = self.store
        if not store.atomic_units:
            return False
        unit = store._unit()
        if unit is not None:
            if unit.broken:
                raise StoreUnavailable("sqlite: the unit of work failed earlier")
            self.frame = Frame(f"sp{len(unit.frames)}")
            unit.frames.append(self.frame)
            return True
        store._take_write_turn()
        try:
            conn = store._writer_connection()
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            store._writer.release()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            raise
        self.unit = store._local.unit = Unit(conn)
        return True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.frame is not None:
            self._leave_savepoint(exc)
            return
        unit = self.unit
        if unit is None:  # the no-op unit of ``atomic_units=False``
            return
        store = self.store
        try:
            if exc is None:
                try:
                    if not unit.broken:
                        unit.flush()
                    if unit.broken:
                        raise StoreUnavailable("sqlite: a statement of the unit of work failed; none of it was kept")
                except BaseException:
                    store._local.unit = None
                    with suppress(sqlite3.Error):
                        unit.conn.execute("ROLLBACK")
                    raise
                store._local.unit = None
                store._commit(unit.conn)
                return
            store._local.unit = None
            with suppress(sqlite3.Error):
                unit.conn.execute("ROLLBACK")
            return
        finally:
            store._writer.release()

    def _leave_savepoint(self, exc: BaseException | None) -> None:
        frame = self.frame
        unit = self.store._unit()
        assert frame is not None and unit is not None
        unit.frames.pop()
        if exc is None:
            if unit.frames:  # the enclosing unit may still be undone: it inherits the log
                unit.frames[-1].undo.extend(frame.undo)
            if frame.opened:
                try:
                    unit.conn.execute(f"RELEASE {frame.name}")
                except sqlite3.Error as error:
                    self.store._note_failure(unit)
                    raise StoreUnavailable(f"sqlite: {error}") from error
            return
        for key, before in reversed(frame.undo):
            if before is ABSENT:
                unit.dirty.pop(key, None)
            else:
                unit.dirty[key] = before
        unit.docs.clear()  # rebuilt from SQL and what is kept back
        unit.docs.update(unit.dirty)
        unit.live.clear()
        if frame.opened:
            try:
                unit.conn.execute(f"ROLLBACK TO {frame.name}")
                unit.conn.execute(f"RELEASE {frame.name}")
            except sqlite3.Error:
                unit.broken = True  # the unit's state is unknown now: it must not commit


#: "Not in ``dirty``" in an undo log (None there means a delete kept back).
ABSENT: Any = object()


class Frame:
    """One nested unit: its savepoint name, whether SQLite has it yet, and its undo log:
    (item, its ``dirty`` entry before) for every change of ``dirty`` made inside it (what a
    SQL rollback cannot undo, as SQLite never saw it)."""

    __slots__ = ("name", "opened", "undo")

    def __init__(self, name: str) -> None:
        self.name = name
        self.opened = False
        self.undo: list[tuple[tuple[str, str, str], Any]] = []


class Unit:
    """This thread's open unit of work: its connection, savepoint depth, read cache and
    the writes it has not handed to SQLite yet.

    The cache is sound because the unit holds SQLite's write lock: no other connection
    can commit while it is open, so what the unit read or wrote earlier is exactly what
    a fresh read returns. Writes are kept back (``dirty``, the latest version per item)
    until a query needs the table to be current or the unit commits: a document the
    unit rewrites many times (a position, an account, the head of a chain) costs one
    statement instead of one per write. A rollback to a savepoint puts ``dirty`` back as
    it was when the savepoint began and drops the cache (rare, and simple).
    """

    __slots__ = ("broken", "conn", "dirty", "docs", "frames", "live")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.frames: list[Frame] = []
        self.docs: dict[tuple[str, str, str], Cached] = {}
        self.dirty: dict[tuple[str, str, str], Cached] = {}
        self.live: dict[tuple[str, str], dict[QueryKey, LiveQuery]] = {}
        self.broken = False

    def live_query(
        self,
        container: str,
        pk: str,
        where: Sequence[Filter],
        *,
        now: int,
        policy: Mapping[str, Sequence[str]],
        run: Callable[[Callable[[sqlite3.Connection], Any]], Any],
    ) -> LiveQuery | None:
        """The unit's live answer to a partition query (made by SQL the first time), or
        None when its filters are beyond what a live query evaluates exactly."""
        compiled = compile_filters(where)
        if compiled is None:
            return None
        key, matches = compiled
        queries = self.live.setdefault((container, pk), {})
        live = queries.get(key)
        if live is not None:
            return live
        if self.broken:
            raise StoreUnavailable("sqlite: the unit of work failed earlier")
        self.flush(container)  # the SQL reads the table: it must be current
        conditions = ["container = ?", "pk = ?", "(expires_at IS NULL OR expires_at > ?)"]
        params: list[Any] = [container, pk, now]
        for flt in where:
            sql, flt_params = filter_sql(flt)
            conditions.append(sql)
            params.extend(flt_params)
        sql, params = hinted(f"SELECT id, doc, expires_at FROM items WHERE {' AND '.join(conditions)}", params,
                             container=container, where=where, policy=policy)
        rows = run(lambda conn: conn.execute(sql, params).fetchall())
        live = queries[key] = LiveQuery(matches, {row[0]: (row[1], row[2]) for row in rows})
        return live

    def keep_back(self, key: tuple[str, str, str], value: Cached) -> None:
        """A write of the unit: the item's latest version, for reads now, SQLite later."""
        if self.frames:
            self.frames[-1].undo.append((key, self.dirty.get(key, ABSENT)))
        self.docs[key] = self.dirty[key] = value

    def flush(self, container: str | None = None) -> None:
        """Hand the kept-back writes (of one container, or all) to SQLite."""
        keys = [k for k in self.dirty if container is None or k[0] == container]
        if not keys:
            return
        for frame in self.frames:  # the nested units must be able to undo what SQLite now gets
            if not frame.opened:
                try:
                    self.conn.execute(f"SAVEPOINT {frame.name}")
                except sqlite3.Error as exc:
                    self.broken = True
                    raise StoreUnavailable(f"sqlite: {exc}") from exc
                frame.opened = True
        puts = [(*k, v[0], v[1], v[3], v[2]) for k in keys if (v := self.dirty[k]) is not None]
        gone = [k for k in keys if self.dirty[k] is None]
        try:
            if puts:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO items (container, pk, id, doc, etag, ts, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    puts,
                )
            if gone:
                self.conn.executemany("DELETE FROM items WHERE container = ? AND pk = ? AND id = ?", gone)
        except sqlite3.Error as exc:
            self.broken = True  # some of them may be written, some not: the unit cannot commit
            self.docs.clear()
            self.dirty.clear()
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        log = self.frames[-1].undo if self.frames else None
        for k in keys:
            if log is not None:  # the SQL rollback of that savepoint takes the row back
                log.append((k, self.dirty[k]))
            del self.dirty[k]


# --------------------------------------------------------------------------- live queries

#: A cached query: container, partition key, and its filters as a hashable key.
QueryKey = tuple[tuple[str, str, Any], ...]
_ABSENT: Any = object()


@functools.lru_cache(maxsize=256)
def _segments(field: str) -> tuple[str, ...] | None:
    try:
        return tuple(field_segments(field))
    except InvalidQuery:
        return None


def _value_at(doc: Mapping[str, Any], segments: Sequence[str]) -> Any:
    current: Any = doc
    for segment in segments:
        if not isinstance(current, dict) or segment not in current:
            return _ABSENT
        current = current[segment]
    return current


def _same_json(value: Any, wanted: Any) -> bool:
    """``sqlite_query._equals`` in Python, on a value as written (before JSON): equal value
    *and* JSON type. A bool is never a number, a missing field is never null, and str and
    int subclasses (enums) count as what JSON makes of them."""
    if isinstance(wanted, bool):
        return value is wanted
    if wanted is None:
        return value is None
    if isinstance(wanted, str):
        return isinstance(value, str) and value == wanted
    return isinstance(value, int | float) and not isinstance(value, bool) and value == wanted


def compile_filters(where: Sequence[Filter]) -> tuple[QueryKey, Callable[[Mapping[str, Any]], bool]] | None:
    """(key, predicate) for filters a live query can evaluate exactly as the SQL does:
    ``=`` and ``in`` on scalars. None for anything else (it runs as SQL every time)."""
    checks: list[tuple[tuple[str, ...], tuple[Any, ...]]] = []
    key: list[tuple[str, str, Any]] = []
    for flt in where:
        values: tuple[Any, ...]
        if flt.op == "=":
            values = (flt.value,)
        elif flt.op == "in" and isinstance(flt.value, list | tuple):
            values = tuple(flt.value)
        else:
            return None
        for v in values:
            if v is not None and not isinstance(v, str | bool | int | float):
                return None
        segments = _segments(flt.field)
        if segments is None:
            return None  # the SQL path reports it
        checks.append((segments, values))
        key.append((flt.field, flt.op, values))

    def matches(doc: Mapping[str, Any]) -> bool:
        for segments, values in checks:
            value = _value_at(doc, segments)
            if value is _ABSENT or not any(_same_json(value, v) for v in values):
                return False
        return True

    return tuple(key), matches


class LiveQuery:
    """The answer to one partition query inside a unit, kept current by the unit's writes:
    id -> (JSON text, expires_at) of every item the filters match."""

    __slots__ = ("matches", "rows")

    def __init__(self, matches: Callable[[Mapping[str, Any]], bool], rows: dict[str, tuple[str, int | None]]) -> None:
        self.matches = matches
        self.rows = rows

    def written(self, id: str, doc: Mapping[str, Any] | None, raw: str | None, expires: int | None) -> None:
        if doc is not None and raw is not None and self.matches(doc):
            self.rows[id] = (raw, expires)
        else:
            self.rows.pop(id, None)

    def items(self, now: int) -> list[dict[str, Any]]:
        """In id order, as the SQL orders an unordered query; expired items left out."""
        return [from_json(raw) for _, (raw, expires) in sorted(self.rows.items())
                if expires is None or expires > now]
