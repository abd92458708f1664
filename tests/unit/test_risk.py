from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.risk import (
    CHECK_ORDER,
    RiskDenial,
    check_order,
    round_limit_price,
    round_qty,
    size_order,
)
from shared.domain.trading import OrderIntent, OrderType, Position, Side

D = Decimal
T0 = datetime(2024, 5, 1, tzinfo=UTC)

VALID: dict[str, Any] = {
    "realized_today": D("-100"), "status": "trading", "price": D("60000"), "qty": D("0.01"),
    "limit_price": D("60000.00"), "quote": D("10000"), "position_qty": D("0"), "base": None, "open_orders": 4,
    "max_position": D("10000"), "exposure_cap": D("20000"), "open_buy_notional": D("0"), "side": Side.BUY,
}

BREAKS: dict[str, dict[str, Any]] = {
    "daily-loss-limit": {"realized_today": D("-500")},
    "instrument-status": {"status": "halted"},
    "reference-price": {"price": D("0")},
    "lot-size": {"qty": D("0.01005")},
    "min-qty": {"qty": D("0.0005")},
    "max-qty": {"qty": D("101")},
    "tick-size": {"limit_price": D("60000.005")},
    "min-notional": {"limit_price": D("5000")},
    "max-open-orders": {"open_orders": 5},
    "balance": {"quote": D("600")},  # 600 notional + 0.6 fee
    "exposure-cap": {"open_buy_notional": D("19400.01")},
    "max-position": {"max_position": D("599.99")},
}


def run(overrides: dict[str, Any] | None = None, *, order_type: OrderType = OrderType.LIMIT) -> RiskDenial | None:
    p: dict[str, Any] = {**VALID, **(overrides or {})}
    instrument = Instrument(
        exchange="bybit", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("0.01"), lot_size=D("0.0001"),
        min_qty=D("0.001"), max_qty=D("100"), min_notional=D("100"), status=p["status"],
    )
    intent = OrderIntent(
        id="i1", tenant_id="t1", account_id="acc", profile_id="p1", symbol="BTCUSDT", side=p["side"],
        type=order_type, qty=p["qty"], limit_price=p["limit_price"] if order_type is OrderType.LIMIT else None,
        source="strategy", created_at=T0,
    )
    balances = {"USDT": p["quote"]}
    if p["base"] is not None:
        balances["BTC"] = p["base"]
    position = Position(account_id="acc", symbol="BTCUSDT", qty=p["position_qty"], avg_cost=D("50000"))
    limits = RiskLimits(
        max_position_notional=p["max_position"], exposure_cap_notional=p["exposure_cap"], max_open_orders=5,
        daily_loss_limit=D("500"),
    )
    return check_order(
        intent, instrument=instrument, price=p["price"], balances=balances, position=position,
        open_orders=p["open_orders"], limits=limits, realized_today=p["realized_today"],
        open_buy_notional=p["open_buy_notional"],
    )


def denied(overrides: dict[str, Any] | None = None, *, order_type: OrderType = OrderType.LIMIT) -> RiskDenial:
    denial = run(overrides, order_type=order_type)
    assert denial is not None, "expected a denial"
    return denial


def test_breaks_cover_every_check_in_order():
    assert tuple(BREAKS) == CHECK_ORDER


def test_a_valid_order_passes():
    assert run() is None
    assert run(order_type=OrderType.MARKET) is None


@pytest.mark.parametrize("check", CHECK_ORDER)
def test_each_check_denies_with_its_name(check):
    denial = run(BREAKS[check])
    assert denial is not None and denial.check == check
    assert denial.reason.endswith(".") and denial.reason.count(". ") == 0  # one sentence
    assert denial.values


@pytest.mark.parametrize(
    ("first", "later"),
    [(a, b) for a, b in itertools.combinations(CHECK_ORDER, 2) if not set(BREAKS[a]) & set(BREAKS[b])],
)
def test_checks_run_in_the_documented_order(first, later):
    denial = run({**BREAKS[later], **BREAKS[first]})
    assert denial is not None and denial.check == first


def test_reasons_name_the_numbers():
    assert denied(BREAKS["daily-loss-limit"]).reason == (
        "Realized PnL today is -500, at or beyond the daily loss limit of -500."
    )
    assert denied(BREAKS["lot-size"]).reason == "Quantity 0.01005 is not a multiple of the lot size 0.0001."
    balance = denied(BREAKS["balance"])
    assert balance.reason == "Buying needs 600.6 USDT including fees at rate 0.001, but only 600 is free."
    assert balance.values == {"needed": D("600.6"), "available": D("600"), "fee_rate": D("0.001")}
    assert balance.verdict_values() == {"needed": "600.6", "available": "600", "fee_rate": "0.001"}
    assert denied(BREAKS["max-open-orders"]).values == {"open_orders": 5, "max_open_orders": 5}


def test_market_orders_use_the_reference_price():
    assert denied({"price": D("5000")}, order_type=OrderType.MARKET).check == "min-notional"
    assert run({"limit_price": D("60000.005")}, order_type=OrderType.MARKET) is None  # no limit price to tick-check


def test_sells_need_the_position_and_base_balance_but_skip_exposure():
    sell = {"side": Side.SELL, "quote": D("0"), "max_position": D("1"), "exposure_cap": D("1")}
    assert run({**sell, "position_qty": D("0.01")}) is None
    short = denied({**sell, "position_qty": D("0.005")})
    assert short.check == "balance" and short.reason == (
        "Selling 0.01 BTC needs that much held, but only 0.005 is available."
    )
    assert denied({**sell, "position_qty": D("1"), "base": D("0.009")}).values["available"] == D("0.009")
    assert run({**sell, "position_qty": D("1"), "base": D("0.02")}) is None


def test_exposure_counts_resting_buys_but_max_position_does_not():
    assert run({"open_buy_notional": D("19400")}) is None
    assert denied({"open_buy_notional": D("19400.01")}).check == "exposure-cap"
    assert run({"position_qty": D("0.15"), "max_position": D("9600")}) is None  # (0.15 + 0.01) * 60000 = 9600
    assert denied({"position_qty": D("0.15"), "max_position": D("9599.99")}).check == "max-position"


def test_an_instrument_for_another_symbol_is_a_bug_not_a_denial():
    instrument = Instrument(exchange="bybit", symbol="ETHUSDT", base="ETH", quote="USDT", tick_size=D("0.01"),
                            lot_size=D("0.001"), min_qty=D("0.001"), min_notional=D("1"))
    intent = OrderIntent(id="i", tenant_id="t", account_id="a", profile_id=None, symbol="BTCUSDT", side=Side.BUY,
                         type=OrderType.MARKET, qty=D("1"), source="manual", created_at=T0)
    with pytest.raises(ValueError, match="must match instrument ETHUSDT"):
        check_order(intent, instrument=instrument, price=D("1"), balances={}, position=Position(
            account_id="a", symbol="BTCUSDT"), open_orders=0, limits=RiskLimits(), realized_today=D(0))


INSTR = Instrument(exchange="bybit", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("0.01"),
                   lot_size=D("0.0001"), min_qty=D("0.001"), max_qty=D("0.15"), min_notional=D("5"))


def test_rounding_helpers():
    assert round_qty(D("0.123456"), INSTR) == D("0.1234")
    assert round_limit_price(D("60000.129"), INSTR, Side.BUY) == D("60000.12")
    assert round_limit_price(D("60000.121"), INSTR, Side.SELL) == D("60000.13")
    assert round_limit_price(D("60000.12"), INSTR, Side.SELL) == D("60000.12")


def test_size_order_risks_the_configured_share_of_equity():
    limits = RiskLimits(risk_per_trade_pct=D("1"), max_position_notional=D("10000"))
    # 1% of 10000 = 100 at risk over a 1000 stop distance -> 0.1
    assert size_order(equity=D("10000"), entry_price=D("60000"), stop_price=D("59000"), instrument=INSTR,
                      limits=limits) == D("0.1")
    # a tight stop would size 1.0; capped by max position with 1% headroom 9900/60000 -> 0.165, then max_qty 0.15
    assert size_order(equity=D("10000"), entry_price=D("60000"), stop_price=D("59900"), instrument=INSTR,
                      limits=limits) == D("0.15")
    assert size_order(equity=D("10000"), entry_price=D("60000"), stop_price=D("59900"), instrument=INSTR.model_copy(
        update={"max_qty": None}), limits=limits) == D("0.165")
    # too small to trade, or no stop distance
    assert size_order(equity=D("10"), entry_price=D("60000"), stop_price=D("59000"), instrument=INSTR,
                      limits=limits) == 0
    assert size_order(equity=D("10000"), entry_price=D("60000"), stop_price=D("60000"), instrument=INSTR,
                      limits=limits) == 0


def test_size_order_never_buys_more_than_the_equity_pays_for():
    """A shrunken account still trades: the size is capped by equity (with the headroom for
    fee and slippage), not left at the position cap and refused for balance forever."""
    limits = RiskLimits(risk_per_trade_pct=D("5"), max_position_notional=D("8000"))
    uncapped = INSTR.model_copy(update={"max_qty": None})
    # 5% of 6000 = 300 over a 100 stop -> 3 BTC; position cap 7920/60000 -> 0.132; equity 5940/60000 -> 0.099
    assert size_order(equity=D("6000"), entry_price=D("60000"), stop_price=D("59900"), instrument=uncapped,
                      limits=limits) == D("0.099")
