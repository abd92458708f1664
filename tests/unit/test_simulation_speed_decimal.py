"""The fill model, risk checks and positions with explicit decimal contexts equal their
``localcontext`` formulation, to the last digit and exception, in any caller context.

Why: paper trading and the simulator share these functions, and both must keep the exact
results they had when every operation ran inside ``with localcontext(...)``. The oracles
below are that formulation, written out; the inputs are random, including odd caller
contexts (6 digits with ``ROUND_FLOOR``, 50 digits) that the functions must not see.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    localcontext,
)

import pytest

from shared.domain.base import round_to_step
from shared.domain.candles import from_ms
from shared.domain.fill_model import (
    Bar,
    FillModelConfig,
    ModelFill,
    WorkingOrder,
    affordable_qty,
    fill_cost,
    fill_on_bar,
    market_price,
    slipped_price,
)
from shared.domain.market import Instrument
from shared.domain.positions import InsufficientPosition, apply_fill, exact_arithmetic, tidy
from shared.domain.profiles import RiskLimits
from shared.domain.risk import RiskDenial, check_order
from shared.domain.trading import Fill, OrderIntent, OrderType, Position, Side

FILL_CTX = Context(prec=40)
CONTEXTS = [Context(), Context(prec=6, rounding=ROUND_FLOOR), Context(prec=50)]


# --------------------------------------------------------------------------- the oracles


def old_market_price(value: float, tick: Decimal) -> Decimal:
    with localcontext(FILL_CTX):
        return round_to_step(Decimal(repr(float(value))), tick, ROUND_HALF_EVEN)


def old_slipped(side: Side, reference: Decimal, tick: Decimal, bps: Decimal) -> Decimal:
    with localcontext(FILL_CTX):
        if side is Side.BUY:
            return round_to_step(reference * (10_000 + bps) / 10_000, tick, ROUND_CEILING)
        return round_to_step(reference * (10_000 - bps) / 10_000, tick, ROUND_FLOOR)


def old_fill_market(order: WorkingOrder, bar: Bar, ins: Instrument, cfg: FillModelConfig, max_qty: Decimal | None,
                    budget: Decimal | None) -> ModelFill | None:
    if order.remaining <= 0:
        return None
    price = old_slipped(order.side, old_market_price(bar.open, ins.tick_size), ins.tick_size, cfg.slippage_bps)
    rate = cfg.taker_fee_rate
    with localcontext(FILL_CTX):
        qty = order.remaining
        if cfg.max_participation is not None:
            qty = min(qty, round_to_step(cfg.max_participation * Decimal(repr(float(bar.volume))), ins.lot_size))
        if max_qty is not None:
            qty = min(qty, max_qty)
        if budget is not None and order.side is Side.BUY:
            qty = min(qty, Decimal(0) if budget <= 0 or price <= 0 else budget / (price * (1 + rate)))
        qty = round_to_step(qty, ins.lot_size)
        if qty <= 0:
            return None
        return ModelFill(bar.open_time_ms, price, qty, price * qty * rate, "taker")


def old_fill_cost(side: Side, fill: ModelFill) -> tuple[Decimal, Decimal]:
    with localcontext(FILL_CTX):
        notional = fill.price * fill.qty
        if side is Side.BUY:
            return fill.qty, -(notional + fill.fee)
        return -fill.qty, notional - fill.fee


@contextmanager
def old_exact() -> Iterator[Context]:
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 100, ROUND_HALF_EVEN
        ctx.traps[Inexact] = ctx.traps[InvalidOperation] = True
        yield ctx


def old_tidy(value: Decimal) -> Decimal:
    wide = Context(prec=100)
    normal = value.normalize(wide)
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1), context=wide) if isinstance(exponent, int) and exponent > 0 else normal


def old_apply(position: Position, fill: Fill) -> tuple[Position, Decimal]:
    if fill.qty <= 0 or fill.price <= 0:
        raise ValueError("needs a positive quantity and price")
    with old_exact():
        if fill.side is Side.SELL and fill.qty > position.qty:
            raise InsufficientPosition("insufficient")
        old_cost = position.qty * position.avg_cost
        if fill.side is Side.BUY:
            qty = position.qty + fill.qty
            true_cost = old_cost + fill.qty * fill.price
            wide = Context(prec=100, rounding=ROUND_HALF_EVEN)
            avg = old_tidy(wide.divide(true_cost, qty).quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN,
                                                                 context=wide))
            realized = old_tidy(qty * avg - true_cost)
        else:
            qty = position.qty - fill.qty
            avg = position.avg_cost if qty else Decimal(0)
            realized = (fill.price - position.avg_cost) * fill.qty
        update = {"qty": qty, "avg_cost": avg, "realized_pnl": position.realized_pnl + realized,
                  "fees_paid": position.fees_paid + fill.fee, "updated_at": fill.at}
        return position.model_copy(update=update), realized


def old_buy_checks(ins: Instrument, qty: Decimal, price: Decimal, free: Decimal, held: Decimal, open_buys: Decimal,
                   limits: RiskLimits, fee_rate: Decimal) -> tuple[str, dict[str, object]] | None:
    """The notional, balance, exposure and position checks of a market buy, tidied first."""
    with old_exact():
        notional = old_tidy(qty * price)
        if notional < ins.min_notional:
            return "min-notional", {"notional": notional}
        needed = old_tidy(notional * (1 + fee_rate))
        exposure = old_tidy((held + qty) * price + open_buys)
        after = old_tidy((held + qty) * price)
    if free < needed:
        return "balance", {"needed": needed}
    if exposure > limits.exposure_cap_notional:
        return "exposure-cap", {"exposure": exposure}
    if after > limits.max_position_notional:
        return "max-position", {"position_notional": after}
    return None


# --------------------------------------------------------------------------- the comparisons


def outcome(call: Callable[..., object], *args: object) -> tuple[str, str]:
    try:
        return "ok", repr(call(*args))
    except (ValueError, ArithmeticError) as exc:
        return "raise", type(exc).__name__


def random_case(rnd: random.Random) -> tuple[Instrument, FillModelConfig, Bar, Decimal, Side]:
    tick = Decimal(rnd.choice(["0.01", "0.5", "0.00000001", "1"]))
    lot = Decimal(rnd.choice(["0.000001", "0.0001", "0.1", "1"]))
    ins = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=tick, lot_size=lot,
                     min_qty=lot, min_notional=Decimal(rnd.choice(["5", "0", "1"])))
    cfg = FillModelConfig(taker_fee_rate=Decimal(rnd.choice(["0.001", "0.00075", "0"])),
                          slippage_bps=Decimal(rnd.choice(["0", "2", "7.5"])),
                          max_participation=rnd.choice([None, Decimal("0.25"), Decimal("0.002")]))
    price = rnd.choice([rnd.uniform(0.00001, 1), rnd.uniform(1, 100000)])
    open_ = price * rnd.uniform(0.99, 1.01)
    bar = Bar(1_700_000_000_000, open_, max(open_, price) * 1.002, min(open_, price) * 0.998, price,
              rnd.choice([rnd.uniform(0, 50), 0.0]))
    qty = (Decimal(rnd.randint(1, 500_000)) * lot / rnd.choice([1, 3])).quantize(lot, context=Context(prec=60))
    return ins, cfg, bar, max(qty, lot), rnd.choice([Side.BUY, Side.SELL])


@pytest.mark.parametrize("caller", CONTEXTS, ids=["default", "prec6-floor", "prec50"])
def test_fill_model_equals_its_localcontext_formulation(caller: Context) -> None:
    rnd = random.Random(21)
    for _ in range(1500):
        ins, cfg, bar, qty, side = random_case(rnd)
        work = WorkingOrder(side, OrderType.MARKET, qty)
        cap = rnd.choice([None, qty / 2, Decimal(0)])
        budget = rnd.choice([None, Decimal(repr(rnd.uniform(-1, 1e5)))])
        with localcontext(caller):
            assert outcome(market_price, bar.open, ins.tick_size) == outcome(old_market_price, bar.open, ins.tick_size)
            reference = old_market_price(bar.close, ins.tick_size)
            slip = (side, reference, ins.tick_size, cfg.slippage_bps)
            assert outcome(slipped_price, *slip) == outcome(old_slipped, *slip)
            new = fill_on_bar(work, bar, ins, cfg, max_qty=cap, quote_budget=budget)
            assert repr(new) == repr(old_fill_market(work, bar, ins, cfg, cap, budget))
            if new is not None:
                assert repr(fill_cost(side, new)) == repr(old_fill_cost(side, new))
            if budget is not None:
                price = old_slipped(Side.BUY, reference, ins.tick_size, cfg.slippage_bps)
                with localcontext(FILL_CTX):
                    want = Decimal(0) if budget <= 0 or price <= 0 else budget / (price * (1 + cfg.taker_fee_rate))
                assert repr(affordable_qty(budget, price, cfg.taker_fee_rate)) == repr(want)


@pytest.mark.parametrize("caller", CONTEXTS, ids=["default", "prec6-floor", "prec50"])
def test_positions_equal_their_localcontext_formulation(caller: Context) -> None:
    rnd = random.Random(22)
    raised = 0
    for _ in range(1500):
        ins, cfg, bar, qty, side = random_case(rnd)
        fill = fill_on_bar(WorkingOrder(side, OrderType.MARKET, qty), bar, ins, cfg)
        if fill is None:
            continue
        avg = Decimal(repr(bar.close * rnd.uniform(0.5, 1.5))).quantize(Decimal("1e-18"), context=Context(prec=60))
        held = qty * rnd.choice([0, 1, 2]) if rnd.random() < 0.9 else qty / 7
        position = Position(account_id="a", symbol="BTCUSDT", qty=held, avg_cost=avg if held else Decimal(0),
                            realized_pnl=Decimal("-12.5"), fees_paid=Decimal("0.25"))
        record = Fill(id="f", order_id="o", account_id="a", symbol="BTCUSDT", side=side, price=fill.price,
                      qty=fill.qty, fee=fill.fee, fee_asset="USDT", at=from_ms(1_700_000_000_000))
        with localcontext(caller):
            got, want = outcome(apply_fill, position, record), outcome(old_apply, position, record)
            assert got == want
            raised += got[0] == "raise"
            odd = Decimal(repr(rnd.uniform(-1e6, 1e6))) * Decimal(rnd.choice(["1E+3", "1", "1E-30"]))
            assert repr(tidy(odd)) == repr(old_tidy(odd))
            with exact_arithmetic() as ctx, old_exact() as old:
                assert (ctx.prec, ctx.rounding, ctx.traps) == (old.prec, old.rounding, old.traps)
    assert raised > 10  # the sells beyond the position were exercised


def test_buy_checks_compare_exact_values_and_show_them_tidied() -> None:
    rnd = random.Random(23)
    seen: Counter[str] = Counter()
    for _ in range(4000):
        ins, _cfg, bar, qty, _side = random_case(rnd)
        price = old_market_price(bar.open, ins.tick_size)
        if price <= 0:
            continue
        held = Decimal(rnd.randint(0, 1000)) * ins.lot_size
        free, open_buys = Decimal(repr(rnd.uniform(0, 1e6))), Decimal(repr(rnd.uniform(0, 5e4)))
        limits = RiskLimits(max_position_notional=Decimal(rnd.choice(["1000", "100000", "1e9"])),
                            exposure_cap_notional=Decimal(rnd.choice(["1000", "100000", "1e9"])))
        intent = OrderIntent(id="x", tenant_id="t", account_id="a", profile_id=None, symbol="BTCUSDT", side=Side.BUY,
                             type=OrderType.MARKET, qty=qty, source="manual", created_at=from_ms(0))
        denial = check_order(intent, instrument=ins, price=price, balances={"USDT": free},
                             position=Position(account_id="a", symbol="BTCUSDT", qty=held), open_orders=0,
                             limits=limits, realized_today=Decimal(0), open_buy_notional=open_buys)
        want = old_buy_checks(ins, qty, price, free, held, open_buys, limits, Decimal("0.001"))
        if want is None:
            assert denial is None
            seen["pass"] += 1
            continue
        assert isinstance(denial, RiskDenial) and denial.check == want[0]
        for key, value in want[1].items():
            assert repr(denial.values[key]) == repr(value) and str(value) in denial.reason
        seen[want[0]] += 1
    assert min(seen[k] for k in ("pass", "min-notional", "balance", "exposure-cap", "max-position")) > 0, seen
