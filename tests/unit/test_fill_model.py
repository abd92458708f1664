"""The shared fill model: exact Decimal prices, fees, participation cap, limit crosses."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from shared.domain.fill_model import (
    Bar,
    FillModelConfig,
    ModelFill,
    WorkingOrder,
    affordable_qty,
    fill_cost,
    fill_on_bar,
    fill_over_bars,
    market_price,
    slipped_price,
)
from shared.domain.market import Instrument
from shared.domain.trading import OrderType, Side

D = Decimal
H_MS = 3_600_000
BTC = Instrument(
    exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("0.01"),
    lot_size=D("0.000001"), min_qty=D("0.000001"), min_notional=D("5"),
)
CFG = FillModelConfig()  # taker 0.001, maker 0.001, 2 bps, 25 % participation


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 100.0) -> Bar:
    return Bar(i * H_MS, o, h, lo, c, v)


def market(side: Side, qty: str) -> WorkingOrder:
    return WorkingOrder(side, OrderType.MARKET, D(qty))


def limit(side: Side, qty: str, price: str) -> WorkingOrder:
    return WorkingOrder(side, OrderType.LIMIT, D(qty), D(price))


def test_defaults() -> None:
    assert (CFG.taker_fee_rate, CFG.maker_fee_rate, CFG.slippage_bps, CFG.max_participation) == (
        D("0.001"), D("0.001"), D("2"), D("0.25"),
    )
    with pytest.raises(ValueError):
        FillModelConfig(slippage_bps=D("-1"))
    with pytest.raises(ValueError):
        FillModelConfig(max_participation=D("0"))


def test_market_buy_pays_slippage_and_taker_fee_exactly() -> None:
    fill = fill_on_bar(market(Side.BUY, "0.5"), bar(1, 100.0, 101.0, 99.0, 100.5), BTC, CFG)
    assert fill == ModelFill(H_MS, D("100.02"), D("0.5"), D("0.050010"), "taker")
    assert fill.notional == D("50.010")
    assert fill_cost(Side.BUY, fill) == (D("0.5"), D("-50.060010"))


def test_market_sell_receives_less_by_slippage_and_fee() -> None:
    fill = fill_on_bar(market(Side.SELL, "0.5"), bar(1, 100.0, 101.0, 99.0, 100.5), BTC, CFG)
    assert fill is not None
    assert (fill.price, fill.qty, fill.fee, fill.liquidity) == (D("99.98"), D("0.5"), D("0.049990"), "taker")
    assert fill_cost(Side.SELL, fill) == (D("-0.5"), D("49.940010"))


def test_slipped_prices_round_against_the_taker() -> None:
    # 27408.2 x 1.0002 = 27413.68164 -> the buyer pays the next tick up
    assert slipped_price(Side.BUY, D("27408.2"), D("0.01"), D("2")) == D("27413.69")
    # 27408.2 x 0.9998 = 27402.71836 -> the seller gets the tick below
    assert slipped_price(Side.SELL, D("27408.2"), D("0.01"), D("2")) == D("27402.71")
    assert slipped_price(Side.BUY, D("100"), D("0.01"), D("0")) == D("100")


def test_float_prices_enter_through_repr_then_the_tick() -> None:
    assert market_price(0.1 + 0.2, D("0.01")) == D("0.30")  # repr: 0.30000000000000004
    assert market_price(31391.6, D("0.01")) == D("31391.60")
    assert market_price(100.005, D("0.01")) == D("100.00")  # half-even on the exact repr text


def test_participation_cap_fills_partially_then_the_rest_at_next_opens() -> None:
    bars = [
        bar(1, 100.0, 101.0, 99.0, 100.0, v=4.0),  # cap 1.0
        bar(2, 101.0, 102.0, 100.0, 101.0, v=4.0),  # cap 1.0
        bar(3, 102.0, 103.0, 101.0, 102.0, v=40.0),  # cap 10, 0.5 left
        bar(4, 103.0, 104.0, 102.0, 103.0, v=40.0),
    ]
    fills, left = fill_over_bars(market(Side.BUY, "2.5"), bars, BTC, CFG)
    assert [(f.bar_open_ms, f.price, f.qty) for f in fills] == [
        (1 * H_MS, D("100.02"), D("1.000000")),
        (2 * H_MS, D("101.03"), D("1.000000")),  # 101 x 1.0002 = 101.0202 -> 101.03
        (3 * H_MS, D("102.03"), D("0.5")),  # 102 x 1.0002 = 102.0204 -> 102.03
    ]
    assert left.remaining == 0
    assert sum(f.fee for f in fills) == D("0.100020") + D("0.101030") + D("0.0510150")


def test_no_volume_no_fill_and_no_cap_fills_everything() -> None:
    assert fill_on_bar(market(Side.BUY, "1"), bar(1, 100.0, 100.0, 100.0, 100.0, v=0.0), BTC, CFG) is None
    uncapped = FillModelConfig(max_participation=None)
    fill = fill_on_bar(market(Side.BUY, "1000"), bar(1, 100.0, 100.0, 100.0, 100.0, v=0.0), BTC, uncapped)
    assert fill is not None and fill.qty == D("1000")


def test_cap_rounds_down_to_the_lot() -> None:
    fill = fill_on_bar(market(Side.SELL, "1"), bar(1, 100.0, 101.0, 99.0, 100.0, v=0.0000039), BTC, CFG)
    assert fill is None  # 0.25 x 0.0000039 = 0.000000975 -> 0 lots
    fill = fill_on_bar(market(Side.SELL, "1"), bar(1, 100.0, 101.0, 99.0, 100.0, v=0.123456789), BTC, CFG)
    assert fill is not None and fill.qty == D("0.030864")


def test_limit_buy_fills_when_the_low_reaches_it_at_min_open_limit() -> None:
    order = limit(Side.BUY, "1", "99.50")
    assert fill_on_bar(order, bar(1, 100.0, 101.0, 99.51, 100.0), BTC, CFG) is None
    fill = fill_on_bar(order, bar(2, 100.0, 101.0, 99.5, 100.0), BTC, CFG)
    assert fill == ModelFill(2 * H_MS, D("99.50"), D("1"), D("0.09950"), "maker")
    gapped = fill_on_bar(order, bar(3, 98.0, 98.5, 97.0, 98.0), BTC, CFG)
    assert gapped is not None and gapped.price == D("98.00")


def test_limit_sell_fills_when_the_high_reaches_it_at_max_open_limit() -> None:
    order = limit(Side.SELL, "2", "105.00")
    assert fill_on_bar(order, bar(1, 100.0, 104.99, 99.0, 104.0), BTC, CFG) is None
    fill = fill_on_bar(order, bar(2, 104.0, 105.0, 103.0, 104.5), BTC, CFG)
    assert fill is not None and (fill.price, fill.qty, fill.liquidity) == (D("105.00"), D("2"), "maker")
    gapped = fill_on_bar(order, bar(3, 107.0, 108.0, 106.0, 107.0), BTC, CFG)
    assert gapped is not None and gapped.price == D("107.00")


def test_maker_and_taker_rates_are_separate() -> None:
    cfg = FillModelConfig(taker_fee_rate=D("0.002"), maker_fee_rate=D("0.0005"), slippage_bps=D("0"))
    b = bar(1, 100.0, 101.0, 99.0, 100.0)
    taker = fill_on_bar(market(Side.BUY, "1"), b, BTC, cfg)
    maker = fill_on_bar(limit(Side.BUY, "1", "99.50"), b, BTC, cfg)
    assert taker is not None and taker.fee == D("0.200")
    assert maker is not None and maker.fee == D("0.049750")


def test_callers_limits_cap_the_fill() -> None:
    b = bar(1, 100.0, 101.0, 99.0, 100.0)
    # 50.06001 USDT buys exactly 0.5 at 100.02 with the 0.1 % fee
    fill = fill_on_bar(market(Side.BUY, "1"), b, BTC, CFG, quote_budget=D("50.06001"))
    assert fill is not None and fill.qty == D("0.5")
    assert fill_on_bar(market(Side.BUY, "1"), b, BTC, CFG, quote_budget=D("0")) is None
    sell = fill_on_bar(market(Side.SELL, "1"), b, BTC, CFG, max_qty=D("0.25"))
    assert sell is not None and sell.qty == D("0.25")
    assert affordable_qty(D("100.1"), D("100"), D("0.001")) == D("1")


def test_deterministic_and_independent_of_the_callers_decimal_context() -> None:
    bars = [bar(i, 27408.2 + i, 27500.0 + i, 27300.0 + i, 27450.0 + i, v=0.7 + i / 10) for i in range(1, 8)]
    first = fill_over_bars(market(Side.BUY, "1.234567"), bars, BTC, CFG)
    with decimal.localcontext(decimal.Context(prec=6, rounding=decimal.ROUND_UP)):
        second = fill_over_bars(market(Side.BUY, "1.234567"), bars, BTC, CFG)
    assert first == second
    assert sum(f.qty for f in first[0]) == D("1.234567") and first[1].remaining == 0


def test_a_limit_order_needs_a_price() -> None:
    with pytest.raises(ValueError):
        WorkingOrder(Side.BUY, OrderType.LIMIT, D("1"))
