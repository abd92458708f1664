"""The event feed store: per-stream seqs, merged reads after a cursor, isolation, races."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.orders import new_order_from_intent, transition
from shared.domain.trading import OrderIntent, OrderStatus, OrderType, Side
from shared.ports import MarketData
from shared.services import controls_admin as ca
from shared.services import events
from shared.services.events import (
    GLOBAL_STREAM,
    InvalidCursor,
    caller_streams,
    decode_cursor,
    head_cursor,
    publish,
    read_after,
    tenant_stream,
    wait_for_events,
)
from shared.services.order_records import ExecutionContext, write_order

T0 = datetime(2024, 1, 1, tzinfo=UTC)
A, B = tenant_stream("a"), tenant_stream("b")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_stream_counts_its_own_seqs_from_one(store):
    assert [publish(store, GLOBAL_STREAM, "x", {"n": i}, at(i), None)["seq"] for i in range(3)] == [1, 2, 3]
    assert publish(store, A, "x", {}, at(9), "req-1")["seq"] == 1
    event = publish(store, B, "order.updated", {"id": "o"}, at(10), "req-2")
    assert event == {"id": "tenant:b:1", "stream": B, "seq": 1, "type": "order.updated", "data": {"id": "o"},
                     "at": at(10).isoformat(), "requestId": "req-2"}


def test_events_expire_after_a_week_and_the_head_never_does(store):
    publish(store, A, "x", {}, at(0), None)
    assert store.container("events").read("event:000000000001", A)["ttl"] == 7 * 24 * 3600
    assert "ttl" not in store.container("events").read(events.HEAD_ID, A)


def test_unknown_streams_are_refused(store):
    for stream in ("tenant:", "other", ""):
        with pytest.raises(ValueError, match="unknown event stream"):
            publish(store, stream, "x", {}, at(0), None)


def test_read_after_merges_streams_in_time_order_and_moves_the_cursor(store):
    publish(store, GLOBAL_STREAM, "g1", {}, at(1), None)
    publish(store, A, "a1", {}, at(2), None)
    publish(store, GLOBAL_STREAM, "g2", {}, at(3), None)
    publish(store, A, "a2", {}, at(3), None)  # same time as g2: stream name breaks the tie
    page = read_after(store, caller_streams("a"), None)
    assert [e["type"] for e in page.items] == ["g1", "a1", "g2", "a2"]
    assert decode_cursor(page.cursor, caller_streams("a")) == {GLOBAL_STREAM: 2, A: 2}
    assert read_after(store, caller_streams("a"), page.cursor).items == []
    publish(store, A, "a3", {}, at(4), None)
    later = read_after(store, caller_streams("a"), page.cursor)
    assert [e["type"] for e in later.items] == ["a3"]


def test_a_page_cut_by_the_limit_skips_nothing_even_with_clocks_out_of_order(store):
    for i in range(5):  # the publisher's clock runs backwards: seq order must still win
        publish(store, A, f"a{i + 1}", {}, at(100 - i), None)
    for i in range(5):
        publish(store, GLOBAL_STREAM, f"g{i + 1}", {}, at(i), None)
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        page = read_after(store, caller_streams("a"), cursor, limit=3)
        seen += [e["type"] for e in page.items]
        cursor = page.cursor
        if not page.items:
            break
    assert sorted(t for t in seen if t[0] == "a") == [f"a{i}" for i in range(1, 6)]
    assert [t for t in seen if t[0] == "a"] == [f"a{i}" for i in range(1, 6)]  # in seq order
    assert [t for t in seen if t[0] == "g"] == [f"g{i}" for i in range(1, 6)]
    assert len(seen) == 10


def test_a_caller_reads_global_and_their_own_tenant_only(store):
    publish(store, A, "for-a", {}, at(1), None)
    publish(store, B, "for-b", {}, at(2), None)
    publish(store, GLOBAL_STREAM, "for-all", {}, at(3), None)
    page_b = read_after(store, caller_streams("b"), None)
    assert [e["type"] for e in page_b.items] == ["for-b", "for-all"]
    # A cursor from tenant a's feed says nothing about b's stream: b starts from its beginning,
    # and a's position is dropped from the cursor b gets back.
    page_a = read_after(store, caller_streams("a"), None)
    replayed = read_after(store, caller_streams("b"), page_a.cursor)
    assert [e["type"] for e in replayed.items] == ["for-b"]
    assert decode_cursor(replayed.cursor, [A]) == {A: 0}


@pytest.mark.parametrize("cursor", ["", "%%%", base64.urlsafe_b64encode(b"[1,2]").decode(),
                                    base64.urlsafe_b64encode(b'{"global": -1}').decode(),
                                    base64.urlsafe_b64encode(b'{"global": "3"}').decode(),
                                    base64.urlsafe_b64encode(b"not json").decode(), "x" * 5000])
def test_malformed_cursors_are_refused(store, cursor):
    with pytest.raises(InvalidCursor):
        read_after(store, caller_streams("a"), cursor)


def test_head_cursor_starts_after_everything_published_so_far(store):
    publish(store, GLOBAL_STREAM, "old", {}, at(1), None)
    cursor = head_cursor(store, caller_streams("a"))
    assert read_after(store, caller_streams("a"), cursor).items == []
    publish(store, A, "new", {}, at(2), None)
    assert [e["type"] for e in read_after(store, caller_streams("a"), cursor).items] == ["new"]


def test_concurrent_publishers_keep_seqs_gap_free(store):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                publish(store, A, "x", {"worker": n, "i": i}, at(i), None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs: list[int] = []
    cursor = None
    while True:
        page = read_after(store, [A], cursor, limit=500)
        if not page.items:
            break
        seqs += [e["seq"] for e in page.items]
        cursor = page.cursor
    assert seqs == list(range(1, 201))
    delivered = {(e["data"]["worker"], e["data"]["i"]) for e in read_after(store, [A], None, limit=500).items}
    assert len(delivered) == 200  # every publish landed exactly once


class FakeTime:
    def __init__(self, on_sleep: Any = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def test_long_poll_with_nothing_new_answers_the_same_cursor_after_the_wait(store):
    cursor = head_cursor(store, caller_streams("a"))
    clock = FakeTime()
    page = wait_for_events(store, caller_streams("a"), cursor, 10, 2.0, sleep=clock.sleep, monotonic=clock.monotonic)
    assert page.items == [] and page.cursor == cursor
    assert clock.now == pytest.approx(2.0) and max(clock.sleeps) <= 0.2 + 1e-9


def test_long_poll_returns_as_soon_as_an_event_arrives(store):
    cursor = head_cursor(store, caller_streams("a"))
    clock = FakeTime(lambda n: n == 3 and publish(store, GLOBAL_STREAM, "halt", {}, at(1), None))
    page = wait_for_events(store, caller_streams("a"), cursor, 10, 25.0, sleep=clock.sleep, monotonic=clock.monotonic)
    assert [e["type"] for e in page.items] == ["halt"] and len(clock.sleeps) == 3


def test_long_poll_checks_the_cursor_before_waiting(store):
    clock = FakeTime()
    with pytest.raises(InvalidCursor):
        wait_for_events(store, caller_streams("a"), "%%%", 10, 25.0, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.sleeps == []


def test_control_changes_are_published_to_the_stream_of_their_scope(store):
    common: dict[str, Any] = dict(active=True, reason="incident", until=None, actor="ops-1", audit_tenant="a",
                                  request_id="req-c", if_match=None, now=T0)
    ca.set_control(store, ca.global_halt(), **common)
    ca.set_control(store, ca.kill_switch(), **common)
    ca.set_control(store, ca.tenant_halt("a"), **common)
    ca.set_control(store, ca.profile_halt("p-1"), **common)
    glob = read_after(store, [GLOBAL_STREAM], None).items
    assert [(e["type"], e["data"]["scope"]) for e in glob] == [("control.changed", "global"),
                                                              ("control.changed", "product")]
    mine = read_after(store, [A], None).items
    assert [e["data"]["scope"] for e in mine] == ["tenant:a", "profile:p-1"]
    assert all(e["requestId"] == "req-c" and e["data"]["active"] is True for e in glob + mine)
    assert read_after(store, [B], None).items == []


def _order_ctx(store: SqliteStore) -> tuple[ExecutionContext, Any]:
    clock = ManualClock(T0)
    ctx = ExecutionContext(store=store, market=cast(MarketData, None), exchange_for=lambda _: None,  # type: ignore[arg-type,return-value]
                           clock=clock)
    intent = OrderIntent(id="m-1", tenant_id="a", account_id="acct-a", profile_id=None, symbol="BTCUSDT",
                         side=Side.BUY, type=OrderType.MARKET, qty=Decimal("0.01"), source="manual",
                         request_id="req-o", created_at=T0)
    order = transition(new_order_from_intent(intent, "paper", T0), OrderStatus.REJECTED, T0, reject_reason="test")
    return ctx, order


def test_recording_an_order_publishes_order_updated_to_its_tenant(store):
    ctx, order = _order_ctx(store)
    result = write_order(ctx, order, None, [], "USDT", outcome="rejected", reason="test")
    assert result.outcome == "rejected"
    [event] = read_after(store, [A], None).items
    assert event["type"] == "order.updated" and event["data"]["id"] == "m-1" and event["requestId"] == "req-o"
    assert event["data"]["status"] == "rejected"


def test_a_failing_publish_never_breaks_order_recording(store, monkeypatch, caplog):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("events down")

    monkeypatch.setattr("shared.services.order_records.publish", broken)
    ctx, order = _order_ctx(store)
    result = write_order(ctx, order, None, [], "USDT", outcome="rejected", reason="test")
    assert result.outcome == "rejected"
    assert store.container("orders").read("m-1", "acct-a")["status"] == "rejected"
    assert "could not publish order.updated" in caplog.text
    assert read_after(store, [A], None).items == []
