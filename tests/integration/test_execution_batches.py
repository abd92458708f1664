"""Executing a batch of order-intent messages: what ``execute_order_intent`` runs.

The real execution service over a real SQLite store and the paper exchange on replayed
candles. Checks that grouping messages into one unit of work changes nothing a caller
can see: every intent executes once, a failing message stops the batch exactly there
(the ones before it kept, it and the ones after it not), a redelivered batch makes no
second order, a live exchange is never called while the store's write lock is held, and
the Cosmos-shaped path (no atomic units: outbox, one commit per write) stays correct.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DEMO_START, load_demo_market
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.ledger import balance
from shared.domain.trading import LedgerEntry, OrderIntent, OrderType, Side
from shared.ports import Exchange, ExchangeUnavailable, Filter, OrderRequest, Query, StoreUnavailable
from shared.services import execution
from shared.services.audit import read_chain, verify_tenant_chain
from shared.services.batches import BatchStopped
from shared.services.execution import ExecutionContext, handle_order_messages
from shared.services.order_records import REALIZED_DAY_ID

ACCOUNT = "acct-b"
TENANT = "tenant-b"


def intent(n: int, qty: str = "0.001", side: Side = Side.BUY, account: str = ACCOUNT) -> str:
    return OrderIntent(id=f"i-batch-{n}", tenant_id=TENANT, account_id=account, profile_id=None, symbol="BTCUSDT",
                       side=side, type=OrderType.MARKET, qty=Decimal(qty), source="manual",
                       request_id=f"req-batch-{n}", created_at=DEMO_START).model_dump_json(by_alias=True)


@pytest.fixture(params=[True, False], ids=["atomic-units", "commit-per-write"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteStore]:
    """Both shapes of the Store port: SQLite's atomic units, and Cosmos DB's behaviour
    (each write commits alone, so the outbox carries ledger and audit entries)."""
    s = SqliteStore(tmp_path / "store.sqlite", atomic_units=request.param)
    yield s
    s.close()


@pytest.fixture
def ctx(store: SqliteStore) -> ExecutionContext:
    clock = ManualClock(DEMO_START + timedelta(hours=5, minutes=1))
    market = load_demo_market(clock)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(account: str) -> Exchange:
        return exchanges.setdefault(account, PaperExchange(store, market, clock, account_id=account,
                                                           initial_balances={"USDT": Decimal("100000")}))

    return ExecutionContext(store=store, market=market, exchange_for=exchange_for, clock=clock)


def docs(store: SqliteStore, container: str, kind: str | None = None, account: str = ACCOUNT) -> list[dict[str, Any]]:
    where = [Filter("kind", "=", kind)] if kind else []
    return store.container(container).query(Query(where=where), partition_key=account).items


def paper_orders(store: SqliteStore) -> list[str]:
    return sorted(d["clientOrderId"] for d in docs(store, "paper", "order"))


def test_a_batch_executes_every_intent_once_and_books_them_whole(ctx, store):
    results = handle_order_messages([intent(n) for n in range(12)], ctx)
    assert [r.outcome for r in results] == ["executed"] * 12
    assert paper_orders(store) == sorted(f"i-batch-{n}" for n in range(12))
    assert len(docs(store, "orders", "fill")) == 12
    [position] = docs(store, "orders", "position")
    assert Decimal(position["qty"]) == Decimal("0.012")
    assert docs(store, "orders", "outbox-ledger") == [] and docs(store, "orders", "outbox-audit") == []
    entries = [LedgerEntry.from_doc(d) for d in docs(store, "ledger")]
    assert len(entries) == 12 and all(e.kind == "fee" for e in entries)
    assert [e.action for e in read_chain(store.container("audit"), TENANT)] == ["order.executed"] * 12
    assert verify_tenant_chain(store.container("audit"), TENANT) is None
    realized = store.container("orders").read(REALIZED_DAY_ID, ACCOUNT)
    assert Decimal(realized["amount"]) == balance(entries)  # the running total is the ledger's sum
    # the feed got one order.updated per intent, in order
    events = store.container("events").query(Query(where=[Filter("kind", "=", "event")]),
                                             partition_key=f"tenant:{TENANT}").items
    assert [e["data"]["id"] for e in sorted(events, key=lambda e: e["seq"])] == [f"i-batch-{n}" for n in range(12)]


def test_a_redelivered_batch_makes_no_second_order(ctx, store):
    batch = [intent(n) for n in range(5)]
    handle_order_messages(batch, ctx)
    again = handle_order_messages(batch, ctx)
    assert [r.outcome for r in again] == ["duplicate"] * 5
    assert len(paper_orders(store)) == 5 and len(docs(store, "orders", "fill")) == 5
    assert len(read_chain(store.container("audit"), TENANT)) == 5


def test_a_failing_message_stops_the_batch_there_and_keeps_the_ones_before(ctx, store):
    batch = [intent(0), intent(1), "this is not json", intent(3)]
    with pytest.raises(BatchStopped) as stopped:
        handle_order_messages(batch, ctx)
    assert stopped.value.index == 2 and isinstance(stopped.value.__cause__, json.JSONDecodeError)
    assert paper_orders(store) == ["i-batch-0", "i-batch-1"]  # 3 never ran
    # the host redelivers the whole batch: the first two are duplicates, it stops again
    with pytest.raises(BatchStopped):
        handle_order_messages(batch, ctx)
    assert paper_orders(store) == ["i-batch-0", "i-batch-1"]
    assert len(read_chain(store.container("audit"), TENANT)) == 2


def test_on_its_last_delivery_a_failing_message_does_not_hold_back_the_rest(ctx, store):
    batch = [intent(0), "this is not json", intent(2), "nor this", intent(4)]
    with pytest.raises(BatchStopped) as stopped:
        handle_order_messages(batch, ctx, last_delivery=[True] * 5)
    assert stopped.value.index == 1 and sorted(stopped.value.failures) == [1, 3]
    assert paper_orders(store) == ["i-batch-0", "i-batch-2", "i-batch-4"]
    # a message not on its last delivery still stops the batch, even after one that was
    with pytest.raises(BatchStopped) as stopped:
        handle_order_messages([intent(5), "bad", "worse", intent(8)], ctx, last_delivery=[True, True, False, True])
    assert sorted(stopped.value.failures) == [1, 2]
    assert "i-batch-8" not in paper_orders(store)


def test_an_exchange_failure_mid_batch_undoes_that_intent_only(ctx, store, monkeypatch):
    calls = {"n": 0}
    original = PaperExchange.submit

    def flaky(self: PaperExchange, request: OrderRequest) -> Any:
        calls["n"] += 1
        if request.client_order_id == "i-batch-1":
            raise ExchangeUnavailable("connection reset")
        return original(self, request)

    monkeypatch.setattr(PaperExchange, "submit", flaky)
    with pytest.raises(BatchStopped) as stopped:
        handle_order_messages([intent(0), intent(1), intent(2)], ctx)
    assert stopped.value.index == 1 and isinstance(stopped.value.__cause__, execution.RetryLater)
    assert paper_orders(store) == ["i-batch-0"]
    monkeypatch.setattr(PaperExchange, "submit", original)
    results = handle_order_messages([intent(0), intent(1), intent(2)], ctx)  # the redelivery
    assert [r.outcome for r in results] == ["duplicate", "executed", "executed"]
    assert paper_orders(store) == ["i-batch-0", "i-batch-1", "i-batch-2"]


def test_a_failure_after_the_order_batch_is_finished_by_the_redelivery(ctx, store, monkeypatch):
    """Commit per write (Cosmos): the order batch is in, its outbox not projected; the
    redelivery projects it. Atomic units: nothing of it was kept; the redelivery redoes it."""
    def audit_down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("audit partition unavailable")

    monkeypatch.setattr("shared.services.order_records.append_audit", audit_down)
    with pytest.raises(BatchStopped):
        handle_order_messages([intent(0)], ctx)
    left = docs(store, "orders", "outbox-audit")
    assert len(left) == (0 if store.atomic_units else 1)
    monkeypatch.undo()
    [result] = handle_order_messages([intent(0)], ctx)
    assert result.outcome == ("executed" if store.atomic_units else "duplicate")
    assert paper_orders(store) == ["i-batch-0"] and len(docs(store, "orders", "fill")) == 1
    assert docs(store, "orders", "outbox-ledger") == [] and docs(store, "orders", "outbox-audit") == []
    assert len(docs(store, "ledger")) == 1
    assert [e.action for e in read_chain(store.container("audit"), TENANT)] == ["order.executed"]


def test_units_are_capped_and_a_batch_spans_several(ctx, store, monkeypatch):
    monkeypatch.setattr(execution, "MAX_UNIT_MESSAGES", 2)
    results = handle_order_messages([intent(n) for n in range(7)], ctx)
    assert [r.outcome for r in results] == ["executed"] * 7
    assert len(paper_orders(store)) == 7
    assert verify_tenant_chain(store.container("audit"), TENANT) is None


def test_a_unit_that_cannot_commit_records_nothing_of_its_messages(ctx, store, monkeypatch):
    if not store.atomic_units:
        pytest.skip("without atomic units each write commits on its own")
    handle_order_messages([intent(0)], ctx)
    from shared.adapters import sqlite_unit

    def broken_flush(self: Any, container: str | None = None) -> None:
        raise StoreUnavailable("sqlite: disk I/O error")

    monkeypatch.setattr(sqlite_unit.Unit, "flush", broken_flush)
    with pytest.raises(BatchStopped) as stopped:
        handle_order_messages([intent(1), intent(2)], ctx)
    assert stopped.value.index == 0  # the first message of the unit that was lost
    monkeypatch.undo()
    assert paper_orders(store) == ["i-batch-0"]
    assert [r.outcome for r in handle_order_messages([intent(1), intent(2)], ctx)] == ["executed", "executed"]


class LiveLike:
    """An exchange that is *not* the paper book (no ``book_store``), as a live exchange
    is; its submit checks the store's write lock is free by writing through a second
    connection that gives up at once if it is held."""

    name = "paper"

    def __init__(self, inner: PaperExchange, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.checked = 0

    def submit(self, request: OrderRequest) -> Any:
        probe = sqlite3.connect(self.path, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")  # raises "database is locked" if a unit holds it
            probe.execute("ROLLBACK")
        finally:
            probe.close()
        self.checked += 1
        return self.inner.submit(request)

    def __getattr__(self, name: str) -> Any:
        if name == "book_store":  # a live exchange keeps no book in our store
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_a_live_exchange_is_never_called_inside_a_unit(ctx, store, tmp_path):
    live = LiveLike(PaperExchange(store, ctx.market, ctx.clock, account_id=ACCOUNT,
                                  initial_balances={"USDT": Decimal("100000")}), tmp_path / "store.sqlite")
    live_ctx = ExecutionContext(store=store, market=ctx.market, exchange_for=lambda a: live, clock=ctx.clock)
    results = handle_order_messages([intent(n) for n in range(3)], live_ctx)
    assert [r.outcome for r in results] == ["executed"] * 3 and live.checked == 3


def test_the_daily_loss_total_follows_fills_and_starts_from_the_ledger(ctx, store):
    today = ctx.clock.now()
    store.container("ledger").create(LedgerEntry(id="earlier", account_id=ACCOUNT, kind="realized-pnl", asset="USDT",
                                                 amount=Decimal("-7"), at=today).to_doc())
    handle_order_messages([intent(0, qty="0.01"), intent(1, qty="0.01", side=Side.SELL)], ctx)
    midnight = today.strftime("%Y-%m-%dT00:00:00Z")
    counted = [LedgerEntry.from_doc(d) for d in docs(store, "ledger")
               if d["kind"] in ("realized-pnl", "fee") and d["at"] >= midnight]
    realized = store.container("orders").read(REALIZED_DAY_ID, ACCOUNT)
    assert realized["day"] == today.strftime("%Y-%m-%d")
    assert Decimal(realized["amount"]) == sum((e.amount for e in counted), Decimal(0))  # -7 included
    assert execution.realized_today(ctx, ACCOUNT) == Decimal(realized["amount"])
    ctx.clock.advance(timedelta(days=1))
    assert execution.realized_today(ctx, ACCOUNT) == Decimal(0)
