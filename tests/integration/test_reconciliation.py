"""Continuous reconciliation: each drift kind injected into the paper exchange is found by
one ``reconcile_account`` run, then repaired or halted as specified.

Real pieces throughout: a SQLite store, the paper exchange over replayed real candles,
orders placed by the real execution path, and the orchestration driven by the devhost's
durable runtime (the real azure-functions-durable replay) through the unmodified client.

Faults are injected at the exchange's port by ``FaultyExchange``, a wrapper around the
real paper exchange, rather than by editing the paper book's documents, so the tests hold
whatever the paper exchange keeps internally: it can lose orders (they vanish from every
answer), acknowledge a cancel it never performs, time out around a submit, and report a
balance moved outside our books. A missed fill needs no fault: the paper exchange fills
resting orders lazily, and nothing asks it to sync.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import azure.durable_functions as df
import azure.functions as func
import pytest
from aiohttp import web
from azure.durable_functions.models.utils import http_utils
from azure.functions.timer import TimerRequest

from devhost.durable import DurableRuntime
from devhost.invocations import call_user_function
from functions.api_kit import ApiContext
from functions.http_kit import HttpProblem
from functions.reconciliation import RunsQuery, RunStart, _runs_page, start_for_accounts, start_run
from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DEMO_START, load_demo_market
from shared.adapters.sqlite_store import SqliteStore
from shared.auth.principal import Principal, Role
from shared.bootstrap import Runtime, install_runtime
from shared.config import Settings
from shared.domain.controls import HALT_ID, Control, profile_scope
from shared.domain.ledger import balance
from shared.domain.profiles import Profile
from shared.domain.reconciliation import ReconciliationRun
from shared.domain.trading import LedgerEntry, Order, OrderIntent, OrderStatus, OrderType, Side
from shared.ports import Exchange, ExchangeFill, ExchangeOrder, ExchangeUnavailable, Filter, OrderRequest, Query
from shared.product import product_info
from shared.services import reconciliation as rec
from shared.services.audit import read_chain, verify_tenant_chain
from shared.services.cancels import cancel_order
from shared.services.events import read_after, tenant_stream
from shared.services.execution import ExecutionContext, RetryLater, execute_intent
from tests.support.app_functions import app_specs

ACCOUNT, OTHER_ACCOUNT = "acct-1", "acct-2"
TENANT = "tenant-a"
PROFILES = {"p-btc": ACCOUNT, "p-btc-2": ACCOUNT, "p-other": OTHER_ACCOUNT}
START = DEMO_START + timedelta(hours=5, minutes=1)
FAR_BELOW = Decimal("20000.00")  # a resting buy the replayed market never reaches
NAMES = {rec.ORCHESTRATOR, rec.DIFF_ACTIVITY, rec.HALT_ACTIVITY, rec.REPAIR_ACTIVITY, rec.FINISH_ACTIVITY}
SPECS = [s for s in app_specs() if s.name in NAMES]
TIMER = next(s for s in app_specs() if s.name == "schedule_reconciliation")
T = TypeVar("T")


class FaultyExchange:
    """The paper exchange with faults injected at its port."""

    def __init__(self, inner: PaperExchange) -> None:
        self.inner = inner
        self.name = inner.name
        self.lost: set[str] = set()  # orders the exchange no longer knows
        self.fake_cancels: set[str] = set()  # cancels acknowledged but never performed
        self.timeout_after_submit = False  # the order is placed, the answer is lost
        self.timeout_before_submit = False  # the request never reaches the book
        self.balance_shift: dict[str, Decimal] = {}

    def submit(self, request: OrderRequest) -> ExchangeOrder:
        if self.timeout_before_submit:
            raise ExchangeUnavailable("timeout before the exchange saw the order")
        placed = self.inner.submit(request)
        if self.timeout_after_submit:
            raise ExchangeUnavailable("timeout after the exchange placed the order")
        return placed

    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        return None if client_order_id in self.lost else self.inner.get_order(symbol, client_order_id)

    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        if client_order_id in self.fake_cancels:
            placed = self.inner.get_order(symbol, client_order_id)
            assert placed is not None
            return dataclasses.replace(placed, status=OrderStatus.CANCELED)
        return self.inner.cancel(symbol, client_order_id)

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        return [o for o in self.inner.open_orders(symbol) if o.client_order_id not in self.lost]

    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        return [o for o in self.inner.order_history(symbol, since) if o.client_order_id not in self.lost]

    def executions(self, symbol: str | None = None, since: datetime | None = None, *,
                   client_order_id: str | None = None) -> list[ExchangeFill]:
        fills = self.inner.executions(symbol, since, client_order_id=client_order_id)
        return [f for f in fills if f.client_order_id not in self.lost]

    def balances(self) -> dict[str, Decimal]:
        held = self.inner.balances()
        for asset, delta in self.balance_shift.items():
            held[asset] = held.get(asset, Decimal(0)) + delta
        return held


@dataclasses.dataclass
class World:
    store: SqliteStore
    clock: ManualClock
    exchange: FaultyExchange
    ctx: ExecutionContext
    client: Any = None


class _NoBroker:
    def close(self) -> None:
        pass


def _settings(data_dir: Path) -> Settings:
    return Settings(mode="embedded", environment="development", data_dir=data_dir, cosmos_endpoint=None,
                    cosmos_key=None, cosmos_database="trading", servicebus_connection=None,
                    servicebus_namespace=None, log_level="INFO")


@pytest.fixture(scope="module")
def run() -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """One long-lived loop (the SDK caches an aiohttp session bound to the first loop)."""
    loop = asyncio.new_event_loop()
    yield lambda coro: loop.run_until_complete(asyncio.wait_for(coro, timeout=60))
    loop.run_until_complete(http_utils._close_session())
    loop.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SqliteStore(tmp_path / "store.sqlite")
    for profile_id, account in PROFILES.items():
        store.container("profiles").create(Profile(
            id=profile_id, tenant_id=TENANT, account_id=account, name=profile_id, symbols=["BTCUSDT"],
            interval="1h", strategy_id="s", strategy_version=1).to_doc())
        store.container("ledger").upsert(LedgerEntry(
            id="deposit:initial", account_id=account, kind="deposit", asset="USDT", amount=Decimal("10000"),
            at=DEMO_START).to_doc())
    clock = ManualClock(START)
    market = load_demo_market(clock)
    exchanges: dict[str, Exchange] = {a: FaultyExchange(PaperExchange(store, market, clock, account_id=a,
                                                                      initial_balances={"USDT": Decimal("10000")}))
                                      for a in (ACCOUNT, OTHER_ACCOUNT)}
    ctx = ExecutionContext(store=store, market=market, exchange_for=exchanges.__getitem__, clock=clock)
    install_runtime(Runtime(settings=_settings(tmp_path), product=product_info(), store=store,
                            broker=_NoBroker(),  # type: ignore[arg-type]
                            clock=clock, market=market, exchange_factory=exchanges.__getitem__))
    exchange = exchanges[ACCOUNT]
    assert isinstance(exchange, FaultyExchange)
    yield World(store, clock, exchange, ctx)
    install_runtime(None)  # closes the store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(world: World, db: Path, scenario: Callable[[DurableRuntime, Any], Coroutine[Any, Any, T]],
                 durable_clock: ManualClock | None = None) -> T:
    port = _free_port()
    durable = DurableRuntime(db, [*SPECS, TIMER], base_url=f"http://127.0.0.1:{port}", clock=durable_clock,
                             poll_interval=0.01)
    app = web.Application()
    durable.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await durable.start()
    try:
        return await scenario(durable, df.DurableOrchestrationClient(durable.client_binding()))
    finally:
        await durable.stop()
        await runner.cleanup()


async def _completed(client: Any, instance_id: str, timeout: float = 30,
                     durable_clock: ManualClock | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if durable_clock is not None:  # activity retries wait on durable timers: move their time on
            durable_clock.advance(timedelta(seconds=6))
        status = await client.get_status(instance_id)
        if status and status.runtime_status and status.runtime_status.value in ("Completed", "Failed"):
            assert status.runtime_status.value == "Completed", status.output
            return status.output
        assert time.monotonic() < deadline, f"{instance_id} did not finish"
        await asyncio.sleep(0.02)


def reconcile(run: Any, world: World, tmp_path: Path, account: str = ACCOUNT,
              durable_clock: ManualClock | None = None) -> dict[str, Any]:
    """One run of the real orchestration, started as an operator would; its output."""
    async def scenario(_: DurableRuntime, client: Any) -> dict[str, Any]:
        instance_id = rec.instance_id(account)
        await client.start_new(rec.ORCHESTRATOR, instance_id, rec.run_input(account, "operator", "ops",
                                                                             "req-reconcile-0001"))
        output: dict[str, Any] = await _completed(client, instance_id, durable_clock=durable_clock)
        return output

    output: dict[str, Any] = run(_serve(world, tmp_path / "durable.sqlite", scenario, durable_clock))
    return output


def runs(world: World, account: str = ACCOUNT) -> list[ReconciliationRun]:
    page = world.store.container("orders").query(rec.runs_query(), partition_key=account)
    return [ReconciliationRun.from_doc(d) for d in page.items]


def order_doc(world: World, order_id: str) -> Order:
    return Order.from_doc(world.store.container("orders").read(order_id, ACCOUNT))


def halt_of(world: World, profile_id: str) -> Control | None:
    docs = world.store.container("controls").query(Query(where=[Filter("id", "=", HALT_ID)]),
                                                   partition_key=profile_scope(profile_id)).items
    return Control.from_doc(docs[0]) if docs else None


def audit_actions(world: World) -> list[str]:
    assert verify_tenant_chain(world.store.container("audit"), TENANT) is None
    return [e.action for e in read_chain(world.store.container("audit"), TENANT)]


def place(world: World, id_: str, *, qty: str = "0.01", limit: Decimal | None = FAR_BELOW) -> Order:
    intent = OrderIntent(id=id_, tenant_id=TENANT, account_id=ACCOUNT, profile_id="p-btc", symbol="BTCUSDT",
                         side=Side.BUY, type=OrderType.LIMIT if limit else OrderType.MARKET, qty=Decimal(qty),
                         limit_price=limit, source="strategy", request_id=f"req-{id_}", created_at=world.clock.now())
    result = execute_intent(intent, world.ctx)
    assert result.order is not None and result.outcome == "executed", result
    return result.order


def assert_not_halted(world: World, *profile_ids: str) -> None:
    for profile_id in profile_ids:
        halt = halt_of(world, profile_id)
        assert halt is None or not halt.active, (profile_id, halt)


def assert_books_agree_with_the_exchange(world: World) -> None:
    entries = [LedgerEntry.from_doc(d) for d in world.store.container("ledger").query(
        Query(), partition_key=ACCOUNT).items]
    positions = world.store.container("orders").query(Query(where=[Filter("kind", "=", "position")]),
                                                      partition_key=ACCOUNT).items
    held = world.exchange.inner.balances()
    at_cost = sum((Decimal(p["qty"]) * Decimal(p["avgCost"]) for p in positions), Decimal(0))
    assert balance(entries) == held["USDT"] + at_cost
    assert sum((Decimal(p["qty"]) for p in positions), Decimal(0)) == held.get("BTC", Decimal(0))


# ---------------------------------------------------------------------------------- tests


def test_a_clean_account_runs_clean_with_ratio_one(run, world, tmp_path):
    place(world, "o-rest")
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "clean" and output["matchRatio"] == 1.0 and output["drifts"] == 0
    [stored] = runs(world)
    assert stored.status == "clean" and stored.match_ratio == 1.0
    assert stored.counts.orders == 1 and stored.counts.balances == 2  # USDT and BTC
    assert stored.request_id == "req-reconcile-0001" and stored.instance_id == rec.instance_id(ACCOUNT)
    assert stored.started_at == world.clock.now() and stored.finished_at is not None
    assert "reconciliation.clean" not in audit_actions(world)  # a clean run is not an audit event


def test_missing_fill_is_imported_with_position_and_ledger(run, world, tmp_path):
    near = Decimal("27480.00")  # the 06:00 candle trades through it; nobody tells us
    placed = place(world, "o-fill", limit=near)
    world.clock.advance(timedelta(hours=3))
    assert order_doc(world, placed.id).status is OrderStatus.NEW
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "repaired" and output["repaired"] >= 1
    [stored] = runs(world)
    assert {d.kind.value for d in stored.drifts} == {"missing-fill"}
    assert all(d.safe and d.repaired for d in stored.drifts)
    assert stored.match_ratio is not None and stored.match_ratio < 1.0
    recorded = order_doc(world, placed.id)
    assert recorded.filled_qty > 0 and recorded.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
    assert_books_agree_with_the_exchange(world)
    assert_not_halted(world, "p-btc", "p-btc-2")
    actions = audit_actions(world)
    assert "order.synced" in actions and "reconciliation.repaired" in actions
    feed = read_after(world.store, [tenant_stream(TENANT)], None).items
    assert any(e["type"] == "reconciliation.completed" for e in feed)
    world.clock.advance(timedelta(minutes=10))  # past the settle time of the repair's own write
    again = reconcile(run, world, tmp_path)  # repaired means the next run finds nothing
    assert again["status"] == "clean" and again["matchRatio"] == 1.0
    assert runs(world)[0].counts.orders == 1 and runs(world)[0].counts.fills >= 1  # compared, not skipped
    assert audit_actions(world)[-1] == "reconciliation.clean"  # the drift is gone: a change worth recording


def test_order_unknown_to_us_halts_the_accounts_profiles_on_that_symbol(run, world, tmp_path):
    world.exchange.inner.submit(OrderRequest(client_order_id="manual-1", symbol="BTCUSDT", side=Side.BUY,
                                             type=OrderType.LIMIT, qty=Decimal("0.01"), limit_price=FAR_BELOW))
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "halted" and output["haltedProfiles"] == ["p-btc", "p-btc-2"]
    [stored] = runs(world)
    [drift] = stored.drifts
    assert drift.kind.value == "unknown-order" and not drift.safe and drift.details["clientOrderId"] == "manual-1"
    assert stored.match_ratio == round(2 / 3, 6)  # the order spoiled; USDT and BTC still match
    for profile_id in ("p-btc", "p-btc-2"):
        halt = halt_of(world, profile_id)
        assert halt is not None and halt.active and halt.automatic and halt.until is None
        assert halt.actor == rec.ACTOR and "unknown-order" in halt.reason and "manual-1" in halt.reason
        assert halt.request_id == "req-reconcile-0001"
    assert_not_halted(world, "p-other")  # another account's profile trades on
    actions = audit_actions(world)
    assert actions.count("halt.automatic") == 2 and "reconciliation.halted" in actions
    feed = read_after(world.store, [tenant_stream(TENANT)], None).items
    assert [e["data"]["scope"] for e in feed if e["type"] == "control.changed"] == [
        profile_scope("p-btc"), profile_scope("p-btc-2")]
    second = reconcile(run, world, tmp_path)  # still there: flagged again, no second halt event
    assert second["status"] == "halted"
    actions = audit_actions(world)
    assert actions.count("halt.automatic") == 2 and actions.count("reconciliation.halted") == 1


def test_our_order_missing_on_the_exchange_is_closed(run, world, tmp_path):
    placed = place(world, "o-lost")
    world.exchange.lost.add(placed.id)
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "repaired"
    [stored] = runs(world)
    [drift] = stored.drifts
    assert drift.kind.value == "vanished-order" and drift.safe and drift.repaired
    closed = order_doc(world, placed.id)
    assert closed.status is OrderStatus.CANCELED and "vanished" in (closed.reject_reason or "")
    assert_not_halted(world, "p-btc", "p-btc-2")
    world.clock.advance(timedelta(minutes=10))
    assert reconcile(run, world, tmp_path)["status"] == "clean"
    assert runs(world)[0].counts.in_flight == 0


def test_order_the_exchange_closed_without_telling_us_is_synced(run, world, tmp_path):
    placed = place(world, "o-closed")
    world.exchange.inner.cancel("BTCUSDT", placed.id)  # e.g. an operator on the exchange's own site
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "repaired"
    [drift] = runs(world)[0].drifts
    assert drift.kind.value == "vanished-order" and drift.details["exchangeStatus"] == "canceled"
    assert order_doc(world, placed.id).status is OrderStatus.CANCELED


def test_stale_pending_submit_is_settled_from_the_exchange(run, world, tmp_path):
    world.exchange.timeout_after_submit = True  # placed, but the acknowledgement is lost
    intent_id = "o-pending"
    with pytest.raises(RetryLater):
        place(world, intent_id)
    world.exchange.timeout_after_submit = False
    assert order_doc(world, intent_id).status is OrderStatus.PENDING_SUBMIT
    world.clock.advance(timedelta(minutes=5))
    assert reconcile(run, world, tmp_path)["status"] == "clean"  # young: its intent may still settle it
    world.clock.advance(timedelta(minutes=20))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "repaired"
    [drift] = runs(world)[0].drifts
    assert drift.kind.value == "status-mismatch" and drift.safe and drift.repaired
    assert order_doc(world, intent_id).status is OrderStatus.NEW


def test_stale_pending_submit_the_exchange_never_got_is_closed(run, world, tmp_path):
    world.exchange.timeout_before_submit = True
    with pytest.raises(RetryLater):
        place(world, "o-never")
    world.exchange.timeout_before_submit = False
    world.clock.advance(timedelta(minutes=20))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "repaired"
    assert order_doc(world, "o-never").status is OrderStatus.CANCELED
    # a late redelivery of the intent finds the record closed and places nothing
    assert place_again_is_a_duplicate(world, "o-never")
    assert world.exchange.inner.get_order("BTCUSDT", "o-never") is None


def place_again_is_a_duplicate(world: World, id_: str) -> bool:
    intent = OrderIntent(id=id_, tenant_id=TENANT, account_id=ACCOUNT, profile_id="p-btc", symbol="BTCUSDT",
                         side=Side.BUY, type=OrderType.LIMIT, qty=Decimal("0.01"), limit_price=FAR_BELOW,
                         source="strategy", created_at=world.clock.now())
    return execute_intent(intent, world.ctx).outcome == "duplicate"


def test_status_mismatch_halts_and_is_not_repaired(run, world, tmp_path):
    placed = place(world, "o-liar")
    world.exchange.fake_cancels.add(placed.id)  # the exchange says canceled and keeps the order
    cancel_order(world.ctx, ACCOUNT, placed.id, "alice", "req-cancel-0001")
    assert order_doc(world, placed.id).status is OrderStatus.CANCELED
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "halted"
    [drift] = runs(world)[0].drifts
    assert drift.kind.value == "status-mismatch" and not drift.safe and not drift.repaired
    assert drift.details == {**drift.details, "ourStatus": "canceled", "exchangeStatus": "new"}
    assert order_doc(world, placed.id).status is OrderStatus.CANCELED  # left for the operator
    halt = halt_of(world, "p-btc")
    assert halt is not None and halt.active and "status-mismatch" in halt.reason


def test_balance_mismatch_halts_every_profile_of_the_account(run, world, tmp_path):
    world.exchange.balance_shift = {"USDT": Decimal("-25")}  # withdrawn outside our books
    world.clock.advance(timedelta(minutes=10))
    output = reconcile(run, world, tmp_path)
    assert output["status"] == "halted" and output["haltedProfiles"] == ["p-btc", "p-btc-2"]
    [drift] = runs(world)[0].drifts
    assert drift.kind.value == "balance-mismatch" and drift.asset == "USDT"
    assert drift.details["difference"] == "-25"
    assert runs(world)[0].match_ratio == 0.5
    assert_not_halted(world, "p-other")


def test_a_failing_exchange_records_a_failed_run_and_halts_nothing(run, world, tmp_path, monkeypatch):
    def down(*_: Any, **__: Any) -> Any:
        raise ExchangeUnavailable("exchange down")

    monkeypatch.setattr(world.exchange, "balances", down)
    output = reconcile(run, world, tmp_path, durable_clock=ManualClock(datetime.now(UTC)))
    assert output["status"] == "failed"
    [stored] = runs(world)
    assert stored.status == "failed" and "exchange down" in (stored.error or "")
    assert stored.match_ratio is None
    assert_not_halted(world, "p-btc", "p-btc-2")
    assert "reconciliation.failed" in audit_actions(world)


def test_the_timer_starts_one_run_per_account(run, world, tmp_path):
    async def scenario(durable: DurableRuntime, client: Any) -> list[Any]:
        timer = TimerRequest(past_due=False, schedule_status={}, schedule={})
        await call_user_function(TIMER.user_function, {TIMER.trigger_arg: timer,
                                                         "client": durable.client_binding()})
        return [await _completed(client, rec.instance_id(a)) for a in (ACCOUNT, OTHER_ACCOUNT)]

    assert TIMER.schedule == "0 */5 * * * *" and TIMER.durable_client_arg == "client"
    outputs = run(_serve(world, tmp_path / "durable.sqlite", scenario))
    assert [o["status"] for o in outputs] == ["clean", "clean"]
    assert [r.trigger for r in runs(world)] == ["timer"] and [r.actor for r in runs(world, OTHER_ACCOUNT)] == [
        rec.SCHEDULER_ACTOR]


class FakeClient:
    """Records starts; the named instances report Running."""

    def __init__(self, running: set[str], refuse: frozenset[str] = frozenset()) -> None:
        self.running, self.refuse = set(running), set(refuse)
        self.started: list[tuple[str, str, dict[str, Any]]] = []

    async def get_status(self, instance_id: str) -> Any:
        if instance_id not in self.running:
            return None
        return type("Status", (), {"runtime_status": df.OrchestrationRuntimeStatus.Running})()

    async def start_new(self, name: str, instance_id: str, payload: dict[str, Any]) -> str:
        if instance_id in self.refuse:  # a racing start won: the host answers 409
            self.running.add(instance_id)
            raise Exception("409 already exists")
        self.started.append((name, instance_id, payload))
        return instance_id


def test_the_scheduler_skips_accounts_whose_run_is_still_going(run):
    client = FakeClient(running={rec.instance_id("a-busy")}, refuse=frozenset({rec.instance_id("a-race")}))
    outcomes = run(start_for_accounts(client, ["a-busy", "a-free", "a-race"], "req-timer-00001"))
    assert outcomes == {"a-busy": "running", "a-free": "started", "a-race": "running"}
    [(name, instance_id, payload)] = client.started
    assert (name, instance_id) == (rec.ORCHESTRATOR, "reconcile-a-free")
    assert payload == {"accountId": "a-free", "trigger": "timer", "actor": rec.SCHEDULER_ACTOR,
                       "requestId": "req-timer-00001"}


def test_instance_ids_are_one_per_account():
    assert rec.instance_id("acct-1") == rec.instance_id("acct-1") == "reconcile-acct-1"
    odd = rec.instance_id("tenant/with#odd?chars")
    assert odd.startswith("reconcile-h-") and "/" not in odd and odd != rec.instance_id("tenant/with#odd?chars2")


def test_runs_are_listed_newest_first_page_by_page(run, world, tmp_path):
    reconcile(run, world, tmp_path)
    world.clock.advance(timedelta(minutes=5))
    reconcile(run, world, tmp_path)
    first = _runs_page(TENANT, RunsQuery(account_id=ACCOUNT, limit=1))
    assert len(first["items"]) == 1 and first["continuation"]
    second = _runs_page(TENANT, RunsQuery(account_id=ACCOUNT, limit=1, continuation=first["continuation"]))
    assert second["items"][0].started_at < first["items"][0].started_at and second["continuation"] is None
    with pytest.raises(HttpProblem) as refused:  # a token is bound to its account's listing
        _runs_page(TENANT, RunsQuery(account_id=OTHER_ACCOUNT, limit=1, continuation=first["continuation"]))
    assert refused.value.status == 400


def test_an_operator_start_is_audited_and_refused_while_a_run_is_going(run, world):
    principal = Principal(user_id="ops", tenant_id=TENANT, roles=frozenset({Role.OPERATOR}))
    request = func.HttpRequest("POST", "http://127.0.0.1/api/admin/reconciliation/run", body=b"{}")
    instance_id = rec.instance_id(ACCOUNT)

    def context(client: FakeClient) -> ApiContext:
        return ApiContext(req=request, request_id="req-start-00001", principal=principal,
                          body=RunStart(account_id=ACCOUNT), client=client)

    for client in (FakeClient(running={instance_id}), FakeClient(running=set(), refuse=frozenset({instance_id}))):
        with pytest.raises(HttpProblem) as problem:
            run(start_run(context(client)))
        assert problem.value.status == 409 and problem.value.extra == {"instanceId": instance_id}
    free = FakeClient(running=set())
    answer = run(start_run(context(free)))
    assert answer.status == 202 and answer.headers == {"location": f"/api/admin/reconciliation?accountId={ACCOUNT}"}
    assert free.started == [(rec.ORCHESTRATOR, instance_id, {"accountId": ACCOUNT, "trigger": "operator",
                                                             "actor": "ops", "requestId": "req-start-00001"})]
    events = read_chain(world.store.container("audit"), TENANT)
    requested = [e for e in events if e.action == "reconciliation.requested"]
    assert len(requested) == 2  # the race that lost was audited as requested too; the busy one was not
    assert all(e.actor == "ops" and e.request_id == "req-start-00001" and e.target == f"account:{ACCOUNT}"
               for e in requested)
