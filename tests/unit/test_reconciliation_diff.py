"""The reconciliation diff, one drift kind at a time, on hand-built snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.domain.profiles import Profile
from shared.domain.reconciliation import (
    BookState,
    DiffSettings,
    ExchangeState,
    affected_profiles,
    book_balances,
    diff,
    match_ratio,
    needs_lookup,
)
from shared.domain.trading import Fill, LedgerEntry, Order, OrderStatus, OrderType, Position, Side
from shared.ports import ExchangeFill, ExchangeOrder

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
ACCOUNT = "acct-1"
ASSETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
S = OrderStatus


def order(id_: str = "o-1", status: S = S.NEW, qty: str = "0.01", filled: str = "0", at: datetime = T0,
          xid: str | None = "X1", **kw: Any) -> Order:
    fields: dict[str, Any] = dict(
        id=id_, tenant_id="t", account_id=ACCOUNT, profile_id="p-1", symbol="BTCUSDT", side=Side.BUY,
        type=OrderType.LIMIT, qty=Decimal(qty), limit_price=Decimal("20000"), status=status, exchange="paper",
        exchange_order_id=xid, filled_qty=Decimal(filled), created_at=at, updated_at=at)
    fields.update(kw)
    return Order(**fields)


def venue(cid: str = "o-1", status: S = S.NEW, qty: str = "0.01", filled: str = "0", at: datetime = T0,
          symbol: str = "BTCUSDT") -> ExchangeOrder:
    return ExchangeOrder(client_order_id=cid, exchange_order_id="X-" + cid, symbol=symbol, side=Side.BUY,
                         type=OrderType.LIMIT, qty=Decimal(qty), limit_price=Decimal("20000"), status=status,
                         filled_qty=Decimal(filled), avg_fill_price=None, created_at=T0, updated_at=at)


def vfill(fid: str, cid: str = "o-1", qty: str = "0.01", price: str = "20000", fee: str = "0.2",
          at: datetime = T0 + timedelta(minutes=10)) -> ExchangeFill:
    return ExchangeFill(exchange_fill_id=fid, client_order_id=cid, exchange_order_id="X-" + cid, symbol="BTCUSDT",
                        side=Side.BUY, price=Decimal(price), qty=Decimal(qty), fee=Decimal(fee), fee_asset="USDT",
                        liquidity="maker", at=at)


def our_fill(fid: str, cid: str = "o-1", qty: str = "0.01", price: str = "20000") -> Fill:
    return Fill(id=f"fill:{fid}", order_id=cid, account_id=ACCOUNT, symbol="BTCUSDT", side=Side.BUY,
                price=Decimal(price), qty=Decimal(qty), fee=Decimal("0.2"), fee_asset="USDT", exchange_fill_id=fid,
                at=T0 + timedelta(minutes=10))


def book(orders: Sequence[Order] = (), fills: Sequence[Fill] = (), balances: dict[str, str] | None = None) -> BookState:
    expected = {"USDT": "10000", "BTC": "0"} if balances is None else balances
    return BookState(orders=list(orders), fills=list(fills), balances={k: Decimal(v) for k, v in expected.items()},
                     assets=ASSETS)


def exchange(open_: Sequence[ExchangeOrder] = (), reported: dict[str, ExchangeOrder | None] | None = None,
             fills: Sequence[ExchangeFill] = (), balances: dict[str, str] | None = None,
             complete: AbstractSet[str] = frozenset()) -> ExchangeState:
    actual = {"USDT": "10000", "USD": "10000"} if balances is None else balances
    return ExchangeState(open_orders=list(open_), orders=reported or {}, executions=list(fills),
                         balances={k: Decimal(v) for k, v in actual.items()}, complete=frozenset(complete))


SETTINGS = DiffSettings(now=NOW)


def kinds(result: Any) -> list[str]:
    return [d.kind.value for d in result.drifts]


def test_no_drift_gives_ratio_one_and_no_plan():
    filled = order("o-2", S.FILLED, filled="0.01")
    result = diff(book([order(), filled], [our_fill("F2", "o-2")], {"USDT": "9999.8", "BTC": "0.01"}),
                  exchange([venue()], {"o-2": venue("o-2", S.FILLED, filled="0.01")}, [vfill("F2", "o-2")],
                           {"USDT": "9999.8", "BTC": "0.01"}), SETTINGS)
    assert result.drifts == () and result.repairs == ()
    assert result.match_ratio == 1.0
    assert (result.counts.orders, result.counts.fills, result.counts.balances) == (2, 1, 2)


def test_nothing_to_compare_is_a_perfect_match():
    assert diff(book(balances={}), exchange(), SETTINGS).match_ratio == 1.0
    assert match_ratio([], []) == 1.0


def test_missing_fill_is_safe_and_planned_as_an_import():
    ours = order()
    fill = vfill("F1", qty="0.004")
    result = diff(book([ours]), exchange([venue(status=S.PARTIALLY_FILLED, filled="0.004")], fills=[fill],
                                         balances={"USDT": "9919.8", "BTC": "0.004"}, complete={"o-1"}), SETTINGS)
    assert kinds(result) == ["missing-fill"]
    [drift] = result.drifts
    assert drift.safe and drift.order_id == "o-1" and drift.details["fillId"] == "F1"
    [repair] = result.repairs
    assert (repair.action, repair.fill_ids, repair.exchange_status) == ("sync", ["F1"], S.PARTIALLY_FILLED)
    # the balances already hold the fill the repair imports: no balance drift on top
    assert result.match_ratio == round(3 / 4, 6)  # order, fill, USDT, BTC; the fill spoiled


def test_fills_that_complete_an_order_the_exchange_forgot_mean_filled_not_vanished():
    result = diff(book([order()]), exchange(reported={"o-1": None}, fills=[vfill("F1")],
                                            balances={"USDT": "9799.8", "BTC": "0.01"}, complete={"o-1"}), SETTINGS)
    assert kinds(result) == ["missing-fill"]
    assert result.repairs[0].action == "close-vanished" and result.repairs[0].fill_ids == ["F1"]


def test_order_unknown_to_us_is_unsafe():
    result = diff(book(), exchange([venue("stranger")]), SETTINGS)
    assert kinds(result) == ["unknown-order"]
    [drift] = result.drifts
    assert not drift.safe and drift.symbol == "BTCUSDT" and drift.details["clientOrderId"] == "stranger"
    assert result.repairs == ()
    assert result.counts.flagged == 1


def test_fill_of_an_order_unknown_to_us_is_unsafe_too():
    result = diff(book(), exchange(fills=[vfill("F9", "manual")], balances={"USDT": "9799.8", "BTC": "0.01"}),
                  SETTINGS)
    assert sorted(kinds(result)) == ["balance-mismatch", "balance-mismatch", "unknown-order"]
    assert all(not d.safe for d in result.drifts)


def test_our_order_missing_on_the_exchange_is_closed_as_vanished():
    result = diff(book([order(status=S.PARTIALLY_FILLED, filled="0.004")], [our_fill("F1", qty="0.004")],
                       {"USDT": "9919.8", "BTC": "0.004"}),
                  exchange(reported={"o-1": None}, fills=[vfill("F1", qty="0.004")],
                           balances={"USDT": "9919.8", "BTC": "0.004"}, complete={"o-1"}), SETTINGS)
    assert kinds(result) == ["vanished-order"]
    assert result.drifts[0].safe and result.drifts[0].details["exchangeStatus"] == "none"
    assert result.repairs[0].action == "close-vanished" and result.repairs[0].fill_ids == []


def test_order_closed_on_the_exchange_is_synced():
    result = diff(book([order()]), exchange(reported={"o-1": venue(status=S.CANCELED)}), SETTINGS)
    assert kinds(result) == ["vanished-order"]
    assert result.repairs[0].action == "sync" and result.repairs[0].exchange_status is S.CANCELED


def test_order_open_on_the_exchange_that_we_recorded_closed_is_an_unsafe_status_mismatch():
    result = diff(book([order(status=S.CANCELED)]), exchange([venue()]), SETTINGS)
    assert kinds(result) == ["status-mismatch"]
    assert not result.drifts[0].safe and "canceled" in result.drifts[0].summary
    assert result.repairs == ()


def test_filled_quantities_that_disagree_are_unsafe_and_nothing_is_repaired():
    result = diff(book([order(status=S.PARTIALLY_FILLED, filled="0.004")], [our_fill("F1", qty="0.004")]),
                  exchange([venue(status=S.PARTIALLY_FILLED, filled="0.006")],
                           fills=[vfill("F1", qty="0.004"), vfill("F2", qty="0.001")], complete={"o-1"},
                           balances={"USDT": "9919.8", "BTC": "0.004"}),
                  SETTINGS)
    assert kinds(result)[0] == "status-mismatch" and "filled quantity" in result.drifts[0].summary
    assert result.drifts[0].details["missingFills"] == "F2"
    assert result.repairs == ()


def test_a_fill_we_hold_that_the_exchange_does_not_is_unsafe():
    ours = order(status=S.FILLED, filled="0.01")
    result = diff(book([ours], [our_fill("F1")], {"USDT": "9799.8", "BTC": "0.01"}),
                  exchange(reported={"o-1": venue(status=S.FILLED, filled="0.01")}, fills=[vfill("F2")],
                           complete={"o-1"}, balances={"USDT": "9799.8", "BTC": "0.01"}), SETTINGS)
    assert kinds(result) == ["status-mismatch"] and "F1" in result.drifts[0].summary


def test_a_stale_pending_submit_the_exchange_accepted_is_synced():
    pending = order(status=S.PENDING_SUBMIT, xid=None, at=NOW - timedelta(minutes=30))
    result = diff(book([pending]), exchange([venue(at=NOW - timedelta(minutes=30))]), SETTINGS)
    assert kinds(result) == ["status-mismatch"] and result.drifts[0].safe
    assert result.repairs[0].action == "sync"


def test_a_stale_pending_submit_the_exchange_never_got_is_closed():
    pending = order(status=S.PENDING_SUBMIT, xid=None, at=NOW - timedelta(minutes=30))
    result = diff(book([pending]), exchange(reported={"o-1": None}, complete={"o-1"}), SETTINGS)
    assert kinds(result) == ["vanished-order"] and result.repairs[0].action == "close-vanished"


def test_balance_mismatch_is_unsafe_and_names_the_asset():
    result = diff(book(), exchange(balances={"USDT": "9990", "USD": "10000"}), SETTINGS)
    assert kinds(result) == ["balance-mismatch"]
    [drift] = result.drifts
    assert drift.asset == "USDT" and drift.details["difference"] == "-10" and not drift.safe
    assert result.match_ratio == 0.5  # USDT spoiled, BTC matched; USD is not in our books


def test_differences_within_the_tolerance_are_not_drift():
    result = diff(book(), exchange(balances={"USDT": "10000.000000001"}), SETTINGS)
    assert result.drifts == ()


def test_recent_activity_is_in_flight_not_drift():
    fresh = order(at=NOW - timedelta(seconds=30))
    young_pending = order("o-2", S.PENDING_SUBMIT, xid=None, at=NOW - timedelta(minutes=5))
    result = diff(book([fresh, young_pending]), exchange(reported={"o-1": None, "o-2": None},
                                                         balances={"USDT": "1", "BTC": "5"}), SETTINGS)
    assert result.drifts == ()  # vanished-looking orders and odd balances, but all may be mid-write
    assert result.counts.in_flight == 2 and result.in_flight_symbols == {"BTCUSDT"}
    late_fill = diff(book([order()]), exchange([venue(status=S.PARTIALLY_FILLED, filled="0.004")],
                                               fills=[vfill("F1", qty="0.004", at=NOW - timedelta(seconds=5))]),
                     SETTINGS)
    assert late_fill.drifts == () and late_fill.counts.in_flight == 1


def test_orders_closed_before_reaching_the_exchange_are_not_compared():
    refused = order(status=S.REJECTED, xid=None)
    result = diff(book([refused]), exchange(), SETTINGS)
    assert result.drifts == () and result.counts.orders == 0


def test_needs_lookup_names_orders_the_snapshot_cannot_judge():
    ours = [order("o-1"), order("o-2"), order("o-3", status=S.PARTIALLY_FILLED, filled="0.004"),
            order("o-4", at=NOW - timedelta(seconds=10))]
    state = exchange([venue("o-1"), venue("o-3", status=S.PARTIALLY_FILLED, filled="0.006")])
    assert needs_lookup(book(ours), state, SETTINGS) == [("o-2", "BTCUSDT"), ("o-3", "BTCUSDT")]


def test_book_balances_follow_the_ledger_invariant():
    entries = [LedgerEntry(id="d", account_id=ACCOUNT, kind="deposit", asset="USDT", amount=Decimal("10000"), at=T0),
               LedgerEntry(id="f", account_id=ACCOUNT, kind="fee", asset="USDT", amount=Decimal("-0.2"), at=T0)]
    position = Position(account_id=ACCOUNT, symbol="BTCUSDT", qty=Decimal("0.01"), avg_cost=Decimal("20000"))
    balances, error = book_balances(entries, [position], {"BTCUSDT": "BTC", "ETHUSDT": "ETH"},
                                    {"BTCUSDT": "USDT", "ETHUSDT": "USDT"})
    assert error is None
    assert balances == {"USDT": Decimal("9799.8"), "BTC": Decimal("0.01"), "ETH": Decimal(0)}
    twice = [*entries, entries[1]]
    _, error = book_balances(twice, [position], {"BTCUSDT": "BTC"}, {"BTCUSDT": "USDT"})
    assert error is not None and "more than once" in error


def test_halts_reach_the_orders_profile_and_every_profile_on_its_symbol():
    def profile(id_: str, symbols: list[str]) -> Profile:
        return Profile(id=id_, tenant_id="t", account_id=ACCOUNT, name=id_, symbols=symbols, strategy_id="s",
                       strategy_version=1)

    profiles = [profile("p-1", ["ETHUSDT"]), profile("p-2", ["BTCUSDT"]), profile("p-3", ["ETHUSDT"])]
    order_drift = diff(book([order(status=S.CANCELED)]), exchange([venue()]), SETTINGS).drifts[0]
    assert affected_profiles(order_drift, profiles) == ["p-1", "p-2"]
    balance_drift = diff(book(), exchange(balances={"USDT": "1"}), SETTINGS).drifts[0]
    assert affected_profiles(balance_drift, profiles) == ["p-1", "p-2", "p-3"]
    stranger = diff(book(), exchange([venue("x", symbol="SOLUSDT")]), SETTINGS).drifts[0]
    assert affected_profiles(stranger, profiles) == ["p-1", "p-2", "p-3"]  # no one trades it: halt them all
