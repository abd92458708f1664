"""A connection wrapper whose next COMMIT fails, as on SQLITE_BUSY or an I/O error."""

from __future__ import annotations

import sqlite3
from typing import Any


class CommitFailsOnce:
    """Wraps a connection: its next COMMIT raises without running, leaving the transaction open."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.failed = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.strip().upper() == "COMMIT" and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
