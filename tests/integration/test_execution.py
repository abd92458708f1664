"""Executing order intents: exactly once, halts and risk fail closed, crash recovery.

Runs the real execution service over a real SQLite store, against the paper exchange
(replayed real candles) and against the Bybit adapter talking to the fake Bybit server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.bybit.http import BybitHttpClient
from shared.adapters.bybit.market import BybitMarketData
from shared.adapters.bybit.trading import BybitExchange
from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DEMO_START, load_demo_market
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.controls import GLOBAL_SCOPE, HALT_ID, KILL_SWITCH_ID, PRODUCT_SCOPE, profile_scope, tenant_scope
from shared.domain.ledger import balance
from shared.domain.profiles import Profile, RiskLimits
from shared.domain.trading import LedgerEntry, OrderIntent, OrderStatus, OrderType, Side
from shared.ports import Exchange, ExchangeUnavailable, Filter, Query, StoreUnavailable
from shared.services.audit import read_chain, verify_tenant_chain
from shared.services.execution import ExecutionContext, RetryLater, execute_intent, sync_account
from tests.support.fake_bybit import FakeBybit

ACCOUNT = "acct-1"
TENANT = "tenant-a"
PROFILE = "profile-1"


def intent(id_: str = "i-p1-btcusdt-1-buy", qty: str = "0.01", side: Side = Side.BUY, **kw: Any) -> OrderIntent:
    fields: dict[str, Any] = dict(id=id_, tenant_id=TENANT, account_id=ACCOUNT, profile_id=PROFILE, symbol="BTCUSDT",
                                  side=side, type=OrderType.MARKET, qty=Decimal(qty), source="strategy",
                                  request_id="req-exec-0001", created_at=DEMO_START)
    fields.update(kw)
    return OrderIntent(**fields)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite")
    s.container("profiles").create({**Profile(
        id=PROFILE, tenant_id=TENANT, account_id=ACCOUNT, name="p", symbols=["BTCUSDT"], interval="1h",
        strategy_id="s", strategy_version=1, risk=RiskLimits(daily_loss_limit=Decimal("50"))).to_doc()})
    yield s
    s.close()


@pytest.fixture
def paper_ctx(store: SqliteStore) -> ExecutionContext:
    clock = ManualClock(DEMO_START + timedelta(hours=5, minutes=1))
    market = load_demo_market(clock)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(account: str) -> Exchange:
        return exchanges.setdefault(account, PaperExchange(store, market, clock, account_id=account,
                                                           initial_balances={"USDT": Decimal("10000")}))

    return ExecutionContext(store=store, market=market, exchange_for=exchange_for, clock=clock)


def orders_of(store: SqliteStore, kind: str) -> list[dict[str, Any]]:
    return store.container("orders").query(Query(where=[Filter("kind", "=", kind)]), partition_key=ACCOUNT).items


def paper_orders(store: SqliteStore) -> list[dict[str, Any]]:
    return [d for d in store.container("paper").query(Query(), partition_key=ACCOUNT).items
            if d["id"].startswith("order-")]


def deliver_many(ctx: ExecutionContext, the_intent: OrderIntent, times: int, threads: int) -> list[str]:
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        barrier.wait()
        for _ in range(n):
            while True:
                try:
                    result = execute_intent(the_intent, ctx)
                    break
                except RetryLater:
                    continue
            with lock:
                outcomes.append(result.outcome)

    per = times // threads
    pool = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return outcomes


def test_one_intent_delivered_100_times_makes_one_paper_order(paper_ctx, store):
    outcomes = deliver_many(paper_ctx, intent(), times=100, threads=20)
    assert len(outcomes) == 100
    assert outcomes.count("executed") == 1 and outcomes.count("duplicate") == 99
    assert len(paper_orders(store)) == 1
    [order] = orders_of(store, "order")
    assert order["status"] == OrderStatus.FILLED.value and Decimal(order["filledQty"]) == Decimal("0.01")
    assert len(orders_of(store, "fill")) == 1
    [position] = orders_of(store, "position")
    assert Decimal(position["qty"]) == Decimal("0.01")
    assert orders_of(store, "outbox-ledger") == [] and orders_of(store, "outbox-audit") == []
    events = read_chain(store.container("audit"), TENANT)
    assert [e.action for e in events] == ["order.executed"]
    assert verify_tenant_chain(store.container("audit"), TENANT) is None
    assert events[0].request_id == "req-exec-0001"


def test_fill_books_position_and_ledger_consistently(paper_ctx, store):
    store.container("ledger").create(LedgerEntry(id="deposit:initial", account_id=ACCOUNT, kind="deposit",
                                                 asset="USDT", amount=Decimal("10000"), at=DEMO_START).to_doc())
    execute_intent(intent("buy-1", "0.05"), paper_ctx)
    paper_ctx.clock.advance(timedelta(hours=3))
    execute_intent(intent("sell-1", "0.02", side=Side.SELL), paper_ctx)
    entries = [LedgerEntry.from_doc(d) for d in store.container("ledger").query(Query(), partition_key=ACCOUNT).items]
    [position] = orders_of(store, "position")
    cash = paper_ctx.exchange_for(ACCOUNT).balances()["USDT"]
    at_cost = Decimal(position["qty"]) * Decimal(position["avgCost"])
    assert balance(entries) == cash + at_cost  # the ledger equals cash plus positions at cost


def test_lost_acknowledgement_is_recovered_without_a_second_order(paper_ctx, store):
    market = paper_ctx.market
    faulty = PaperExchange(store, market, paper_ctx.clock, account_id=ACCOUNT,
                           initial_balances={"USDT": Decimal("10000")},
                           fault=lambda point: (_ for _ in ()).throw(ExchangeUnavailable("timeout"))
                           if point == "submit.accepted" else None)
    crashing = ExecutionContext(store=store, market=market, exchange_for=lambda a: faulty, clock=paper_ctx.clock)
    with pytest.raises(RetryLater):
        execute_intent(intent(), crashing)  # the exchange took the order, the answer was lost
    [pending] = orders_of(store, "order")
    assert pending["status"] == OrderStatus.PENDING_SUBMIT.value
    result = execute_intent(intent(), paper_ctx)  # the redelivery
    assert result.outcome == "executed" and result.order is not None
    assert result.order.status is OrderStatus.FILLED
    assert len(paper_orders(store)) == 1


@pytest.mark.parametrize(("control_id", "scope"), [
    (KILL_SWITCH_ID, PRODUCT_SCOPE), (HALT_ID, GLOBAL_SCOPE), (HALT_ID, tenant_scope(TENANT)),
    (HALT_ID, profile_scope(PROFILE)),
])
def test_every_halt_scope_blocks_at_execution(paper_ctx, store, control_id, scope):
    store.container("controls").upsert({"id": control_id, "scope": scope, "kind": "halt" if control_id == HALT_ID
                                        else "kill-switch", "active": True, "reason": "ops says stop", "actor": "op"})
    result = execute_intent(intent(), paper_ctx)
    assert result.outcome == "blocked" and "ops says stop" in result.reason
    assert paper_orders(store) == []
    [order] = orders_of(store, "order")
    assert order["status"] == "rejected" and scope in order["rejectReason"]
    assert execute_intent(intent(), paper_ctx).outcome == "duplicate"  # recorded once, never retried into a trade


def test_unreadable_controls_block_at_execution(paper_ctx, store, monkeypatch):
    controls = store.container("controls")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("controls down")

    monkeypatch.setattr(controls, "read", broken)
    monkeypatch.setattr(store, "container", lambda name, _orig=store.container: controls if name == "controls"
                        else _orig(name))
    result = execute_intent(intent(), paper_ctx)
    assert result.outcome == "blocked" and "unreadable" in result.reason
    assert paper_orders(store) == []


def test_risk_denial_is_recorded_with_its_reason(paper_ctx, store):
    result = execute_intent(intent(qty="5"), paper_ctx)  # ~150k USDT of BTC with 10k in the account
    assert result.outcome == "rejected" and "risk check" in result.reason
    assert paper_orders(store) == []


def test_daily_loss_limit_halts_the_profile_with_a_cooldown(paper_ctx, store):
    now = paper_ctx.clock.now()
    store.container("ledger").create(LedgerEntry(id="loss", account_id=ACCOUNT, kind="realized-pnl", asset="USDT",
                                                 amount=Decimal("-60"), at=now).to_doc())
    result = execute_intent(intent(), paper_ctx)
    assert result.outcome == "rejected" and "daily-loss-limit" in result.reason
    halt = store.container("controls").read(HALT_ID, profile_scope(PROFILE))
    assert halt["active"] is True and halt["automatic"] is True
    assert halt["until"] is not None
    actions = [e.action for e in read_chain(store.container("audit"), TENANT)]
    assert "halt.automatic" in actions and "order.rejected" in actions


# ------------------------------------------------------------------ fake Bybit


@pytest.fixture
def bybit_ctx(store: SqliteStore) -> Iterator[tuple[ExecutionContext, FakeBybit]]:
    clock = ManualClock(DEMO_START)
    with FakeBybit(api_key="k", api_secret="s", now_ms=lambda: int(clock.now().timestamp() * 1000)) as fake:
        client = BybitHttpClient(base_url=fake.base_url, api_key="k", api_secret="s", clock=clock,
                                 sleep=lambda s: None, rng=lambda: 0.5)
        exchange = BybitExchange(client, clock=clock)
        ctx = ExecutionContext(store=store, market=BybitMarketData(client, clock=clock),
                               exchange_for=lambda a: exchange, clock=clock)
        yield ctx, fake
        client.close()


def test_one_intent_delivered_100_times_makes_one_bybit_order(bybit_ctx, store):
    ctx, fake = bybit_ctx
    outcomes = deliver_many(ctx, intent(qty="0.01"), times=100, threads=20)
    assert outcomes.count("executed") == 1 and outcomes.count("duplicate") == 99
    assert fake.created_count == 1
    [order] = orders_of(store, "order")
    assert order["exchangeOrderId"]


def test_bybit_lost_response_is_found_by_order_link_id(bybit_ctx, store):
    ctx, fake = bybit_ctx
    fake.inject("lost_response", path="/v5/order/create")
    result = None
    for _ in range(5):
        try:
            result = execute_intent(intent(qty="0.01"), ctx)
            break
        except RetryLater:
            continue
    assert result is not None and result.outcome in ("executed", "duplicate")
    assert fake.created_count == 1
    assert execute_intent(intent(qty="0.01"), ctx).outcome == "duplicate"
    assert fake.created_count == 1


def test_a_halt_set_after_a_crash_before_submit_blocks_the_redelivery(paper_ctx, store):
    def crash_before_submit(point: str) -> None:
        if point == "submit":
            raise ExchangeUnavailable("connection reset")

    faulty = PaperExchange(store, paper_ctx.market, paper_ctx.clock, account_id=ACCOUNT,
                           initial_balances={"USDT": Decimal("10000")}, fault=crash_before_submit)
    crashing = ExecutionContext(store=store, market=paper_ctx.market, exchange_for=lambda a: faulty,
                                clock=paper_ctx.clock)
    with pytest.raises(RetryLater):
        execute_intent(intent(), crashing)
    assert orders_of(store, "order")[0]["status"] == "pending-submit"
    store.container("controls").upsert({"id": HALT_ID, "scope": GLOBAL_SCOPE, "kind": "halt", "active": True,
                                        "reason": "exchange incident", "actor": "op"})
    result = execute_intent(intent(), paper_ctx)  # the redelivery: the exchange never saw it
    assert result.outcome == "blocked" and "exchange incident" in result.reason
    assert paper_orders(store) == []
    assert orders_of(store, "order")[0]["status"] == "rejected"


def test_partial_fills_are_synced_later(store):
    clock = ManualClock(DEMO_START + timedelta(hours=5, minutes=1))
    market = load_demo_market(clock)
    exchange = PaperExchange(store, market, clock, account_id=ACCOUNT, initial_balances={"USDT": Decimal("10000000")})
    store.container("profiles").upsert({**Profile(
        id="big", tenant_id=TENANT, account_id=ACCOUNT, name="big", symbols=["BTCUSDT"], interval="1h",
        strategy_id="s", strategy_version=1, risk=RiskLimits(max_position_notional=Decimal("5000000"),
                                                             exposure_cap_notional=Decimal("5000000"))).to_doc()})
    ctx = ExecutionContext(store=store, market=market, exchange_for=lambda a: exchange, clock=clock)
    result = execute_intent(intent("i-big-buy", qty="60", profile_id="big"), ctx)  # above 25% of the bar volume
    assert result.order is not None and result.order.status is OrderStatus.PARTIALLY_FILLED
    first_qty = result.order.filled_qty
    clock.advance(timedelta(hours=6))
    assert sync_account(ctx, ACCOUNT) == 1
    [order] = orders_of(store, "order")
    assert order["status"] == "filled" and Decimal(order["filledQty"]) == Decimal("60") > first_qty
    [position] = orders_of(store, "position")
    assert Decimal(position["qty"]) == Decimal("60")
    assert len(orders_of(store, "fill")) == len(exchange.executions("BTCUSDT"))
    assert sync_account(ctx, ACCOUNT) == 0  # nothing new: nothing written


def test_bybit_base_coin_fee_reduces_the_position_and_it_can_be_sold(bybit_ctx, store):
    ctx, fake = bybit_ctx
    result = execute_intent(intent("i-fee-buy", qty="0.01"), ctx)
    assert result.outcome == "executed"
    [position] = orders_of(store, "position")
    held = Decimal(position["qty"])
    assert held < Decimal("0.01") and held == fake.balances["BTC"] - Decimal("1")  # what the exchange credited
    sell_qty = held.quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    sold = execute_intent(intent("i-fee-sell", qty=str(sell_qty), side=Side.SELL), ctx)
    assert sold.outcome == "executed", sold.reason
