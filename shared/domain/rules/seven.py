"""The seven rules of the 7-rule strategy, as plain functions over one indicator snapshot.

Why plain functions ``(inp, snap, params) -> RuleVerdict``: each rule is read, tested
and explained on its own, and all of them read the same :class:`IndicatorSnapshot`, so
the indicators are computed once per tick (the 1 ms tick budget allows no more).

Entry rules (flat, spot, long only) pass or block the buy. Exit rules (holding) use
``block`` with direction ``flat`` to mean "exit now"; session, zone and momentum are
neutral there because an exit is always allowed. The AI rule lives in ``pipeline``
because it depends on the other verdicts and runs under a time box.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN
from typing import Final

from shared.domain.base import round_to_step
from shared.domain.candles import from_ms
from shared.domain.decisions import RuleVerdict, VerdictValue
from shared.domain.indicators import atr, ema, rsi
from shared.domain.risk import round_qty, size_order
from shared.domain.strategy import SevenRuleParams

from .context import BarValues, IndicatorSnapshot, TickInput, dec, num, verdict

TREND, SESSION, ZONE, MOMENTUM = "trend-bias", "session", "zone", "momentum"
TRIGGER, RISK, AI = "entry-trigger", "risk-management", "ai-analysis"
#: The fixed order of the verdicts in every 7-rule Decision.
SEVEN_RULES: Final = (TREND, SESSION, ZONE, MOMENTUM, TRIGGER, RISK, AI)
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Rule = Callable[[TickInput, IndicatorSnapshot, SevenRuleParams], RuleVerdict]


def snapshot(inp: TickInput, p: SevenRuleParams) -> IndicatorSnapshot:
    """All indicators over the whole window (TA-Lib batch, once), kept for the last two bars.

    The window must already have passed the data gate (sorted, finite, long enough), so
    the indicator kernels run without scanning their inputs for NaN again.
    """
    w = inp.window
    close = w.close
    fast, slow, trigger, strength, spread = (  # the last two values of each, as floats
        ema(close, p.ema_fast, scan=False)[-2:].tolist(),
        ema(close, p.ema_slow, scan=False)[-2:].tolist(),
        ema(close, p.trigger_ema, scan=False)[-2:].tolist(),
        rsi(close, p.rsi_period, scan=False)[-2:].tolist(),
        atr(w.high, w.low, close, p.atr_period, scan=False)[-2:].tolist(),
    )
    o, h, lo, c = (column[-2:].tolist() for column in (w.open, w.high, w.low, close))
    zone = slice(-1 - p.zone_lookback, -1)
    return IndicatorSnapshot(
        last=BarValues(o[1], h[1], lo[1], c[1], fast[1], slow[1], trigger[1], strength[1], spread[1]),
        prev=BarValues(o[0], h[0], lo[0], c[0], fast[0], slow[0], trigger[0], strength[0], spread[0]),
        resistance=float(w.high[zone].max()),
        support=float(w.low[zone].min()),
        close_time=from_ms(int(w.open_time[-1]) + inp.interval_seconds * 1000),
    )


# ---------------------------------------------------------------------- entry rules


def trend_bias(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Only buy in an uptrend: the fast EMA above the slow one."""
    f, s = snap.last.ema_fast, snap.last.ema_slow
    values = {"ema_fast": f, "ema_slow": s, "fast_period": p.ema_fast, "slow_period": p.ema_slow}
    if f > s:
        return verdict(TREND, "pass", f"EMA{p.ema_fast} {num(f)} is above EMA{p.ema_slow} {num(s)}: the trend is up.",
                       "long", **values)
    return verdict(TREND, "block", f"EMA{p.ema_fast} {num(f)} is not above EMA{p.ema_slow} {num(s)}: "
                   "no uptrend to buy into.", **values)


def _in_hours(hour: float, p: SevenRuleParams) -> bool:
    return any(start <= hour < end if start < end else (hour >= start or hour < end)
               for start, end in p.session_hours_utc)


def session(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Only trade in the allowed UTC hours and weekdays, judged at the candle's close."""
    t = snap.close_time
    hour = t.hour + t.minute / 60 + t.second / 3600
    day = WEEKDAYS[t.weekday()]
    hours = "; ".join(f"{a:02d}:00-{b:02d}:00" for a, b in p.session_hours_utc)
    values: dict[str, VerdictValue] = {"close_time": t.isoformat().replace("+00:00", "Z"), "hour": hour,
                                       "weekday": t.weekday(), "sessions": hours}
    when = f"The candle closed at {values['close_time']}, a {day}"
    if t.weekday() not in p.session_weekdays:
        return verdict(SESSION, "block", f"{when}, which is not an allowed weekday.", **values)
    if not _in_hours(hour, p):
        return verdict(SESSION, "block", f"{when}, outside the allowed UTC hours {hours}.", **values)
    return verdict(SESSION, "pass", f"{when}, inside the allowed session.", **values)


def zone(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Leave room to run: the close must sit at least ``zone_min_room_atr`` ATR below
    resistance, or above it (a breakout: no overhead supply within the lookback)."""
    c, r, a = snap.last.close, snap.resistance, snap.last.atr
    room, need = r - c, p.zone_min_room_atr * a
    room_atr = room / a if a > 0 else None
    values = {"close": c, "resistance": r, "support": snap.support, "atr": a, "room": room,
              "room_atr": room_atr, "min_room_atr": p.zone_min_room_atr, "lookback": p.zone_lookback}
    where = f"resistance {num(r)} (the {p.zone_lookback}-bar high)"
    if room >= need:
        shown = f"{room_atr:.2f} ATR" if room_atr is not None else "room"
        return verdict(ZONE, "pass", f"Close {num(c)} is {num(room)} ({shown}) below {where}; "
                       f"{p.zone_min_room_atr} ATR is required.", **values)
    if room < 0:
        return verdict(ZONE, "pass", f"Close {num(c)} broke out above {where}: no resistance overhead "
                       f"within the lookback.", "long", **values)
    return verdict(ZONE, "block", f"Close {num(c)} is within {room_atr or 0:.2f} ATR of {where}; "
                   f"{p.zone_min_room_atr} ATR of room is required.", **values)


def momentum(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """RSI confirms momentum without being overbought."""
    r = snap.last.rsi
    values = {"rsi": r, "rsi_min": p.rsi_min, "rsi_max": p.rsi_max, "period": p.rsi_period}
    label = f"RSI{p.rsi_period} is {r:.1f}"
    if r > p.rsi_max:
        return verdict(MOMENTUM, "block", f"{label}, above {p.rsi_max:g}: overbought.", **values)
    if r < p.rsi_min:
        return verdict(MOMENTUM, "block", f"{label}, below {p.rsi_min:g}: momentum is weak.", **values)
    return verdict(MOMENTUM, "pass", f"{label}, inside {p.rsi_min:g}-{p.rsi_max:g}.", "long", **values)


def entry_trigger(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """The setup itself: a reclaim of the trigger EMA, or a bullish engulfing bar."""
    last, prev = snap.last, snap.prev
    reclaim = prev.close <= prev.ema_trigger and last.close > last.ema_trigger
    engulfing = (prev.close < prev.open and last.close > last.open and last.close >= prev.open
                 and last.open <= prev.close and (last.close > prev.open or last.open < prev.close))
    values = {"close": last.close, "prev_close": prev.close, "ema_trigger": last.ema_trigger,
              "prev_ema_trigger": prev.ema_trigger, "period": p.trigger_ema, "reclaim": reclaim,
              "engulfing": engulfing}
    e = f"EMA{p.trigger_ema}"
    if reclaim:
        return verdict(TRIGGER, "pass", f"Close {num(last.close)} reclaimed {e} {num(last.ema_trigger)} after closing "
                       f"at {num(prev.close)}, at or below it ({num(prev.ema_trigger)}).", "long", **values)
    if engulfing:
        return verdict(TRIGGER, "pass", f"Bullish engulfing: the bar from {num(last.open)} to {num(last.close)} "
                       f"engulfs the previous bearish bar from {num(prev.open)} to {num(prev.close)}.",
                       "long", **values)
    return verdict(TRIGGER, "block", f"No entry trigger: close {num(last.close)} did not reclaim {e} "
                   f"{num(last.ema_trigger)} and the bar is not a bullish engulfing.", **values)


def risk_management(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """An ATR stop and a risk-sized quantity; no tradable quantity means no trade.

    The stop is rounded down to the tick (a wider stop sizes smaller, never larger).
    """
    close, a = dec(snap.last.close), snap.last.atr
    tick = inp.instrument.tick_size
    stop = round_to_step(dec(snap.last.close - p.stop_atr_mult * a), tick, ROUND_DOWN).quantize(tick)
    pct = inp.limits.risk_per_trade_pct
    values: dict[str, VerdictValue] = {"close": snap.last.close, "atr": a, "stop_atr_mult": p.stop_atr_mult,
                                             "stop": str(stop), "equity": str(inp.equity), "risk_pct": str(pct)}
    how = f"close {num(close)} - {p.stop_atr_mult:g} x ATR {num(a)}"
    if stop <= 0 or stop >= close:
        return verdict(RISK, "block", f"The ATR stop {stop} ({how}) is not a usable price below the close.",
                       qty="0", **values)
    qty = size_order(equity=inp.equity, entry_price=close, stop_price=stop, instrument=inp.instrument,
                     limits=inp.limits)
    if qty > 0:
        return verdict(RISK, "pass", f"Stop at {stop} ({how}); risking {pct}% of equity {inp.equity} "
                       f"sizes {qty} {inp.instrument.base}.", "long", qty=str(qty), **values)
    if inp.equity <= 0:
        return verdict(RISK, "block", f"Equity is {inp.equity} {inp.instrument.quote}: nothing to risk.",
                       qty="0", **values)
    ins = inp.instrument
    raw = min(inp.equity * pct / 100 / (close - stop), inp.limits.max_position_notional / close)
    if ins.max_qty is not None:
        raw = min(raw, ins.max_qty)
    sized = round_qty(raw, ins)
    return verdict(RISK, "block", f"Risking {pct}% of equity {inp.equity} with a stop at {stop} sizes only "
                   f"{sized} {ins.base}, below the minimum ({ins.min_qty} {ins.base} and {ins.min_notional} "
                   f"{ins.quote} notional).", qty="0", sized=str(sized), min_qty=str(ins.min_qty),
                   min_notional=str(ins.min_notional), **values)


# ---------------------------------------------------------------------- exit rules


def trend_bias_exit(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Exit when the trend flips: the fast EMA below the slow one."""
    f, s = snap.last.ema_fast, snap.last.ema_slow
    values = {"ema_fast": f, "ema_slow": s, "fast_period": p.ema_fast, "slow_period": p.ema_slow}
    if f < s:
        return verdict(TREND, "block", f"EMA{p.ema_fast} {num(f)} fell below EMA{p.ema_slow} {num(s)}: "
                       "the trend turned down, exit.", "flat", **values)
    return verdict(TREND, "pass", f"EMA{p.ema_fast} {num(f)} is not below EMA{p.ema_slow} {num(s)}: "
                   "the trend holds.", "long", **values)


def _always_allowed(rule: str, what: str) -> Rule:
    def exit_rule(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
        return verdict(rule, "neutral", f"Exits are always allowed: the {what} is not checked while holding.",
                       close=snap.last.close)
    exit_rule.__doc__ = f"Exit mode: the {what} never holds back an exit (neutral)."
    return exit_rule


session_exit = _always_allowed(SESSION, "session")
zone_exit = _always_allowed(ZONE, "zone")
momentum_exit = _always_allowed(MOMENTUM, "momentum")


def entry_trigger_exit(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Exit when the close falls more than ``exit_atr_mult`` ATR below the trigger EMA."""
    c, e, a = snap.last.close, snap.last.ema_trigger, snap.last.atr
    level = e - p.exit_atr_mult * a
    values = {"close": c, "ema_trigger": e, "atr": a, "exit_atr_mult": p.exit_atr_mult, "exit_level": level}
    how = f"EMA{p.trigger_ema} {num(e)} - {p.exit_atr_mult:g} x ATR {num(a)}"
    if c < level:
        return verdict(TRIGGER, "block", f"Close {num(c)} fell below {num(level)} ({how}): exit.", "flat", **values)
    return verdict(TRIGGER, "pass", f"Close {num(c)} is at or above the exit level {num(level)} ({how}).",
                   "long", **values)


def risk_management_exit(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> RuleVerdict:
    """Exit when the ATR stop under the average cost is hit (the close at or below it)."""
    close, a = dec(snap.last.close), snap.last.atr
    stop = inp.position_avg_cost - dec(p.stop_atr_mult * a)
    values: dict[str, VerdictValue] = {"close": snap.last.close, "atr": a, "avg_cost": str(inp.position_avg_cost),
                                       "stop": str(stop), "stop_atr_mult": p.stop_atr_mult,
                                       "qty": str(inp.sellable_qty)}
    how = f"average cost {inp.position_avg_cost} - {p.stop_atr_mult:g} x ATR {num(a)}"
    if close <= stop:
        return verdict(RISK, "block", f"Stop hit: close {close} is at or below {stop} ({how}).", "flat", **values)
    return verdict(RISK, "pass", f"Close {close} is above the stop {stop} ({how}).", "long", **values)


ENTRY_RULES: Final[tuple[Rule, ...]] = (trend_bias, session, zone, momentum, entry_trigger, risk_management)
EXIT_RULES: Final[tuple[Rule, ...]] = (
    trend_bias_exit, session_exit, zone_exit, momentum_exit, entry_trigger_exit, risk_management_exit,
)
