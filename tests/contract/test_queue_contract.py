"""The Queue port contract: the Service Bus behaviour the handlers rely on.

One suite for every adapter. Each adapter contributes a ``Harness`` (a broker on a
fresh store, a ``ManualClock`` the broker reads, a way to restart it and a way to open a
second independent handle on the same store, as another process would). Today it runs
on the SQLite queue; the Service Bus adapter has no local stand-in (see DESIGN §6) and
is covered by ``tests/unit/test_servicebus_adapter.py``.

The last section holds SQLite-only checks (real processes, start-up sweep, closed file).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock, SystemClock
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.ports import (
    MessageLockLost,
    OutgoingMessage,
    Queue,
    QueueBroker,
    QueueSpec,
    QueueUnavailable,
)

LOCK = 30.0
WORK = QueueSpec("work", lock_duration_seconds=LOCK, max_delivery_count=3,
                 duplicate_detection_window_seconds=600)
OTHER = QueueSpec("other", lock_duration_seconds=LOCK, max_delivery_count=3)
ORDERED = QueueSpec("ordered", lock_duration_seconds=LOCK, max_delivery_count=3,
                    requires_session=True)
SPECS = (WORK, OTHER, ORDERED)


@dataclass
class Harness:
    clock: ManualClock
    open_broker: Callable[[], QueueBroker]
    broker: QueueBroker = field(init=False)
    _opened: list[QueueBroker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.broker = self.another()

    def another(self) -> QueueBroker:
        """A second, independent handle on the same store (what another process sees)."""
        broker = self.open_broker()
        self._opened.append(broker)
        return broker

    def reopen(self) -> QueueBroker:
        """Close the broker and open it again on the same store (a restart)."""
        self.broker.close()
        self.broker = self.another()
        return self.broker

    def close(self) -> None:
        for broker in self._opened:
            broker.close()


def _sqlite(tmp_path: Path) -> Harness:
    clock = ManualClock()
    return Harness(clock, lambda: SqliteQueueBroker(tmp_path / "queue.sqlite", SPECS, clock=clock))


ADAPTERS: dict[str, Callable[[Path], Harness]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = ADAPTERS[request.param](tmp_path)
    yield h
    h.close()


@pytest.fixture
def broker(harness: Harness) -> QueueBroker:
    return harness.broker


def msg(message_id: str, body: str | None = None, **kw) -> OutgoingMessage:
    return OutgoingMessage(body=body if body is not None else f"body-{message_id}",
                           message_id=message_id, **kw)


# --------------------------------------------------------------------------- basics


def test_send_receive_complete_keeps_every_field(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    now = harness.clock.now()
    props = {"kind": "tick", "attempt": 2, "ratio": 0.5, "live": False}
    q.send(msg("m1", '{"a": 1}', correlation_id="req-9", content_type="text/plain",
               application_properties=props))
    [got] = q.receive(10)
    assert (got.queue, got.message_id, got.body) == ("work", "m1", '{"a": 1}')
    assert (got.correlation_id, got.content_type, got.session_id) == ("req-9", "text/plain", None)
    assert dict(got.application_properties) == props
    assert type(got.application_properties["attempt"]) is int
    assert type(got.application_properties["live"]) is bool
    assert got.delivery_count == 1
    assert got.enqueued_time == now
    assert got.locked_until == now + timedelta(seconds=LOCK)
    assert got.lock_token
    q.complete(got)
    assert q.receive(10) == []
    assert q.dead_letters() == []


def test_receive_returns_oldest_first_up_to_max(broker: QueueBroker) -> None:
    q = broker.queue("work")
    for i in range(5):
        q.send(msg(f"m{i}"))
    first = q.receive(3)
    assert [m.message_id for m in first] == ["m0", "m1", "m2"]
    assert [m.sequence_number for m in first] == sorted(m.sequence_number for m in first)
    assert len({m.lock_token for m in first}) == 3
    assert [m.message_id for m in q.receive(10)] == ["m3", "m4"]


def test_undeclared_queue_is_a_key_error(broker: QueueBroker) -> None:
    assert isinstance(broker, QueueBroker)
    assert isinstance(broker.queue("work"), Queue)
    assert broker.queue("ordered").spec == ORDERED
    broker.ping()
    with pytest.raises(KeyError):
        broker.queue("strategy-tickz")


def test_queues_are_separate(broker: QueueBroker) -> None:
    broker.queue("work").send(msg("same-id", "to work"))
    broker.queue("other").send(msg("same-id", "to other"))  # dedupe is per queue
    assert [m.body for m in broker.queue("other").receive(5)] == ["to other"]
    assert [m.body for m in broker.queue("work").receive(5)] == ["to work"]


# --------------------------------------------------------------------------- peek-lock


def test_locked_message_is_hidden_from_other_receivers(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [held] = q.receive()
    assert q.receive(10) == []
    harness.clock.advance(LOCK - 1)
    assert q.receive(10) == []  # still locked one second before expiry
    q.send(msg("m2"))
    assert [m.message_id for m in q.receive(10)] == ["m2"]
    q.complete(held)


def test_lock_expiry_redelivers_with_delivery_count_plus_one(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [first] = q.receive()
    harness.clock.advance(LOCK)
    [again] = q.receive()
    assert again.message_id == "m1" and again.body == first.body
    assert again.sequence_number == first.sequence_number
    assert again.delivery_count == 2
    assert again.lock_token != first.lock_token
    assert again.locked_until == harness.clock.now() + timedelta(seconds=LOCK)


def test_complete_after_lock_expiry_is_lock_lost_and_the_message_survives(
    harness: Harness, broker: QueueBroker
) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [first] = q.receive()
    harness.clock.advance(LOCK + 1)
    with pytest.raises(MessageLockLost):
        q.complete(first)
    [again] = q.receive()
    assert again.message_id == "m1" and again.delivery_count == 2
    with pytest.raises(MessageLockLost):  # the old token stays dead after redelivery
        q.complete(first)
    q.complete(again)
    assert q.receive() == []


def test_settling_twice_is_lock_lost(broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [m] = q.receive()
    q.complete(m)
    for settle in (q.complete, q.abandon, lambda x: q.dead_letter(x, "r"), q.renew_lock):
        with pytest.raises(MessageLockLost):
            settle(m)
    assert q.dead_letters() == []


def test_abandon_makes_it_visible_at_once(broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    q.send(msg("m2"))
    [m1] = q.receive()
    q.abandon(m1)
    [again] = q.receive()  # no clock movement: abandon released the lock immediately
    assert (again.message_id, again.delivery_count) == ("m1", 2)
    with pytest.raises(MessageLockLost):
        q.complete(m1)


def test_renew_lock_extends_it(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [m] = q.receive()
    harness.clock.advance(20)
    renewed = q.renew_lock(m)
    assert renewed.locked_until == harness.clock.now() + timedelta(seconds=LOCK)
    harness.clock.advance(20)  # past the original lock, inside the renewed one
    assert q.receive() == []
    q.complete(renewed)
    assert q.receive() == []


def test_renew_after_expiry_is_lock_lost(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("m1"))
    [m] = q.receive()
    harness.clock.advance(LOCK)
    with pytest.raises(MessageLockLost):
        q.renew_lock(m)


# --------------------------------------------------------------------------- dead letters


def test_max_delivery_count_via_abandon_dead_letters_and_keeps_the_message(
    harness: Harness, broker: QueueBroker
) -> None:
    q = broker.queue("work")
    q.send(msg("poison", '{"x": 1}', correlation_id="c1", application_properties={"k": "v"}))
    for attempt in range(1, WORK.max_delivery_count + 1):
        [m] = q.receive()
        assert m.delivery_count == attempt
        q.abandon(m)
    assert q.receive(10) == []
    [dl] = q.dead_letters()
    assert dl.reason == "MaxDeliveryCountExceeded"
    assert (dl.message.message_id, dl.message.body) == ("poison", '{"x": 1}')
    assert dl.message.correlation_id == "c1"
    assert dict(dl.message.application_properties) == {"k": "v"}
    assert dl.message.delivery_count == WORK.max_delivery_count
    assert dl.dead_lettered_at == harness.clock.now()


def test_max_delivery_count_via_lock_expiry_dead_letters(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("slow"))
    for attempt in range(1, WORK.max_delivery_count + 1):
        [m] = q.receive()
        assert m.delivery_count == attempt
        harness.clock.advance(LOCK)
    assert q.receive(10) == []
    [dl] = q.dead_letters()
    assert (dl.reason, dl.message.message_id) == ("MaxDeliveryCountExceeded", "slow")
    with pytest.raises(MessageLockLost):
        q.complete(m)


def test_explicit_dead_letter_with_reason_and_description(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    q.send(msg("bad", "not json"))
    q.send(msg("good"))
    [bad] = q.receive()
    harness.clock.advance(5)
    q.dead_letter(bad, "InvalidPayload", "body is not JSON")
    [dl] = q.dead_letters()
    assert (dl.reason, dl.description) == ("InvalidPayload", "body is not JSON")
    assert (dl.message.message_id, dl.message.body, dl.message.delivery_count) == ("bad", "not json", 1)
    assert dl.dead_lettered_at == harness.clock.now()
    assert [m.message_id for m in q.receive(10)] == ["good"]
    with pytest.raises(MessageLockLost):
        q.complete(bad)


def test_dead_letters_peek_oldest_first_without_removing(broker: QueueBroker) -> None:
    q = broker.queue("work")
    for i in range(3):
        q.send(msg(f"m{i}"))
    for m in q.receive(3):
        q.dead_letter(m, f"r-{m.message_id}")
    assert [d.reason for d in q.dead_letters()] == ["r-m0", "r-m1", "r-m2"]
    assert [d.message.message_id for d in q.dead_letters(2)] == ["m0", "m1"]
    assert len(q.dead_letters()) == 3
    assert broker.queue("other").dead_letters() == []


# --------------------------------------------------------------------------- duplicates, schedule


def test_duplicate_message_id_inside_window_is_dropped_then_accepted_after(
    harness: Harness, broker: QueueBroker
) -> None:
    q = broker.queue("work")
    q.send(msg("intent-1", "first"))
    q.send(msg("intent-1", "second"))
    [m] = q.receive(10)
    assert m.body == "first"
    q.complete(m)
    harness.clock.advance(WORK.duplicate_detection_window_seconds - 1)
    q.send(msg("intent-1", "after complete, inside window"))
    assert q.receive(10) == []
    harness.clock.advance(1)
    q.send(msg("intent-1", "after window"))
    assert [m.body for m in q.receive(10)] == ["after window"]


def test_scheduled_message_is_invisible_until_due(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("work")
    due = harness.clock.now() + timedelta(seconds=60)
    q.send(msg("later", scheduled_enqueue_time=due))
    q.send(msg("now"))
    [now] = q.receive(10)
    assert now.message_id == "now"
    q.complete(now)
    harness.clock.advance(59)
    assert q.receive(10) == []
    harness.clock.advance(1)
    [later] = q.receive(10)
    assert later.message_id == "later"
    assert later.enqueued_time == due
    assert later.delivery_count == 1


# --------------------------------------------------------------------------- sessions


def test_session_queue_requires_a_session_id(broker: QueueBroker) -> None:
    with pytest.raises(ValueError):
        broker.queue("ordered").send(msg("x"))


def test_sessions_are_fifo_and_blocked_while_a_message_is_locked(
    harness: Harness, broker: QueueBroker
) -> None:
    q = broker.queue("ordered")
    for mid, sid in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A")]:
        q.send(msg(mid, session_id=sid))
    first = q.receive(10)
    assert [(m.message_id, m.session_id) for m in first] == [("a1", "A"), ("b1", "B")]
    assert q.receive(10) == []  # both sessions have a message in hand
    a1, b1 = first
    q.complete(b1)
    assert [m.message_id for m in q.receive(10)] == ["b2"]  # B moves on, A still blocked
    q.complete(a1)
    [a2] = q.receive(10)
    assert a2.message_id == "a2"
    q.abandon(a2)  # an abandoned head stays the head
    [a2_again] = q.receive(10)
    assert (a2_again.message_id, a2_again.delivery_count) == ("a2", 2)
    harness.clock.advance(LOCK)  # lock expiry frees the session too (and b2's)
    got = q.receive(10)
    assert [(m.message_id, m.delivery_count) for m in got] == [("a2", 3), ("b2", 2)]
    for m in got:
        q.complete(m)
    [a3] = q.receive(10)
    assert a3.message_id == "a3"


def test_session_head_dead_lettered_releases_the_session(broker: QueueBroker) -> None:
    q = broker.queue("ordered")
    q.send(msg("a1", session_id="A"))
    q.send(msg("a2", session_id="A"))
    [a1] = q.receive(5)
    q.dead_letter(a1, "Rejected")
    assert [m.message_id for m in q.receive(5)] == ["a2"]


# --------------------------------------------------------------------------- batches (cardinality "many")


def test_session_batch_is_one_sessions_messages_in_order_locked_together(
    harness: Harness, broker: QueueBroker
) -> None:
    q = broker.queue("ordered")
    for mid, sid in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B"), ("a4", "A")]:
        q.send(msg(mid, session_id=sid))
    batch = q.receive_batch(3)
    assert [(m.message_id, m.session_id) for m in batch] == [("a1", "A"), ("a2", "A"), ("a3", "A")]
    assert len({m.lock_token for m in batch}) == 3
    [b1] = q.receive(10)  # A is in hand as a whole: only B's head is free
    assert (b1.message_id, b1.session_id) == ("b1", "B")
    assert q.receive_batch(10) == [] and q.receive(10) == []  # both sessions in hand
    q.complete_batch(batch)
    assert [m.message_id for m in q.receive_batch(10)] == ["a4"]
    q.complete(b1)
    assert [m.message_id for m in q.receive_batch(10)] == ["b2"]


def test_batch_on_a_queue_without_sessions_is_receive(broker: QueueBroker) -> None:
    q = broker.queue("work")
    for i in range(4):
        q.send(msg(f"m{i}"))
    batch = q.receive_batch(3)
    assert [m.message_id for m in batch] == ["m0", "m1", "m2"]
    q.complete_batch(batch)
    assert [m.message_id for m in q.receive_batch(3)] == ["m3"]


def test_complete_batch_is_all_or_nothing_when_a_lock_was_lost(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("ordered")
    for i in range(3):
        q.send(msg(f"a{i}", session_id="A"))
    batch = q.receive_batch(3)
    q.abandon(batch[1])  # settled: its lock is gone
    with pytest.raises(MessageLockLost, match="a1"):
        q.complete_batch(batch)
    for m in (batch[0], batch[2]):  # still locked, not completed
        q.abandon(m)
    again = q.receive_batch(10)
    assert [(m.message_id, m.delivery_count) for m in again] == [("a0", 2), ("a1", 2), ("a2", 2)]
    q.complete_batch(again)
    assert q.receive_batch(10) == []


def test_an_abandoned_batch_comes_back_whole_and_in_order(harness: Harness, broker: QueueBroker) -> None:
    q = broker.queue("ordered")
    for i in range(4):
        q.send(msg(f"a{i}", session_id="A"))
    for m in q.receive_batch(3):
        q.abandon(m)
    assert [(m.message_id, m.delivery_count) for m in q.receive_batch(10)] == [
        ("a0", 2), ("a1", 2), ("a2", 2), ("a3", 1)]


# --------------------------------------------------------------------------- concurrency, durability


def test_concurrent_receivers_get_each_message_exactly_once(harness: Harness) -> None:
    total, threads_per_handle = 500, 2
    sender = harness.broker.queue("work")
    for i in range(total):
        sender.send(msg(f"m{i:03d}"))
    # 8 threads on 4 independent handles: contention inside one handle and between them
    handles = [harness.broker, harness.another(), harness.another(), harness.another()]
    seen: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()
    start = threading.Barrier(threads_per_handle * len(handles))

    def drain(q) -> None:
        start.wait()
        try:
            while True:
                batch = q.receive(7)
                if not batch:
                    with guard:
                        if len(seen) >= total:
                            return
                    continue
                for m in batch:
                    q.complete(m)  # raises if someone else holds or settled it
                with guard:
                    seen.extend(m.message_id for m in batch)
        except BaseException as exc:
            errors.append(exc)
            with guard:
                seen.extend(["<error>"] * total)

    workers = [threading.Thread(target=drain, args=(h.queue("work"),))
               for h in handles for _ in range(threads_per_handle)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors
    dupes = [k for k, n in Counter(seen).items() if n > 1]
    assert dupes == []
    assert sorted(seen) == [f"m{i:03d}" for i in range(total)]


def test_state_survives_a_restart(harness: Harness) -> None:
    q = harness.broker.queue("work")
    q.send(msg("locked"))
    q.send(msg("waiting"))
    q.send(msg("dead"))
    q.send(msg("scheduled", scheduled_enqueue_time=harness.clock.now() + timedelta(seconds=10)))
    held, _waiting, dead = q.receive(3)
    q.dead_letter(dead, "Broken", "on purpose")
    q.abandon(_waiting)

    q = harness.reopen().queue("work")
    [waiting] = q.receive(10)  # the lock on "locked" outlived the restart
    assert (waiting.message_id, waiting.delivery_count) == ("waiting", 2)
    q.complete(held)  # and its token is still good
    q.send(msg("waiting", "duplicate"))  # the duplicate history outlived it too
    [dl] = q.dead_letters()
    assert (dl.message.message_id, dl.reason, dl.description) == ("dead", "Broken", "on purpose")
    harness.clock.advance(10)
    assert [m.message_id for m in q.receive(10)] == ["scheduled"]


def test_a_second_broker_on_the_same_store_sees_the_same_queue(harness: Harness) -> None:
    one = harness.broker.queue("work")
    two = harness.another().queue("work")
    one.send(msg("m1"))
    one.send(msg("m1"))  # duplicate detection is shared as well
    [m] = two.receive(10)
    assert m.message_id == "m1"
    assert one.receive(10) == []  # locked by the other handle
    two.send(msg("m2"))
    [m2] = one.receive(10)
    two.complete(m)
    one.complete(m2)
    assert one.receive(10) == [] and two.receive(10) == []


# --------------------------------------------------------------------------- SQLite only


def _drain_in_process(path: str, start, out) -> None:
    got: list[str] = []
    try:
        broker = SqliteQueueBroker(Path(path), SPECS, clock=SystemClock())
        q, idle = broker.queue("work"), 0
        start.wait(timeout=60)  # all processes begin together, so they contend
        while idle < 20:
            batch = q.receive(5)
            idle = 0 if batch else idle + 1
            for m in batch:
                time.sleep(0.001)  # "handle" it: without work one process can hog the lock
                q.complete(m)  # raises if another process holds or settled it
                got.append(m.message_id)
        broker.close()
    except BaseException as exc:
        got.append(f"<error {exc!r}>")
    out.put(got)


@pytest.mark.slow
def test_sqlite_processes_draining_one_file_get_each_message_once(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    broker = SqliteQueueBroker(path, SPECS, clock=SystemClock())
    total = 400
    for i in range(total):
        broker.queue("work").send(msg(f"p{i:03d}"))
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(3)
    procs = [ctx.Process(target=_drain_in_process, args=(str(path), start, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    broker.close()
    seen = [mid for r in results for mid in r]
    assert sorted(seen) == [f"p{i:03d}" for i in range(total)]
    assert sum(1 for r in results if r) >= 2, "expected the processes to share the work"


def test_sqlite_lowered_delivery_limit_dead_letters_at_start(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "queue.sqlite"
    loose = SqliteQueueBroker(path, [QueueSpec("work", max_delivery_count=5)], clock=clock)
    q = loose.queue("work")
    q.send(msg("m1"))
    for _ in range(3):
        q.abandon(q.receive()[0])
    loose.close()
    strict = SqliteQueueBroker(path, [QueueSpec("work", max_delivery_count=3)], clock=clock)
    assert strict.queue("work").receive() == []
    assert [d.reason for d in strict.queue("work").dead_letters()] == ["MaxDeliveryCountExceeded"]
    strict.close()


def test_sqlite_closed_broker_is_unavailable(tmp_path: Path) -> None:
    broker = SqliteQueueBroker(tmp_path / "queue.sqlite", SPECS, clock=ManualClock())
    broker.close()
    with pytest.raises(QueueUnavailable):
        broker.ping()
    with pytest.raises(QueueUnavailable):
        broker.queue("work").send(msg("m1"))


def test_sqlite_naive_schedule_time_is_rejected(tmp_path: Path) -> None:
    broker = SqliteQueueBroker(tmp_path / "queue.sqlite", SPECS, clock=ManualClock())
    naive = ManualClock().now().replace(tzinfo=None)
    with pytest.raises(ValueError):
        broker.queue("work").send(msg("m1", scheduled_enqueue_time=naive))
    broker.close()
