"""The simulation loop: candles through the same rules, risk checks and fill model as paper trading.

What one bar does, in the replay's order (``tests/support/replay_driver.py`` drives the
real services the same way): at the bar's close, open orders are matched against it
(remainders fill at its open); then the tick builds the same ``TickInput`` the live tick
builds (the last ``max(WINDOW_BARS, warmup + 2)`` closed candles, the booked position,
equity = free quote + position at the close, ``now`` = the close) and calls the real
``pipeline.evaluate``; a buy or sell with no halt is executed at once by
:class:`.account.SimAccount` (risk checks, then a fill at the next bar's open).

Screened (the default), the loop visits only the bars :mod:`.screening` cannot rule out
for the current mode (flat: entries the account can size; holding: exits) and jumps over
the rest; with open orders it walks bar by bar so remainders fill on time. Unscreened, it
evaluates every bar: slow, and the reference the screened loop is tested against.

What a visited bar costs (1m candles, 300-bar windows, a quiet 2-core machine): the real
``evaluate`` ~30 us for the SMA cross and ~65-90 us for the 7 rules, an order ~35-45 us
(risk checks, fill, booking: Decimal throughout), the loop ~10 us. Every trade needs one
of each, so trade-heavy runs are bound by that, not by the screen.

Bars are positions in ``series``. Decisions are made for bars ``start .. end - 1``; bars
before ``start`` are history for the indicator windows; nothing fills at or after ``end``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from typing import Final, Literal

from shared.domain.candles import CandleSeries, from_ms
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import INTERVAL_SECONDS, Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.rules import pipeline
from shared.domain.rules.context import TickInput
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, warmup_bars
from shared.domain.trading import Side

from .account import SimAccount, SimFill, SimOrder
from .screening import EntryBudget, Screen, entry_share, screen, tick_window

#: ``services.ticks.WINDOW_BARS``: the service passes its value; tests check they agree.
DEFAULT_WINDOW_BARS: Final = 300

#: ``(bars_done, bars_total)``; called at most about 100 times per run, and at the end.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EngineSetup:
    """One strategy on one symbol's candles with one account."""

    series: CandleSeries
    interval: str
    params: SevenRuleParams | SmaCrossParams
    instrument: Instrument
    limits: RiskLimits = field(default_factory=RiskLimits)
    fill: FillModelConfig = field(default_factory=FillModelConfig)
    initial_quote: Decimal = Decimal("10000")
    window_bars: int = DEFAULT_WINDOW_BARS
    start: int = 0
    end: int | None = None

    def __post_init__(self) -> None:
        if self.interval not in INTERVAL_SECONDS:
            raise ValueError(f"unknown interval {self.interval!r}")
        end = len(self.series) if self.end is None else self.end
        if not 0 <= self.start <= end <= len(self.series):
            raise ValueError(f"bar range [{self.start}, {self.end}) is outside the {len(self.series)} candles")
        if self.initial_quote <= 0:
            raise ValueError("initial equity must be positive")

    @property
    def stop(self) -> int:
        return len(self.series) if self.end is None else self.end

    @property
    def interval_ms(self) -> int:
        return INTERVAL_SECONDS[self.interval] * 1000

    @property
    def window(self) -> int:
        return tick_window(self.params, self.window_bars)


@dataclass(frozen=True, slots=True)
class SimDecision:
    """A tick that wanted to trade: its bar, action and quantity; ``order_no`` is None when
    a halt blocked it before an order was made."""

    bar: int
    action: Literal["buy", "sell"]
    qty: Decimal
    order_no: int | None


@dataclass
class EngineRun:
    """What happened: every trading decision, order and fill, and the account's path."""

    setup: EngineSetup
    decisions: list[SimDecision]
    orders: list[SimOrder]
    fills: list[SimFill]
    changes: list[tuple[int, Decimal, Decimal]]
    quote: Decimal
    base: Decimal
    evaluations: int
    candidates: int
    halts: int

    @property
    def final_equity(self) -> Decimal:
        """Quote plus the position at the last decided bar's close (no exit fee: the
        mark-to-market convention backtesting.py uses too)."""
        setup = self.setup
        if setup.stop == setup.start:
            return setup.initial_quote
        return self.quote + self.base * Decimal(repr(float(setup.series.close[setup.stop - 1])))


def simulate(setup: EngineSetup, *, screened: bool = True, prepared: Screen | None = None,
             progress: Progress | None = None) -> EngineRun:
    """Run ``setup``; ``prepared`` reuses a screen of the same series, params and window
    (walk-forward runs several ranges over one screen)."""
    series, end = setup.series, setup.stop
    sieve = None
    if screened:
        sieve = prepared if prepared is not None else screen(series, setup.params, setup.interval_ms, setup.window)
    account = SimAccount(setup.instrument, setup.limits, setup.fill, series, setup.interval_ms, end,
                         setup.initial_quote)
    decisions: list[SimDecision] = []
    evaluations = 0
    first = max(setup.start, warmup_bars(setup.params) - 1)
    total = max(end - setup.start, 0)
    report_every = max(total // 100, 1)
    next_report = setup.start + report_every
    bar = first
    run = _RunConstants.of(setup)
    with localcontext(Context()):  # the tick's (default) decimal context, whatever the caller's
        while bar < end:
            if account.open_orders:
                account.match_through(bar)
            holding = account.holding
            avg_cost = float(account.position.avg_cost) if holding else 0.0  # only the stop screen reads it
            if sieve is not None:
                budget = None if holding else _budget(account, run)
                if not account.open_orders:
                    jump = sieve.next_candidate(bar, holding, avg_cost, end, budget)
                    if jump >= end:
                        break
                    bar = jump
                elif not sieve.is_candidate(bar, holding, avg_cost, budget):
                    bar += 1
                    continue
            if progress is not None and bar >= next_report:
                progress(bar - setup.start, total)
                next_report = bar + report_every
            evaluations += 1
            decision = _decide(setup, run, account, bar)
            if decision is not None:
                decisions.append(decision)
            bar += 1
    if progress is not None:
        progress(total, total)
    return EngineRun(setup, decisions, account.orders, account.fills, account.changes, account.quote, account.base,
                     evaluations, sieve.candidates if sieve is not None else 0, account.halts)


@dataclass(frozen=True, slots=True)
class _RunConstants:
    """What every tick of one run shares, derived once (each is a property chain or a
    Decimal conversion, ~1 us apiece, and the loop asks for them at every visited bar)."""

    window: int
    interval_ms: int
    share: float
    min_qty: float
    min_notional: float

    @classmethod
    def of(cls, setup: EngineSetup) -> _RunConstants:
        ins = setup.instrument
        return cls(setup.window, setup.interval_ms, entry_share(setup.params), float(max(ins.min_qty, ins.lot_size)),
                   float(ins.min_notional))


def _budget(account: SimAccount, run: _RunConstants) -> EntryBudget:
    """The flat account's entry budget for the screen (see :class:`.screening.EntryBudget`)."""
    return EntryBudget(float(account.quote), float(account.position.qty), run.share, run.min_qty, run.min_notional)


def _decide(setup: EngineSetup, run: _RunConstants, account: SimAccount, bar: int) -> SimDecision | None:
    """One tick at the close of ``bar`` (``services.ticks.run_tick`` without the store)."""
    series = setup.series
    close_ms = int(series.open_time[bar]) + run.interval_ms
    window = series[max(0, bar - run.window + 1) : bar + 1]
    position = account.position
    inp = TickInput(window=window, symbol=setup.instrument.symbol, interval_seconds=run.interval_ms // 1000,
                    now=from_ms(close_ms), position_qty=position.qty, position_avg_cost=position.avg_cost,
                    equity=account.tick_equity(float(series.close[bar])), instrument=setup.instrument,
                    limits=setup.limits, advisor=None)
    evaluation = pipeline.evaluate(inp, setup.params)
    action = evaluation.action
    if action not in ("buy", "sell") or evaluation.qty is None or evaluation.qty <= 0:
        return None
    if account.halted(close_ms):
        return SimDecision(bar, action, evaluation.qty, None)
    side = Side.BUY if action == "buy" else Side.SELL
    order = account.submit(side, evaluation.qty, bar, close_ms)
    return SimDecision(bar, action, evaluation.qty, order.no)
