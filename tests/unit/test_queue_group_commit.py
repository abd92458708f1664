"""Group commit of the embedded queue's sends: concurrent sends share commits, each
returns only once its message is durable, and duplicate detection still holds."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.ports import OutgoingMessage, QueueSpec, QueueUnavailable

SPEC = QueueSpec("work", lock_duration_seconds=30)


def test_concurrent_sends_all_land_in_fewer_commits(tmp_path: Path) -> None:
    broker = SqliteQueueBroker(tmp_path / "q.sqlite", [SPEC])
    commits: list[str] = []
    broker._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    queue = broker.queue("work")
    start = threading.Barrier(16)

    def sender(n: int) -> None:
        start.wait()
        for i in range(50):
            queue.send(OutgoingMessage(body=f"{n}:{i}", message_id=f"m-{n}-{i}"))
        queue.send(OutgoingMessage(body="dup", message_id="same-id"))  # 16 threads, one message

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bodies = []
    while batch := queue.receive(100):
        bodies += [m.body for m in batch]
        for m in batch:
            queue.complete(m)
    assert sorted(bodies) == sorted([f"{n}:{i}" for n in range(16) for i in range(50)] + ["dup"])
    sends_commits = len(commits) - len(bodies)  # each complete is one commit of its own
    assert sends_commits < 16 * 51, "no send shared a commit"
    broker.close()


def test_a_failed_group_commit_fails_every_send_in_it(tmp_path: Path) -> None:
    broker = SqliteQueueBroker(tmp_path / "q.sqlite", [SPEC])
    queue = broker.queue("work")
    blocker = sqlite3.connect(tmp_path / "q.sqlite", timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    broker._conn.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(QueueUnavailable, match="failed"):
        queue.send(OutgoingMessage(body="x", message_id="x"))
    blocker.rollback()
    queue.send(OutgoingMessage(body="y", message_id="y"))  # and the queue works again
    [msg] = queue.receive(10)
    assert msg.body == "y"
    blocker.close()
    broker.close()


def test_a_send_arriving_while_the_leader_waits_for_the_write_turn_shares_its_commit(tmp_path: Path) -> None:
    """The leader takes the waiting sends only once it holds the file's write turn, so a
    send that came while it waited rides along instead of waiting for a commit of its own."""
    from shared.adapters.sqlite_writer_lock import WriterLock

    broker = SqliteQueueBroker(tmp_path / "q.sqlite", [SPEC])
    commits: list[str] = []
    broker._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    queue = broker.queue("work")
    other_process = WriterLock(tmp_path / "q.sqlite")  # its own flock: another process's turn
    assert other_process.acquire(5)
    first = threading.Thread(target=lambda: queue.send(OutgoingMessage(body="a", message_id="a")))
    first.start()
    time.sleep(0.05)  # the first send leads and waits for the turn
    second = threading.Thread(target=lambda: queue.send(OutgoingMessage(body="b", message_id="b")))
    second.start()
    deadline = time.monotonic() + 5
    while len(broker._waiting_sends) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not commits, "nothing may commit while another process holds the write turn"
    other_process.release()
    first.join(5)
    second.join(5)
    assert commits == ["COMMIT"], "both sends should share the leader's one commit"
    assert sorted(m.body for m in queue.receive(10)) == ["a", "b"]
    other_process.close()
    broker.close()


def test_a_committed_send_returns_while_the_next_group_is_still_being_written(tmp_path: Path) -> None:
    """The leader wakes each send it committed and hands the lead to one still waiting:
    the late send leads the next group (no lost wake-up: it would hang here), and the
    committed sends return while that group is still being written.

    The earlier design (followers learned of their commit by taking the leader's lock)
    also passes here, because its lock woke the older follower first; what it did wrong
    showed under load, where each committed follower held the lock while it waited for
    the GIL, one after another (``bench/api.py``, 50 clients: write p95 ~65 -> ~55 ms)."""
    from shared.adapters.sqlite_writer_lock import WriterLock

    broker = SqliteQueueBroker(tmp_path / "q.sqlite", [SPEC])
    queue = broker.queue("work")
    other_process = WriterLock(tmp_path / "q.sqlite")
    assert other_process.acquire(5)  # holds the first group until both sends wait for it
    returned: list[str] = []

    def send(body: str) -> threading.Thread:
        def run() -> None:
            queue.send(OutgoingMessage(body=body, message_id=body))
            returned.append(body)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    second_group_inside = threading.Event()
    let_second_group_finish = threading.Event()
    insert = queue._insert

    def slow_insert(conn: sqlite3.Connection, item: object) -> None:
        if item.message.message_id == "late":  # type: ignore[attr-defined]
            second_group_inside.set()
            assert let_second_group_finish.wait(10)
        insert(conn, item)  # type: ignore[arg-type]

    late: list[threading.Thread] = []

    def on_sql(sql: str) -> None:
        if sql == "COMMIT" and not late:  # the first group commits: a send arrives meanwhile
            late.append(send("late"))
            deadline = time.monotonic() + 5
            while not broker._waiting_sends and time.monotonic() < deadline:
                time.sleep(0.001)

    queue._insert = slow_insert  # type: ignore[method-assign]
    broker._conn.set_trace_callback(on_sql)
    leader = send("leader")
    while not broker._leader.locked():
        time.sleep(0.001)
    follower = send("follower")
    while len(broker._waiting_sends) < 2:
        time.sleep(0.001)
    other_process.release()

    assert second_group_inside.wait(5), "the late send should lead the next group"
    leader.join(5)
    follower.join(5)
    assert sorted(returned) == ["follower", "leader"], "committed sends must not wait for the next group"
    let_second_group_finish.set()
    late[0].join(5)
    assert sorted(returned) == ["follower", "late", "leader"]
    assert sorted(m.body for m in queue.receive(10)) == ["follower", "late", "leader"]
    other_process.close()
    broker.close()


def test_a_send_interrupted_while_it_waits_leaves_no_one_waiting_for_it(tmp_path: Path) -> None:
    """A waiting send stopped by Ctrl-C (here, SIGINT to this thread) leaves the waiting
    list, so the lead is not passed to a send that nobody waits for: the send behind it
    still gets written, and the interrupted one is not."""
    import signal

    broker = SqliteQueueBroker(tmp_path / "q.sqlite", [SPEC])
    queue = broker.queue("work")
    in_commit, let_commit = threading.Event(), threading.Event()

    def on_sql(sql: str) -> None:
        if sql == "COMMIT" and not in_commit.is_set():  # the first group: hold it while others arrive
            in_commit.set()
            assert let_commit.wait(10)

    broker._conn.set_trace_callback(on_sql)
    leader = threading.Thread(target=lambda: queue.send(OutgoingMessage(body="leader", message_id="leader")))
    leader.start()
    assert in_commit.wait(5)
    me = threading.get_ident()

    def interrupt_me() -> None:
        while not broker._waiting_sends:
            time.sleep(0.001)
        time.sleep(0.05)  # in wake.wait() by now
        signal.pthread_kill(me, signal.SIGINT)

    threading.Thread(target=interrupt_me).start()
    with pytest.raises(KeyboardInterrupt):
        queue.send(OutgoingMessage(body="interrupted", message_id="interrupted"))
    assert broker._waiting_sends == []
    behind = threading.Thread(target=lambda: queue.send(OutgoingMessage(body="behind", message_id="behind")))
    behind.start()
    while not broker._waiting_sends:
        time.sleep(0.001)
    let_commit.set()
    leader.join(5)
    behind.join(5)
    assert not behind.is_alive(), "the send behind the interrupted one was never written"
    assert sorted(m.body for m in queue.receive(10)) == ["behind", "leader"]
    broker.close()
