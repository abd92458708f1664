"""SQLite store for durable instances, their history and their pending work.

Why SQLite (WAL): everything an orchestration needs to resume after the process is
killed must be on disk, and each step must be atomic. An episode's history append,
the inbox messages it consumed and the timers and activities it scheduled are
written in one transaction; an activity's completion deletes its work row and
enqueues its result in one transaction. So a crash loses at most work that is
re-done on restart (an activity re-runs, an episode replays), never work that is
half recorded.

The store knows nothing about the SDK: events are plain JSON dicts and the
per-instance bookkeeping (sequence ids, retry chains) is an opaque JSON blob owned
by the runtime. All methods are synchronous and meant to be called from the one
event-loop thread that owns the connection; each call is a short local operation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_tx import immediate_transaction

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    runtime_status TEXT NOT NULL,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    bookkeeping TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_time);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS timers (
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    fire_at TEXT NOT NULL,
    PRIMARY KEY (instance_id, execution_id, seq)
);
CREATE INDEX IF NOT EXISTS timers_due ON timers(fire_at);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE INDEX IF NOT EXISTS activities_instance ON activities(instance_id);
"""


@dataclass
class InstanceRecord:
    """One orchestration instance; JSON-valued fields are stored as JSON text."""

    instance_id: str
    name: str
    execution_id: str
    input: str | None
    output: str | None
    custom_status: str | None
    runtime_status: str
    created_time: str
    last_updated_time: str
    bookkeeping: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL_STATUSES


@dataclass(frozen=True)
class InboxMessage:
    """A new event waiting to be delivered to an instance's next episode."""

    id: int
    execution_id: str | None
    event: dict[str, Any]


@dataclass(frozen=True)
class ActivityWork:
    """A scheduled activity whose completion is not yet recorded."""

    id: int
    instance_id: str
    execution_id: str
    seq: int
    name: str
    input: str | None


@dataclass(frozen=True)
class DueTimer:
    instance_id: str
    execution_id: str
    seq: int
    fire_at: str


@dataclass
class EpisodeCommit:
    """Everything one episode changes, written in a single transaction."""

    instance: InstanceRecord
    append_history: list[dict[str, Any]] = field(default_factory=list)
    replace_history: bool = False
    consumed_inbox: list[int] = field(default_factory=list)
    new_inbox: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    add_timers: list[tuple[int, str]] = field(default_factory=list)
    cancel_timers: list[int] = field(default_factory=list)
    add_activities: list[tuple[int, str, str | None]] = field(default_factory=list)
    clear_pending: bool = False


@dataclass(frozen=True)
class InstanceQuery:
    """Filters of the client's list/purge calls (all optional)."""

    created_from: str | None = None
    created_to: str | None = None
    statuses: tuple[str, ...] = ()
    prefix: str | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class HistoryStore:
    """The durable runtime's persistent state, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is crash-safe for a process kill under WAL (only power loss can lose
        # the last transactions), and much faster than FULL for many small commits.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with immediate_transaction(self._conn) as conn:
            yield conn

    # --- instances ---------------------------------------------------------

    @staticmethod
    def _instance_from_row(row: Sequence[Any]) -> InstanceRecord:
        return InstanceRecord(
            instance_id=row[0],
            name=row[1],
            execution_id=row[2],
            input=row[3],
            output=row[4],
            custom_status=row[5],
            runtime_status=row[6],
            created_time=row[7],
            last_updated_time=row[8],
            bookkeeping=json.loads(row[9]),
        )

    _INSTANCE_COLUMNS = (
        "instance_id, name, execution_id, input, output, custom_status, runtime_status, "
        "created_time, last_updated_time, bookkeeping"
    )

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        row = self._conn.execute(
            f"SELECT {self._INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return self._instance_from_row(row) if row else None

    def _write_instance(self, conn: sqlite3.Connection, inst: InstanceRecord) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO instances ({self._INSTANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inst.instance_id,
                inst.name,
                inst.execution_id,
                inst.input,
                inst.output,
                inst.custom_status,
                inst.runtime_status,
                inst.created_time,
                inst.last_updated_time,
                _dumps(inst.bookkeeping),
            ),
        )

    @staticmethod
    def _delete_instance_data(conn: sqlite3.Connection, instance_id: str) -> None:
        for table in ("history", "inbox", "timers", "activities"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def create_instance(self, inst: InstanceRecord, started_event: dict[str, Any]) -> None:
        """Create (or replace a terminal) instance and queue its ExecutionStarted."""
        with self._tx() as conn:
            self._delete_instance_data(conn, inst.instance_id)
            self._write_instance(conn, inst)
            conn.execute(
                "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
                (inst.instance_id, inst.execution_id, _dumps(started_event)),
            )

    def query_instances(self, query: InstanceQuery, offset: int = 0, limit: int | None = None) -> list[InstanceRecord]:
        sql, params = self._where(query)
        sql = f"SELECT {self._INSTANCE_COLUMNS} FROM instances{sql} ORDER BY created_time, rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [self._instance_from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    @staticmethod
    def _where(query: InstanceQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.created_from:
            clauses.append("created_time >= ?")
            params.append(query.created_from)
        if query.created_to:
            clauses.append("created_time <= ?")
            params.append(query.created_to)
        if query.statuses:
            clauses.append(f"runtime_status IN ({', '.join('?' * len(query.statuses))})")
            params.extend(query.statuses)
        if query.prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            params.extend([len(query.prefix), query.prefix])
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def purge(self, instance_ids: Sequence[str]) -> int:
        with self._tx() as conn:
            for instance_id in instance_ids:
                self._delete_instance_data(conn, instance_id)
                conn.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
        return len(instance_ids)

    # --- history -------------------------------------------------------------

    def load_history(self, instance_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY position", (instance_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- inbox ---------------------------------------------------------------

    def enqueue(self, instance_id: str, execution_id: str | None, event: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
                (instance_id, execution_id, _dumps(event)),
            )

    def instances_with_inbox(self) -> list[str]:
        """Instances that have new events, oldest waiting first."""
        rows = self._conn.execute("SELECT instance_id FROM inbox GROUP BY instance_id ORDER BY MIN(id)").fetchall()
        return [r[0] for r in rows]

    def inbox_for(self, instance_id: str) -> list[InboxMessage]:
        rows = self._conn.execute(
            "SELECT id, execution_id, event FROM inbox WHERE instance_id = ? ORDER BY id",
            (instance_id,),
        ).fetchall()
        return [InboxMessage(r[0], r[1], json.loads(r[2])) for r in rows]

    def drop_inbox(self, ids: Sequence[int]) -> None:
        with self._tx() as conn:
            conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    # --- episodes --------------------------------------------------------------

    def commit_episode(self, commit: EpisodeCommit) -> None:
        inst = commit.instance
        iid = inst.instance_id
        with self._tx() as conn:
            conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in commit.consumed_inbox])
            if commit.clear_pending:
                conn.execute("DELETE FROM timers WHERE instance_id = ?", (iid,))
                conn.execute("DELETE FROM activities WHERE instance_id = ?", (iid,))
                # Completions addressed to an earlier execution can never be delivered.
                conn.execute(
                    "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL AND execution_id != ?",
                    (iid, inst.execution_id),
                )
            if commit.replace_history:
                conn.execute("DELETE FROM history WHERE instance_id = ?", (iid,))
                start = 0
            else:
                row = conn.execute(
                    "SELECT COALESCE(MAX(position) + 1, 0) FROM history WHERE instance_id = ?",
                    (iid,),
                ).fetchone()
                start = int(row[0])
            conn.executemany(
                "INSERT INTO history (instance_id, position, event) VALUES (?, ?, ?)",
                [(iid, start + i, _dumps(e)) for i, e in enumerate(commit.append_history)],
            )
            conn.executemany(
                "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
                [(iid, ex, _dumps(e)) for ex, e in commit.new_inbox],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO timers (instance_id, execution_id, seq, fire_at) VALUES (?, ?, ?, ?)",
                [(iid, inst.execution_id, seq, at) for seq, at in commit.add_timers],
            )
            conn.executemany(
                "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND seq = ?",
                [(iid, inst.execution_id, seq) for seq in commit.cancel_timers],
            )
            conn.executemany(
                "INSERT INTO activities (instance_id, execution_id, seq, name, input) VALUES (?, ?, ?, ?, ?)",
                [(iid, inst.execution_id, seq, n, inp) for seq, n, inp in commit.add_activities],
            )
            self._write_instance(conn, inst)

    # --- timers ----------------------------------------------------------------

    def due_timers(self, now: str) -> list[DueTimer]:
        rows = self._conn.execute(
            "SELECT instance_id, execution_id, seq, fire_at FROM timers WHERE fire_at <= ? ORDER BY fire_at",
            (now,),
        ).fetchall()
        return [DueTimer(r[0], r[1], r[2], r[3]) for r in rows]

    def fire_timers(self, fired: Sequence[tuple[DueTimer, dict[str, Any]]]) -> None:
        """Move due timers to their instances' inboxes as TimerFired events."""
        with self._tx() as conn:
            for timer, event in fired:
                cur = conn.execute(
                    "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND seq = ?",
                    (timer.instance_id, timer.execution_id, timer.seq),
                )
                if cur.rowcount:
                    conn.execute(
                        "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
                        (timer.instance_id, timer.execution_id, _dumps(event)),
                    )

    def count_timers(self, instance_id: str) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM timers WHERE instance_id = ?", (instance_id,)).fetchone()
        return int(row[0])

    # --- activities ------------------------------------------------------------

    def pending_activities(self) -> list[ActivityWork]:
        rows = self._conn.execute(
            "SELECT id, instance_id, execution_id, seq, name, input FROM activities ORDER BY id"
        ).fetchall()
        return [ActivityWork(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def complete_activity(self, work: ActivityWork, event: dict[str, Any]) -> bool:
        """Record an activity's result; False if its work item was withdrawn meanwhile."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM activities WHERE id = ?", (work.id,))
            if not cur.rowcount:
                return False
            conn.execute(
                "INSERT INTO inbox (instance_id, execution_id, event) VALUES (?, ?, ?)",
                (work.instance_id, work.execution_id, _dumps(event)),
            )
            return True
