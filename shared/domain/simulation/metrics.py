"""Metrics of a run: the equity curve, round trips and the numbers a report compares.

Why the curve is rebuilt instead of recorded bar by bar: the account only changes at a
fill, so holdings are piecewise constant and ``equity_t = quote + base * close_t`` is one
numpy expression over the whole range (the engine never touches the bars between
candidates). Floats for the statistics, Decimal for money that must add up (final
equity, fees, trade PnL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np

from shared.domain.candles import from_ms
from shared.domain.market import INTERVAL_SECONDS
from shared.domain.trading import Side

from .engine import EngineRun
from .models import EquityPoint, Metrics, TradeRecord
from .windowed import FloatArray

YEAR_SECONDS: Final = 365 * 86_400


def equity_curve(run: EngineRun) -> FloatArray:
    """Equity at the close of every decided bar ``start .. end - 1`` (float)."""
    setup = run.setup
    bars = np.arange(setup.start, setup.stop)
    change_bars = np.array([bar for bar, _, _ in run.changes], dtype=np.int64)
    quotes = np.array([float(setup.initial_quote), *(float(q) for _, q, _ in run.changes)])
    bases = np.array([0.0, *(float(b) for _, _, b in run.changes)])
    which = np.searchsorted(change_bars, bars, side="right")  # 0 = before any fill
    curve: FloatArray = quotes[which] + bases[which] * setup.series.close[setup.start : setup.stop]
    return curve


def holding_mask(run: EngineRun) -> np.ndarray:
    setup = run.setup
    bars = np.arange(setup.start, setup.stop)
    change_bars = np.array([bar for bar, _, _ in run.changes], dtype=np.int64)
    bases = np.array([0.0, *(float(b) for _, _, b in run.changes)])
    return bases[np.searchsorted(change_bars, bars, side="right")] > 0


@dataclass
class _Open:
    entry_ms: int
    qty: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    sold_qty: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    buy_fees: Decimal = Decimal(0)


def round_trips(run: EngineRun) -> list[TradeRecord]:
    """Fills grouped flat to flat; a position still open at the end is the last record
    (no exit, no PnL)."""
    trades: list[TradeRecord] = []
    current: _Open | None = None
    for fill in run.fills:
        if current is None:
            current = _Open(fill.at_ms)
        notional = fill.price * fill.qty
        current.fees += fill.fee
        if fill.side is Side.BUY:
            current.qty += fill.qty
            current.held += fill.qty
            current.bought += notional
            current.buy_fees += fill.fee
        else:
            current.held -= fill.qty
            current.sold += notional
            current.sold_qty += fill.qty
        if current.held == 0:
            cost = current.bought + current.buy_fees
            pnl = current.sold - current.bought - current.fees
            trades.append(TradeRecord(
                entry_time=from_ms(current.entry_ms), exit_time=from_ms(fill.at_ms), qty=current.qty,
                entry_price=current.bought / current.qty,
                exit_price=current.sold / current.sold_qty, fees=current.fees, pnl=pnl,
                return_pct=float(pnl / cost * 100) if cost else None))
            current = None
    if current is not None:
        trades.append(TradeRecord(
            entry_time=from_ms(current.entry_ms), exit_time=None,
            qty=current.qty, entry_price=current.bought / current.qty, exit_price=None, fees=current.fees,
            pnl=None, return_pct=None))
    return trades


def metrics(run: EngineRun, trades: list[TradeRecord] | None = None) -> Metrics:
    """The report numbers of ``run`` (see :class:`.models.Metrics`)."""
    setup = run.setup
    trades = round_trips(run) if trades is None else trades
    curve = equity_curve(run)
    closed = [t.pnl for t in trades if t.pnl is not None]
    wins = [p for p in closed if p > 0]
    losses = [p for p in closed if p < 0]
    final = run.final_equity
    return Metrics(
        net_return=float(final / setup.initial_quote - 1),
        max_drawdown=max_drawdown(curve),
        win_rate=len(wins) / len(closed) if closed else None,
        sharpe=sharpe(curve, INTERVAL_SECONDS[setup.interval]),
        trade_count=len(closed),
        profit_factor=float(sum(wins, Decimal(0)) / -sum(losses, Decimal(0))) if losses else None,
        exposure=float(holding_mask(run).mean()) if curve.size else 0.0,
        final_equity=final,
        fees_paid=sum((f.fee for f in run.fills), Decimal(0)),
        bars=int(curve.size),
        orders_rejected=sum(1 for o in run.orders if o.status == "rejected"),
        open_position=run.base,
    )


def max_drawdown(curve: FloatArray) -> float:
    """The largest fall from a running peak, as a fraction of that peak (0 if none)."""
    if curve.size == 0:
        return 0.0
    peak = np.maximum.accumulate(curve)
    return float(np.max(1.0 - curve / peak))


def sharpe(curve: FloatArray, interval_seconds: int) -> float:
    """Annualised Sharpe ratio of bar returns (risk-free 0; 0 when undefined)."""
    if curve.size < 3:
        return 0.0
    returns = np.diff(curve) / curve[:-1]
    std = float(np.std(returns, ddof=1))
    if not std > 0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(returns)) / std * math.sqrt(YEAR_SECONDS / interval_seconds)


def downsample(run: EngineRun, curve: FloatArray, points: int) -> list[EquityPoint]:
    """At most ``points`` evenly spaced points of the curve, the last bar always kept
    (times are the bars' closes)."""
    setup = run.setup
    if curve.size == 0:
        return []
    picks = np.unique(np.linspace(0, curve.size - 1, min(points, curve.size)).astype(np.int64))
    close_ms = setup.series.open_time[setup.start : setup.stop] + setup.interval_ms
    return [EquityPoint(at=from_ms(int(close_ms[i])), equity=float(curve[i])) for i in picks]
