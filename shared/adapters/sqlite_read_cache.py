"""Rows of a repeated query, kept per reading connection until the file changes.

Why: every API call asks which accounts the caller's tenant owns (a query of its
profiles), then queries each account's partition, and these answers change rarely
(a profile written, a position moved) while the same questions come thousands of times
a second. Running the SQL again each time was ~40% of a cached read's handler.

Why it is exact, not a time-to-live: SQLite's ``PRAGMA data_version`` changes, on a
connection, whenever *another* connection (of this process or any other) has committed
to the file since that connection last asked, but not on its own commits. The store
reads on per-thread connections that never write (writes go through the writer
connection; ``SqliteStore`` sets ``PRAGMA query_only`` on the reading ones, so a write
there fails instead of leaving this cache stale), so an unchanged
``data_version`` means nothing in the file changed since the rows were read: the same
SQL with the same parameters (the store's ``now`` among them, for expiry) gives the same
rows. The version is read *before* the query runs: a commit landing in between tags the
new rows with the older version, which only costs a miss next time, never a stale hit.

The rows come back as a tuple of tuples of ``str``/``int`` and callers parse each
document anew, so no caller can change what the next one gets. When the version moves,
every entry is dropped (they are all stale), so the cache holds at most one version's
answers, each of at most ``MAX_ROWS`` rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

MAX_ENTRIES: Final = 256  # per connection; a query shape per tenant or account, reset when full
MAX_ROWS: Final = 200  # larger answers (a long listing's page) are not kept

Rows = tuple[tuple[Any, ...], ...]


class ReadCache:
    """One reading connection's cache (use it from that connection's thread only)."""

    def __init__(self, conn: sqlite3.Connection, max_entries: int = MAX_ENTRIES) -> None:
        self.conn = conn
        self.max_entries = max_entries
        self._entries: dict[tuple[Any, ...], Rows] = {}
        self._version: int | None = None  # the data_version the entries were read at
        self.hits = 0  # for tests and diagnostics

    def rows(self, sql: str, params: Sequence[Any]) -> Rows:
        """``conn.execute(sql, params).fetchall()``, or the same rows again when the file
        has not changed since they were read."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._entries.clear()
            self._version = version
        key = (sql, *params)
        try:
            cached = self._entries.get(key)
        except TypeError:  # an unhashable parameter: not worth a cache
            return tuple(self.conn.execute(sql, params).fetchall())
        if cached is not None:
            self.hits += 1
            return cached
        rows = tuple(self.conn.execute(sql, params).fetchall())
        if len(rows) <= MAX_ROWS:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = rows
        return rows

    def __len__(self) -> int:
        return len(self._entries)
