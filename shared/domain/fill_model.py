"""The one fill model: how an order fills against a bar, for paper trading and the simulator.

Why one model: a strategy approved on simulated results must meet the same fills when it
paper-trades, or the approval measured something else. So both call these functions.
Nothing here touches a store or a clock. The model is deterministic: the same bars and
the same orders give the same fills, to the last decimal.

Conventions (the replay convention, with no look-inside-the-bar):
- The *reference bar* of a market order is the bar forming when it is placed. In a
  replay that is the bar after the signal bar. The order fills at that bar's open,
  moved against the taker by ``slippage_bps`` and rounded to the tick, also against
  the taker.
- Each fill is capped at ``max_participation`` x the bar's volume (base units, rounded
  down to the lot). A large order fills partially, and the remainder fills on the
  following bars at their open.
- A limit order rests. It fills on a later bar whose range reaches the limit: a buy
  when ``low <= limit``, at ``min(open, limit)``; a sell when ``high >= limit``, at
  ``max(open, limit)``. It pays the maker fee.
- Fee = notional x fee rate, in the quote asset, kept exact (no rounding), so the
  ledger sums back to the balances.
Float candle prices enter as ``Decimal(repr(x))`` (the shortest exact text of the
float), then are rounded to the tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from typing import Literal

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.market import Candle, Instrument
from shared.domain.trading import OrderType, Side

Liquidity = Literal["maker", "taker"]

#: Every computation runs in this context, so a caller's global decimal context can
#: never change a fill (determinism across processes). It is used explicitly
#: (``_CONTEXT.multiply(a, b)`` is ``a * b`` under ``localcontext(_CONTEXT)``): entering a
#: local context per call cost more than the arithmetic. Only its flags ever change, and
#: flags never change a result.
_CONTEXT = Context(prec=40)
_BPS = Decimal(10_000)
_ONE = Decimal(1)


def _to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``base.round_to_step`` in :data:`_CONTEXT`."""
    if step <= 0:
        raise ValueError("step must be positive")
    ctx = _CONTEXT
    return ctx.multiply(ctx.divide(value, step).to_integral_value(rounding=rounding, context=ctx), step)


@dataclass(frozen=True)
class FillModelConfig:
    """Fee rates are fractions (0.001 = 0.1 %); ``slippage_bps`` is in basis points;
    ``max_participation`` is the fraction of a bar's volume one order may take
    (None: no cap)."""

    taker_fee_rate: Decimal = Decimal("0.001")
    maker_fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal("2")
    max_participation: Decimal | None = Decimal("0.25")

    def __post_init__(self) -> None:
        for name in ("taker_fee_rate", "maker_fee_rate", "slippage_bps", "max_participation"):
            value = getattr(self, name)
            if value is None and name == "max_participation":
                continue
            if not isinstance(value, Decimal):
                object.__setattr__(self, name, value := Decimal(str(value)))
            if not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative finite decimal")
        if self.max_participation is not None and self.max_participation == 0:
            raise ValueError("max_participation must be positive (None disables the cap)")


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar as the fill model sees it: open time in epoch ms, float market data."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def from_candle(cls, candle: Candle) -> Bar:
        return cls(to_ms(candle.open_time), candle.open, candle.high, candle.low, candle.close, candle.volume)

    @classmethod
    def at(cls, series: CandleSeries, index: int) -> Bar:
        return cls(
            int(series.open_time[index]),
            float(series.open[index]),
            float(series.high[index]),
            float(series.low[index]),
            float(series.close[index]),
            float(series.volume[index]),
        )


@dataclass(frozen=True)
class WorkingOrder:
    """What is left of an order: ``remaining`` base quantity (a lot multiple)."""

    side: Side
    type: OrderType
    remaining: Decimal
    limit_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.type is OrderType.LIMIT and (self.limit_price is None or self.limit_price <= 0):
            raise ValueError("a limit order needs a positive limit price")


@dataclass(frozen=True)
class ModelFill:
    """One fill on one bar; ``fee`` is in the quote asset."""

    bar_open_ms: int
    price: Decimal
    qty: Decimal
    fee: Decimal
    liquidity: Liquidity

    @property
    def notional(self) -> Decimal:
        return _CONTEXT.multiply(self.price, self.qty)


def market_price(value: float, tick: Decimal) -> Decimal:
    """A float candle price as a tick-rounded Decimal (half-even: no side is favoured)."""
    return _to_step(Decimal(repr(float(value))), tick, ROUND_HALF_EVEN)


def slipped_price(side: Side, reference: Decimal, tick: Decimal, slippage_bps: Decimal) -> Decimal:
    """The taker's price: ``reference`` moved against the taker and rounded against it too."""
    ctx = _CONTEXT
    if side is Side.BUY:
        return _to_step(ctx.divide(ctx.multiply(reference, ctx.add(_BPS, slippage_bps)), _BPS), tick, ROUND_CEILING)
    return _to_step(ctx.divide(ctx.multiply(reference, ctx.subtract(_BPS, slippage_bps)), _BPS), tick, ROUND_FLOOR)


def participation_cap(bar: Bar, lot: Decimal, max_participation: Decimal | None) -> Decimal | None:
    """The most one order may fill on ``bar`` (rounded down to the lot); None: no cap."""
    if max_participation is None:
        return None
    return _to_step(_CONTEXT.multiply(max_participation, Decimal(repr(float(bar.volume)))), lot, ROUND_DOWN)


def match_price(
    order: WorkingOrder, bar: Bar, tick: Decimal, config: FillModelConfig
) -> tuple[Decimal, Liquidity] | None:
    """The price and liquidity ``order`` would get on ``bar``, or None if it does not cross."""
    if order.type is OrderType.MARKET:
        return slipped_price(order.side, market_price(bar.open, tick), tick, config.slippage_bps), "taker"
    limit = order.limit_price
    assert limit is not None  # WorkingOrder guarantees it for limit orders
    open_ = market_price(bar.open, tick)
    if order.side is Side.BUY:
        if market_price(bar.low, tick) <= limit:
            return min(open_, limit), "maker"
        return None
    if market_price(bar.high, tick) >= limit:
        return max(open_, limit), "maker"
    return None


def fee_rate(liquidity: Liquidity, config: FillModelConfig) -> Decimal:
    return config.maker_fee_rate if liquidity == "maker" else config.taker_fee_rate


def fill_on_bar(
    order: WorkingOrder,
    bar: Bar,
    instrument: Instrument,
    config: FillModelConfig,
    *,
    max_qty: Decimal | None = None,
    quote_budget: Decimal | None = None,
) -> ModelFill | None:
    """The fill ``order`` gets on ``bar``, or None (no cross, no volume, nothing left).

    ``max_qty`` and ``quote_budget`` are the caller's own limits (base balance for a
    sell; quote cash for a buy, fee included), applied after the participation cap.
    """
    if order.remaining <= 0:
        return None
    matched = match_price(order, bar, instrument.tick_size, config)
    if matched is None:
        return None
    price, liquidity = matched
    rate = fee_rate(liquidity, config)
    qty = order.remaining
    cap = participation_cap(bar, instrument.lot_size, config.max_participation)
    if cap is not None:
        qty = min(qty, cap)
    if max_qty is not None:
        qty = min(qty, max_qty)
    if quote_budget is not None and order.side is Side.BUY:
        qty = min(qty, affordable_qty(quote_budget, price, rate))
    qty = _to_step(qty, instrument.lot_size, ROUND_DOWN)
    if qty <= 0:
        return None
    ctx = _CONTEXT
    return ModelFill(bar.open_time_ms, price, qty, ctx.multiply(ctx.multiply(price, qty), rate), liquidity)


def affordable_qty(quote_budget: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """The most base quantity ``quote_budget`` buys at ``price`` with the fee on top."""
    if quote_budget <= 0 or price <= 0:
        return Decimal(0)
    ctx = _CONTEXT
    return ctx.divide(quote_budget, ctx.multiply(price, ctx.add(_ONE, rate)))


def fill_over_bars(
    order: WorkingOrder, bars: Iterable[Bar], instrument: Instrument, config: FillModelConfig
) -> tuple[list[ModelFill], WorkingOrder]:
    """Match ``order`` bar by bar (oldest first) until it is filled; returns the fills and
    what is left. The caller decides which bars are eligible (after placement)."""
    fills: list[ModelFill] = []
    for bar in bars:
        if order.remaining <= 0:
            break
        fill = fill_on_bar(order, bar, instrument, config)
        if fill is not None:
            fills.append(fill)
            order = replace(order, remaining=_CONTEXT.subtract(order.remaining, fill.qty))
    return fills, order


def fill_cost(side: Side, fill: ModelFill) -> tuple[Decimal, Decimal]:
    """(base delta, quote delta) of a fill on the account: a buy pays notional + fee,
    a sell receives notional - fee."""
    ctx = _CONTEXT
    if side is Side.BUY:
        return fill.qty, ctx.minus(ctx.add(fill.notional, fill.fee))
    return ctx.minus(fill.qty), ctx.subtract(fill.notional, fill.fee)
