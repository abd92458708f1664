"""One SQLite write transaction, shared by the embedded queue and the durable history.

``BEGIN IMMEDIATE`` takes the write lock at the first statement (no upgrade deadlocks);
any failure, including a failed ``COMMIT`` (SQLITE_BUSY, I/O error) that can leave the
transaction open and the lock held against every other writer, rolls back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
