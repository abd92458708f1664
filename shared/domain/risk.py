"""Pre-trade risk: checks that return a denial with its reason, and sizing helpers.

Why return instead of raise: a denial is an expected outcome the Decision must record
and every surface must explain ("why was this trade blocked?"), not an error. Only a
caller bug (an instrument for another symbol) raises.

:func:`check_order` runs these checks in this fixed order and stops at the first denial
(:data:`CHECK_ORDER` lists the names):

1. ``daily-loss-limit``: realized PnL today <= -limit. First on purpose: it is the one
   denial that makes the caller halt the profile (with cooldown), so it must win over an
   order-specific denial, or a badly sized order would keep a breached account trading.
   It denies sells too (a halt stops all new orders); a limit of 0 therefore denies all.
2. ``instrument-status``: the instrument is ``trading``.
3. ``reference-price``: a positive reference price is known (fail closed without one).
4. ``lot-size``, ``min-qty``, ``max-qty``: the quantity is a lot multiple within bounds.
5. ``tick-size``: a limit price is a tick multiple.
6. ``min-notional``: qty * order price >= the instrument's minimum.
7. ``max-open-orders``: fewer open orders than the limit.
8. ``balance``: a buy needs quote >= notional * (1 + fee rate); a sell needs the position
   (and the base balance, when given) to cover the quantity. Spot is long only.
9. ``exposure-cap``: for buys, (position + resting buys + this order) at the reference
   price <= ``exposure_cap_notional``: what the account could hold if everything fills.
10. ``max-position``: for buys, (position + this order) at the reference price <=
    ``max_position_notional``.

Halts (product, global, tenant, profile) are not re-checked here: the halts service
answers them before this runs, at the tick and again at execution. Sells skip 9 and 10
because they only reduce exposure. The order price is the limit
price for a limit order and the reference price for a market order.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal
from typing import Final

from shared.domain.base import DomainModel, Money, round_to_step
from shared.domain.decisions import VerdictValue
from shared.domain.market import Instrument
from shared.domain.positions import exact_context, tidy
from shared.domain.profiles import RiskLimits
from shared.domain.trading import OrderIntent, OrderType, Position, Side

CHECK_ORDER: Final = (
    "daily-loss-limit", "instrument-status", "reference-price", "lot-size", "min-qty", "max-qty",
    "tick-size", "min-notional", "max-open-orders", "balance", "exposure-cap", "max-position",
)

DEFAULT_FEE_RATE: Final = Decimal("0.001")
"""Taker fee assumed when reserving quote for a buy (Bybit spot's base rate, 0.1%)."""


class RiskDenial(DomainModel):
    """Why an order may not go out: the check's name, one plain sentence with the numbers,
    and the numbers themselves (Decimals kept exact)."""

    check: str
    reason: str
    values: dict[str, Money | int | str | None] = {}

    def verdict_values(self) -> dict[str, VerdictValue]:
        """``values`` for a Decision's RuleVerdict, Decimals as exact strings."""
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in self.values.items()}


def _multiple(value: Decimal, step: Decimal, ctx: Context | None = None) -> bool:
    """``value % step == 0`` in exact arithmetic (``ctx``: an :func:`exact_context` to reuse)."""
    return (ctx or exact_context()).remainder(value, step) == 0


def round_qty(qty: Decimal, instrument: Instrument) -> Decimal:
    """Round a quantity down to the lot size: never more than was sized."""
    return round_to_step(qty, instrument.lot_size, ROUND_DOWN)


def round_limit_price(price: Decimal, instrument: Instrument, side: Side) -> Decimal:
    """Round a limit price to the tick, conservatively: a buy rounds down and a sell up,
    so rounding never makes the price worse for us."""
    return round_to_step(price, instrument.tick_size, ROUND_DOWN if side is Side.BUY else ROUND_UP)


SIZE_HEADROOM = Decimal("0.99")
_ONE: Final = Decimal(1)


def size_order(
    *, equity: Decimal, entry_price: Decimal, stop_price: Decimal, instrument: Instrument, limits: RiskLimits
) -> Decimal:
    """Risk-based size: lose at most ``risk_per_trade_pct`` of equity if the stop is hit.

    qty = equity * pct / 100 / |entry - stop|, capped by ``max_position_notional`` and by
    the equity itself at the entry price and by the instrument's ``max_qty``, then rounded
    down to the lot. Returns
    0 when the result is below ``min_qty`` or ``min_notional`` (too small to trade)."""
    if equity <= 0 or entry_price <= 0 or stop_price <= 0 or entry_price == stop_price:
        return Decimal(0)
    budget = equity * limits.risk_per_trade_pct / 100
    qty = budget / abs(entry_price - stop_price)
    # 1% headroom: the fill comes at the next price, not the decision's close, and the
    # exposure and position caps are checked again at execution against that price.
    qty = min(qty, limits.max_position_notional * SIZE_HEADROOM / entry_price)
    # Spot buys are paid in cash: never size beyond what the equity can pay for (with the
    # same headroom for fee and slippage), or a shrunken account is refused forever.
    qty = min(qty, equity * SIZE_HEADROOM / entry_price)
    if instrument.max_qty is not None:
        qty = min(qty, instrument.max_qty)
    qty = round_qty(qty, instrument)
    if qty < instrument.min_qty or qty * entry_price < instrument.min_notional:
        return Decimal(0)
    return qty


def _deny(check: str, reason: str, **values: Decimal | int | str | None) -> RiskDenial:
    return RiskDenial(check=check, reason=reason, values=values)


def check_order(
    intent: OrderIntent,
    *,
    instrument: Instrument,
    price: Decimal,
    balances: dict[str, Decimal],
    position: Position,
    open_orders: int,
    limits: RiskLimits,
    realized_today: Decimal,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    open_buy_notional: Decimal = Decimal(0),
) -> RiskDenial | None:
    """The first denial in the documented order (see the module docstring), or ``None``
    when the order may go out. ``price`` is the reference (mark) price; ``balances`` are
    free balances by asset; ``open_buy_notional`` is the notional of resting buy orders in
    this instrument (for the exposure cap)."""
    return check_order_values(
        intent.symbol, intent.side, intent.type, intent.qty, intent.limit_price, instrument=instrument, price=price,
        balances=balances, position=position, open_orders=open_orders, limits=limits, realized_today=realized_today,
        fee_rate=fee_rate, open_buy_notional=open_buy_notional)


def check_order_values(
    symbol: str,
    side: Side,
    order_type: OrderType,
    qty: Decimal,
    limit_price: Decimal | None,
    *,
    instrument: Instrument,
    price: Decimal,
    balances: dict[str, Decimal],
    position: Position,
    open_orders: int,
    limits: RiskLimits,
    realized_today: Decimal,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    open_buy_notional: Decimal = Decimal(0),
) -> RiskDenial | None:
    """:func:`check_order` on the intent's fields (symbol, side, type, quantity, limit
    price), for a caller with no ``OrderIntent`` record to build (the simulator: the
    validated model costs as much as the checks). The fields must be what a valid intent
    holds (a positive quantity; a limit price exactly for a limit order)."""
    if symbol != instrument.symbol or position.symbol != instrument.symbol:
        raise ValueError(
            f"intent {symbol} and position {position.symbol} must match instrument {instrument.symbol}"
        )
    sym = instrument.symbol

    if realized_today <= -limits.daily_loss_limit:
        return _deny("daily-loss-limit", f"Realized PnL today is {realized_today}, at or beyond the daily loss "
                     f"limit of -{limits.daily_loss_limit}.", realized_today=realized_today,
                     daily_loss_limit=limits.daily_loss_limit)
    if instrument.status != "trading":
        return _deny("instrument-status", f"{sym} is {instrument.status}, not trading.", status=instrument.status)
    if price <= 0:
        return _deny("reference-price", f"The reference price for {sym} is {price}; a positive price is needed.",
                     price=price)

    exact = exact_context()  # every product and sum below is exact (Inexact is trapped)
    if not _multiple(qty, instrument.lot_size, exact):
        return _deny("lot-size", f"Quantity {qty} is not a multiple of the lot size {instrument.lot_size}.",
                     qty=qty, lot_size=instrument.lot_size)
    if qty < instrument.min_qty:
        return _deny("min-qty", f"Quantity {qty} is below the minimum quantity {instrument.min_qty}.",
                     qty=qty, min_qty=instrument.min_qty)
    if instrument.max_qty is not None and qty > instrument.max_qty:
        return _deny("max-qty", f"Quantity {qty} is above the maximum quantity {instrument.max_qty}.",
                     qty=qty, max_qty=instrument.max_qty)
    limit = limit_price if order_type is OrderType.LIMIT else None
    if limit is not None and not _multiple(limit, instrument.tick_size, exact):
        return _deny("tick-size", f"Limit price {limit} is not a multiple of the tick size {instrument.tick_size}.",
                     limit_price=limit, tick_size=instrument.tick_size)

    # Products and sums are exact (Inexact is trapped) and ``tidy`` keeps the value, so the
    # comparisons use them as they come; only a denial shows them, tidied.
    order_price = limit_price if limit_price is not None else price
    notional = exact.multiply(qty, order_price)
    if notional < instrument.min_notional:
        notional = tidy(notional)
        return _deny("min-notional", f"Order notional {notional} is below the minimum notional "
                     f"{instrument.min_notional}.", notional=notional, min_notional=instrument.min_notional)
    if open_orders >= limits.max_open_orders:
        return _deny("max-open-orders", f"{open_orders} orders are already open; the limit is "
                     f"{limits.max_open_orders}.", open_orders=open_orders, max_open_orders=limits.max_open_orders)

    if side is Side.SELL:
        held = position.qty
        if instrument.base in balances:
            held = min(held, balances[instrument.base])
        if qty > held:
            return _deny("balance", f"Selling {qty} {instrument.base} needs that much held, but only {held} is "
                         "available.", qty=qty, available=held)
        return None

    needed = exact.multiply(tidy(notional), exact.add(_ONE, fee_rate))
    after = exact.multiply(exact.add(position.qty, qty), price)
    exposure = exact.add(after, open_buy_notional)
    free = balances.get(instrument.quote, Decimal(0))
    if free < needed:
        needed = tidy(needed)
        return _deny("balance", f"Buying needs {needed} {instrument.quote} including fees at rate {fee_rate}, "
                     f"but only {free} is free.", needed=needed, available=free, fee_rate=fee_rate)
    if exposure > limits.exposure_cap_notional:
        exposure = tidy(exposure)
        return _deny("exposure-cap", f"Exposure in {sym} would be {exposure}, above the cap of "
                     f"{limits.exposure_cap_notional}.", exposure=exposure, cap=limits.exposure_cap_notional)
    if after > limits.max_position_notional:
        after = tidy(after)
        return _deny("max-position", f"The {sym} position would be worth {after}, above the maximum of "
                     f"{limits.max_position_notional}.", position_notional=after,
                     max_position_notional=limits.max_position_notional)
    return None
