"""The screen: which bars could make the rules trade, decided for the whole series at once.

Why: the real rules cost ~30-90 us per bar (data checks, indicators over a 300-bar
window, explained verdicts), so evaluating every bar caps a simulation near 10-30k
bars/s. But a decision only matters where it trades: a buy when flat, a sell when holding.
The screen computes the same conditions with numpy over the windowed indicators of
:mod:`.windowed` and marks every bar where the action *could* happen; the engine then
calls the real ``evaluate`` on exactly those bars, and only its answer counts.

Soundness rule: a bar is left out only when a condition surely fails, i.e. fails by more
than the error bound of the reconstructed value. Every test is written as "not (surely
fails)", so a NaN (undetermined) keeps the bar in. The data gate is reproduced exactly
(integer times and exact float comparisons, as ``data_checks`` does), because a window
with a gap, a misaligned or inconsistent candle always blocks.

Two screens depend on the account and are applied by the engine as it goes: the 7-rule
stop (on the position's average cost) and the entry budget (:class:`EntryBudget`: a flat
account too small to size any entry, the state a bleeding strategy ends in, evaluates no
entry setups; without it such a run evaluated every setup to the end, ~90% of the work).

``tests/integration/test_simulation_screening.py`` and ``test_simulation_budget.py``
prove it on real files: the screened simulation makes exactly the decisions and trades of
one that evaluates every bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.domain.candles import CandleSeries
from shared.domain.risk import SIZE_HEADROOM
from shared.domain.rules.sma_cross import ALL_IN
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, warmup_bars

from . import windowed
from .windowed import FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]

#: Margin on the session hour (hours): the hour is recomputed with the same float
#: operations as the rule, so this only guards against a different evaluation order.
HOUR_MARGIN: Final = 1e-9
#: Relative margin on price comparisons beyond the indicators' own error bounds
#: (Decimal/float conversions in the stop rule).
PRICE_MARGIN: Final = 1e-9
#: How far ahead one look for a stop hit goes before the engine asks again.
STOP_CHUNK: Final = 512
#: Relative margin on what an entry can spend (Decimal sizing rounds at 28 digits, the
#: float copies of the balances and prices at 16).
BUDGET_MARGIN: Final = 1e-9


def entry_share(params: SevenRuleParams | SmaCrossParams) -> float:
    """The largest share of the tick's equity an entry of ``params`` can spend at the
    close: the SMA cross buys ``ALL_IN`` of it; the 7-rule's ``risk.size_order`` caps the
    quantity at ``equity * SIZE_HEADROOM / entry``. ``tests/unit/test_simulation_speed.py``
    holds both sizings to it."""
    return float(ALL_IN if isinstance(params, SmaCrossParams) else SIZE_HEADROOM)


@dataclass(frozen=True, slots=True)
class EntryBudget:
    """What a flat account can put into an entry, to rule out entries it cannot size.

    Both strategies buy at most ``share`` of the tick's equity (free quote plus the dust
    below one lot at the close), and a buy needs at least one lot, the instrument's
    minimum quantity and its minimum notional; a smaller size blocks the entry
    (``sma-cross`` or ``risk-management``) before any order. So an entry bar is surely
    not a trade when even the equity's share, with a margin, is below
    ``max(min_notional, close * min_qty)``.
    """

    quote: float
    dust: float
    share: float
    min_qty: float  # max(instrument.min_qty, instrument.lot_size)
    min_notional: float

    def surely_short(self, close: FloatArray) -> BoolArray:
        """Where an entry at ``close`` surely cannot be sized (NaN or a non-positive
        close never counts: the rules decide those)."""
        with np.errstate(invalid="ignore", over="ignore"):
            held = self.dust * close
            equity = self.quote + held + (abs(self.quote) + np.abs(held)) * 1e-12  # above the Decimal equity
            spend = equity * (self.share * (1.0 + BUDGET_MARGIN))
            short: BoolArray = (close > 0.0) & ((spend < close * self.min_qty) | (spend < self.min_notional))
        return short

    def surely_short_at(self, close: float) -> bool:
        """:meth:`surely_short` for one bar."""
        held = self.dust * close
        spend = (self.quote + held + (abs(self.quote) + abs(held)) * 1e-12) * (self.share * (1.0 + BUDGET_MARGIN))
        return close > 0.0 and (spend < close * self.min_qty or spend < self.min_notional)


def tick_window(params: SevenRuleParams | SmaCrossParams, window_bars: int) -> int:
    """The candles a live tick hands the rules: ``max(window_bars, warmup + 2)``
    (``services.ticks`` with ``WINDOW_BARS``)."""
    return max(window_bars, warmup_bars(params) + 2)


def window_ok(series: CandleSeries, interval_ms: int, window: int) -> BoolArray:
    """True where the bar's window passes ``data_checks.check_window`` at the bar's close.

    A window fails on any step between neighbours that is not exactly one interval
    (backwards, duplicate, gap) and on any misaligned, non-finite, inconsistent or
    negative-volume candle. ``future`` and ``stale`` cannot fail when now is the last
    bar's close and the times ascend. Length is checked separately (``warmup``).
    """
    size = len(series)
    t = series.open_time
    bad_bar = t % interval_ms != 0
    for column in (series.open, series.high, series.low, series.close, series.volume):
        bad_bar |= ~np.isfinite(column)
    bad_bar |= (series.high < np.maximum(series.open, series.close)) | (
        series.low > np.minimum(series.open, series.close)) | (series.low > series.high)
    bad_bar |= series.volume < 0
    bad_step = np.zeros(size, dtype=bool)
    if size > 1:
        step = np.diff(t)
        bad_step[1:] = (step <= 0) | (step > interval_ms)
    bars_bad = _count_back(bad_bar, 0, window)
    steps_bad = _count_back(bad_step, 1, window - 1)  # the steps inside the window: s+1 .. t
    ok: BoolArray = (bars_bad == 0) & (steps_bad == 0)
    return ok


def _count_in(flags: BoolArray, starts: IntArray) -> IntArray:
    """How many flags are set in ``[starts[t], t]`` for every ``t`` (empty when start > t)."""
    total = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    end = np.arange(1, flags.size + 1)
    counts: IntArray = total[end] - total[np.minimum(starts, end)]
    return counts


def _count_back(flags: BoolArray, first: int, width: int) -> IntArray:
    """How many flags are set in ``[max(first, t - width + 1), t]`` for every ``t`` (a
    sliding count by slicing one prefix sum: :func:`_count_in` for the windows' starts,
    without its two gathers)."""
    size = flags.size
    total = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    counts: IntArray = total[1:] - total[min(first, size)]
    turn = first + width - 1  # from here on the lower end is t - width + 1, not first
    if turn < size:
        counts[turn:] = total[turn + 1:] - total[first:size + 1 - width]
    np.maximum(counts, 0, out=counts)  # t < first: an empty range
    return counts


@dataclass(frozen=True)
class StopScreen:
    """The position-dependent exit of the 7-rule strategy: the ATR stop under the
    average cost, ``close <= avg_cost - mult * ATR``."""

    ok: BoolArray  # the window passes the data gate (else the rules block: no exit)
    close: FloatArray
    offset: FloatArray  # mult * ATR
    error: FloatArray  # its error bound plus the price margin

    def first_hit(self, avg_cost: float, lo: int, hi: int) -> int:
        """The first bar in ``[lo, hi)`` where the stop could be hit, else ``hi``."""
        for a in range(lo, hi, STOP_CHUNK):
            b = min(hi, a + STOP_CHUNK)
            level = avg_cost - self.offset[a:b]
            surely_not = ~self.ok[a:b] | (self.close[a:b] > level + self.error[a:b])
            hits = np.flatnonzero(~surely_not)
            if hits.size:
                return a + int(hits[0])
        return hi


@dataclass(frozen=True)
class Screen:
    """Candidate bars per mode: ``entry`` while flat, ``exit`` while holding (plus the
    stop screen for the 7-rule strategy, which depends on the position's cost, and the
    entry budget, which depends on the account's equity)."""

    entry: BoolArray
    exit: BoolArray
    stop: StopScreen | None
    close: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "_entry_at", np.flatnonzero(self.entry))
        object.__setattr__(self, "_exit_at", np.flatnonzero(self.exit))

    @property
    def candidates(self) -> int:
        return int(self.entry.sum() + self.exit.sum())

    def is_candidate(self, bar: int, holding: bool, avg_cost: float, budget: EntryBudget | None = None) -> bool:
        if not holding:
            return bool(self.entry[bar]) and (budget is None or not budget.surely_short_at(float(self.close[bar])))
        if self.exit[bar]:
            return True
        return self.stop is not None and self.stop.first_hit(avg_cost, bar, bar + 1) == bar

    def next_candidate(self, bar: int, holding: bool, avg_cost: float, end: int,
                       budget: EntryBudget | None = None) -> int:
        """The first candidate bar at or after ``bar`` in the current mode, else ``end``.
        While flat, ``budget`` (the account's, unchanged until the next trade) also
        rules out the entries it cannot size."""
        at: IntArray = getattr(self, "_exit_at" if holding else "_entry_at")
        i = int(np.searchsorted(at, bar, side="left"))
        if not holding and budget is not None:
            return self._first_affordable(at, i, end, budget)
        nxt = min(int(at[i]), end) if i < at.size else end
        if holding and self.stop is not None:
            nxt = self.stop.first_hit(avg_cost, bar, nxt)
        return nxt

    def _first_affordable(self, at: IntArray, i: int, end: int, budget: EntryBudget) -> int:
        """The first entry candidate from ``at[i]`` on that ``budget`` does not rule out.
        The next one usually passes (one scalar test); a broke account scans the rest in
        growing chunks."""
        if i >= at.size or int(at[i]) >= end:
            return end
        first = int(at[i])
        if not budget.surely_short_at(float(self.close[first])):
            return first
        i, chunk = i + 1, 64
        while i < at.size and int(at[i]) < end:
            bars = at[i : i + chunk]
            open_ = np.flatnonzero(~budget.surely_short(self.close[bars]))
            if open_.size:
                return min(int(bars[open_[0]]), end)
            i, chunk = i + chunk, min(chunk * 4, 1 << 16)
        return end


def screen(series: CandleSeries, params: SevenRuleParams | SmaCrossParams, interval_ms: int,
           window: int) -> Screen:
    """The candidate bars of ``params`` on ``series`` for windows of ``window`` candles."""
    size = len(series)
    ok = window_ok(series, interval_ms, window)
    ok &= np.minimum(np.arange(size) + 1, window) >= warmup_bars(params)
    if isinstance(params, SmaCrossParams):
        return _sma_cross(series, params, ok)
    return _seven(series, params, interval_ms, window, ok)


def _sma_cross(series: CandleSeries, p: SmaCrossParams, ok: BoolArray) -> Screen:
    """``up = f0 <= s0 and f1 > s1`` (buy when flat), ``down = f0 >= s0 and f1 < s1``."""
    close = np.ascontiguousarray(series.close, dtype=np.float64)
    f, s = windowed.sma(close, p.fast), windowed.sma(close, p.slow)
    e0, e1 = f.prev_err + s.prev_err, f.last_err + s.last_err
    with np.errstate(invalid="ignore"):
        up = ~(f.prev > s.prev + e0) & ~(f.last <= s.last - e1)
        down = ~(f.prev < s.prev - e0) & ~(f.last >= s.last + e1)
    return Screen(ok & up, ok & down, None, close)


def _seven(series: CandleSeries, p: SevenRuleParams, interval_ms: int, window: int, ok: BoolArray) -> Screen:
    o, h, lo, c = (np.ascontiguousarray(x, dtype=np.float64) for x in (series.open, series.high, series.low,
                                                                         series.close))
    # only the trigger EMA is read at the bar before (the reclaim)
    fast = windowed.ema(c, p.ema_fast, window, prev=False)
    slow = windowed.ema(c, p.ema_slow, window, prev=False)
    trig = windowed.ema(c, p.trigger_ema, window)
    rsi = windowed.rsi(c, p.rsi_period, window, prev=False)
    atr = windowed.atr(h, lo, c, p.atr_period, window, prev=False)
    margin = PRICE_MARGIN * np.abs(c)
    prev_c, prev_o = np.concatenate(([np.nan], c[:-1])), np.concatenate(([np.nan], o[:-1]))
    with np.errstate(invalid="ignore"):
        trend_err = fast.last_err + slow.last_err
        trend = ~(fast.last <= slow.last - trend_err)
        session = _session_possible(series.open_time + interval_ms, p)
        resistance = windowed.rolling_max_before(h, p.zone_lookback)
        room = resistance - c  # exactly the rule's float operations
        need = p.zone_min_room_atr * atr.last
        need_err = p.zone_min_room_atr * atr.last_err
        zone = ~((room >= 0.0) & (room < need - need_err))
        momentum = ~(rsi.last + rsi.last_err < p.rsi_min) & ~(rsi.last - rsi.last_err > p.rsi_max)
        reclaim = ~(prev_c > trig.prev + trig.prev_err) & ~(c <= trig.last - trig.last_err)
        engulfing = ((prev_c < prev_o) & (c > o) & (c >= prev_o) & (o <= prev_c)
                     & ((c > prev_o) | (o < prev_c)))
        entry = ok & trend & session & zone & momentum & (reclaim | engulfing)

        trend_exit = ~(fast.last >= slow.last + trend_err)
        level = trig.last - p.exit_atr_mult * atr.last
        level_err = trig.last_err + p.exit_atr_mult * atr.last_err + margin
        trigger_exit = ~(c >= level + level_err)
        exit_ = ok & (trend_exit | trigger_exit)
    offset = p.stop_atr_mult * atr.last
    stop_err = p.stop_atr_mult * atr.last_err + 2 * margin
    # where the stop cannot be judged (NaN) the bar stays a candidate: a NaN offset never
    # makes ``close > level + error`` true
    stop = StopScreen(ok, c, offset, stop_err)
    return Screen(entry, exit_, stop, c)


def _session_possible(close_ms: IntArray, p: SevenRuleParams) -> BoolArray:
    """The session rule at each candle's close: weekday allowed and the hour inside one
    of the UTC ranges (with :data:`HOUR_MARGIN` at the edges)."""
    if set(p.session_weekdays) >= set(range(7)) and any(
            start == 0 and end == 24 for start, end in p.session_hours_utc):
        return np.ones(close_ms.size, dtype=bool)  # every weekday, all day: the rule always passes
    day_ms = 86_400_000
    days = close_ms // day_ms
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    secs = (close_ms % day_ms) // 1000
    hour = (secs // 3600).astype(np.float64) + ((secs % 3600) // 60) / 60 + (secs % 60) / 3600
    allowed_day = np.isin(weekday, p.session_weekdays)
    in_hours = np.zeros(close_ms.size, dtype=bool)
    m = HOUR_MARGIN
    for start, end in p.session_hours_utc:
        if start < end:
            in_hours |= (hour >= start - m) & (hour < end + m)
        else:
            in_hours |= (hour >= start - m) | (hour < end + m)
    result: BoolArray = allowed_day & in_hours
    return result
