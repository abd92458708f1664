"""The 7-rule pipeline, the SMA-cross baseline and the strategy params, on the shipped
KuCoin BTC-USDT 1h candles and on crafted windows and snapshots."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from shared.domain.candles import CandleSeries, candles_hash, from_ms, to_ms
from shared.domain.decisions import RuleVerdict
from shared.domain.indicators import sma
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.risk import round_qty, size_order
from shared.domain.rules import (
    SEVEN_RULES,
    AdvisorAnswer,
    BarValues,
    Evaluation,
    IndicatorSnapshot,
    TickInput,
    pipeline,
    seven,
    sma_cross,
)
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, StrategyVersion, params_hash, warmup_bars

KUCOIN = Path(__file__).resolve().parents[2] / "shared" / "market_data" / "dmplot_KUCOIN-BTC-USDT_1h.csv"
H_MS = 3_600_000
WINDOW = 300
P = SevenRuleParams()
INSTR = Instrument(exchange="bybit", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("0.01"),
                   lot_size=D("0.000001"), min_qty=D("0.000048"), min_notional=D("1"))


@pytest.fixture(scope="module")
def kucoin() -> CandleSeries:
    return CandleSeries.from_csv(KUCOIN)


def tick(window: CandleSeries, qty: str = "0", avg: str = "0", equity: str = "10000",
         advisor: Any = None, now: datetime | None = None) -> TickInput:
    """A tick deciding on the last bar of ``window``, just after it closed."""
    now = now or from_ms(int(window.open_time[-1]) + H_MS)
    return TickInput(window, "BTCUSDT", 3600, now, D(qty), D(avg), D(equity), INSTR, RiskLimits(), advisor)


def upto(series: CandleSeries, end: int, n: int = WINDOW) -> CandleSeries:
    return series[max(0, end - n):end]


@pytest.fixture(scope="module")
def walk(kucoin: CandleSeries) -> dict[int, Evaluation]:
    """Every bar of the year, flat, with a 300-bar window (end index -> evaluation)."""
    return {end: pipeline.evaluate(tick(upto(kucoin, end)), P) for end in range(1, len(kucoin) + 1)}


def first(walk: dict[int, Evaluation], pred: Callable[[Evaluation], bool]) -> int:
    return next(end for end, ev in walk.items() if pred(ev))


def by_rule(ev: Evaluation) -> dict[str, RuleVerdict]:
    return {v.rule: v for v in ev.verdicts}


def bars(closes: list[float] | np.ndarray, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> CandleSeries:
    """Hourly bars from closes: each opens at the previous close, wicks of 0.5."""
    c = np.asarray(closes, dtype=float)
    o = np.concatenate([[c[0]], c[:-1]])
    t0 = to_ms(start)
    return CandleSeries.from_arrays([t0 + i * H_MS for i in range(len(c))], o, np.maximum(o, c) + 0.5,
                                    np.minimum(o, c) - 0.5, c, np.ones(len(c)))


def snap(close: float = 100.0, open_: float = 99.0, prev_close: float = 99.0, prev_open: float = 98.0,
         ema_trigger: float = 99.5, prev_ema_trigger: float = 99.5, rsi: float = 55.0, atr: float = 5.0,
         resistance: float = 110.0) -> IndicatorSnapshot:
    def bar(o: float, c: float, e: float) -> BarValues:
        return BarValues(o, max(o, c) + 1, min(o, c) - 1, c, 101.0, 100.0, e, rsi, atr)
    return IndicatorSnapshot(bar(open_, close, ema_trigger), bar(prev_open, prev_close, prev_ema_trigger),
                             resistance, 80.0, datetime(2024, 1, 1, 10, tzinfo=UTC))


T = tick(bars([100.0] * 3))  # a TickInput for rule-level tests (only money and instrument matter)


# --------------------------------------------------------------------------- the whole year


def test_walk_the_whole_file_bar_by_bar(walk: dict[int, Evaluation], kucoin: CandleSeries) -> None:
    actions = Counter(ev.action for ev in walk.values())
    assert set(actions) <= {"buy", "hold", "blocked", "sell"} and actions["sell"] == 0  # flat all year
    assert actions["buy"] > 0 and actions["blocked"] > 0 and actions["hold"] > 0
    outcomes = Counter((v.rule, v.outcome) for ev in walk.values() for v in ev.verdicts)
    for rule in ("trend-bias", "zone", "momentum", "entry-trigger"):
        assert outcomes[(rule, "pass")] and outcomes[(rule, "block")], rule
    for end, ev in walk.items():
        rules = [v.rule for v in ev.verdicts if v.rule != "data-integrity"]
        assert rules == list(SEVEN_RULES), end
        assert (ev.verdicts[0].rule == "data-integrity") == (ev.blocked_by == "data-integrity")
        assert ev.candles_hash == candles_hash(upto(kucoin, end))
    short = [end for end, ev in walk.items() if ev.data_issue and ev.data_issue.check == "insufficient-history"]
    assert short == list(range(1, warmup_bars(P)))
    # every verdict survives its stored document unchanged
    for ev in list(walk.values())[::50]:
        for v in ev.verdicts:
            assert RuleVerdict.from_doc(v.to_doc()) == v


def test_a_real_buy_carries_seven_non_blocking_verdicts_the_stop_and_the_size(walk: dict[int, Evaluation],
                                                                            kucoin: CandleSeries) -> None:
    end = first(walk, lambda ev: ev.action == "buy")
    ev = walk[end]
    assert ev.blocked_by is None and ev.data_issue is None
    assert all(v.outcome in ("pass", "neutral") for v in ev.verdicts) and len(ev.verdicts) == 7
    close = D(repr(float(kucoin.close[end - 1])))
    risk = by_rule(ev)["risk-management"]
    assert ev.stop is not None and ev.qty is not None and ev.stop < close
    assert risk.values["stop"] == str(ev.stop) and risk.values["qty"] == str(ev.qty)
    assert ev.qty == size_order(equity=D(10000), entry_price=close, stop_price=ev.stop, instrument=INSTR,
                                limits=RiskLimits())
    assert by_rule(ev)["ai-analysis"].reason == "Not consulted: AI analysis is disabled."


def test_hold_when_only_the_entry_trigger_blocks(walk: dict[int, Evaluation]) -> None:
    ev = walk[first(walk, lambda ev: ev.action == "hold")]
    assert ev.blocked_by == "entry-trigger" and ev.qty is None
    assert [v.rule for v in ev.verdicts if v.outcome == "block"] == ["entry-trigger"]
    assert by_rule(ev)["entry-trigger"].reason.startswith("No entry trigger: close ")


@pytest.mark.parametrize("rule", ["trend-bias", "zone", "momentum"])
def test_blocked_names_the_first_blocking_rule(walk: dict[int, Evaluation], rule: str) -> None:
    ev = walk[first(walk, lambda ev: ev.blocked_by == rule)]
    assert ev.action == "blocked" and ev.qty is None and ev.stop is None
    blocks = [v.rule for v in ev.verdicts if v.outcome == "block"]
    assert blocks[0] == rule and all(SEVEN_RULES.index(b) >= SEVEN_RULES.index(rule) for b in blocks)


def test_determinism_same_window_same_evaluation(kucoin: CandleSeries) -> None:
    window = upto(kucoin, 5000)
    copy = CandleSeries.from_arrays(*(np.array(getattr(window, c)) for c in
                                      ("open_time", "open", "high", "low", "close", "volume")))
    a, b, c = (pipeline.evaluate(tick(w), P) for w in (window, window, copy))
    assert a == b == c and a.candles_hash == candles_hash(window)


# --------------------------------------------------------------------------- rules, crafted


def test_trend_bias_blocks_a_bearish_trend() -> None:
    closes = 1000 - np.arange(300) + 3 * np.sin(np.arange(300))
    ev = pipeline.evaluate(tick(bars(closes)), P)
    v = by_rule(ev)["trend-bias"]
    assert ev.action == "blocked" and ev.blocked_by == "trend-bias" and v.outcome == "block"
    assert v.values["ema_fast"] < v.values["ema_slow"]  # type: ignore[operator]
    assert v.reason == f"EMA50 {v.values['ema_fast']:.8g} is not above EMA200 {v.values['ema_slow']:.8g}: " \
                       "no uptrend to buy into."
    assert seven.trend_bias(T, snap(), P).outcome == "pass"  # snap: EMA fast 101 > slow 100


def test_momentum_blocks_an_overbought_rsi_and_zone_passes_a_breakout() -> None:
    closes = 100 + np.arange(300) + 0.4 * np.sin(np.arange(300))
    ev = pipeline.evaluate(tick(bars(closes)), P)
    v = by_rule(ev)
    assert v["trend-bias"].outcome == "pass"
    assert v["momentum"].outcome == "block" and "overbought" in v["momentum"].reason
    assert v["momentum"].values["rsi"] > 70  # type: ignore[operator]
    assert v["zone"].outcome == "pass" and "broke out above" in v["zone"].reason
    assert ev.blocked_by == "momentum"  # the first block in rule order wins


def test_momentum_rule_reasons() -> None:
    assert seven.momentum(T, snap(rsi=55), P).reason == "RSI14 is 55.0, inside 45-70."
    weak = seven.momentum(T, snap(rsi=38.14), P)
    assert weak.outcome == "block" and weak.reason == "RSI14 is 38.1, below 45: momentum is weak."
    assert weak.values == {"rsi": 38.14, "rsi_min": 45, "rsi_max": 70, "period": 14}
    assert seven.momentum(T, snap(rsi=78.2), P).reason == "RSI14 is 78.2, above 70: overbought."


def test_zone_rule_needs_room_to_resistance() -> None:
    ok = seven.zone(T, snap(close=100, atr=5, resistance=110), P)
    assert ok.outcome == "pass" and ok.values["room"] == 10 and ok.values["room_atr"] == 2
    tight = seven.zone(T, snap(close=100, atr=5, resistance=110), P.model_copy(update={"zone_min_room_atr": 3.0}))
    assert tight.outcome == "block"
    assert tight.reason == "Close 100 is within 2.00 ATR of resistance 110 (the 100-bar high); " \
                           "3.0 ATR of room is required."


def test_session_rule_on_a_real_buy(walk: dict[int, Evaluation], kucoin: CandleSeries) -> None:
    end = first(walk, lambda ev: ev.action == "buy")
    window = upto(kucoin, end)
    closed = from_ms(int(window.open_time[-1]) + H_MS)
    hour, day = closed.hour, closed.weekday()
    inside = P.model_copy(update={"session_hours_utc": [(hour, hour + 1)]})
    assert pipeline.evaluate(tick(window), inside).action == "buy"
    other = (hour + 2) % 24
    outside = SevenRuleParams(session_hours_utc=[(other, other + 1)])
    ev = pipeline.evaluate(tick(window), outside)
    assert ev.action == "blocked" and ev.blocked_by == "session"
    assert "outside the allowed UTC hours" in by_rule(ev)["session"].reason
    wrap = SevenRuleParams(session_hours_utc=[(hour, (hour - 1) % 24 or 24)])  # all but the hour before
    assert pipeline.evaluate(tick(window), wrap).action == "buy"
    weekend = SevenRuleParams(session_weekdays=[d for d in range(7) if d != day])
    ev = pipeline.evaluate(tick(window), weekend)
    assert ev.blocked_by == "session" and "which is not an allowed weekday" in by_rule(ev)["session"].reason
    assert by_rule(ev)["session"].values["weekday"] == day


def test_entry_trigger_reclaim_engulfing_and_none() -> None:
    reclaim = seven.entry_trigger(T, snap(close=100, prev_close=99, ema_trigger=99.5, prev_ema_trigger=99.2), P)
    assert reclaim.outcome == "pass" and reclaim.direction == "long" and reclaim.values["reclaim"] is True
    assert reclaim.reason.startswith("Close 100 reclaimed EMA20 99.5 after closing at 99")
    engulf = seven.entry_trigger(T, snap(close=103, open_=97.5, prev_close=98, prev_open=102, ema_trigger=90,
                                         prev_ema_trigger=90), P)
    assert engulf.outcome == "pass" and engulf.values["engulfing"] is True and engulf.values["reclaim"] is False
    none = seven.entry_trigger(T, snap(close=100, prev_close=101, ema_trigger=99, prev_ema_trigger=99), P)
    assert none.outcome == "block" and none.reason.startswith("No entry trigger")


def test_risk_management_pass_and_blocks() -> None:
    ok = seven.risk_management(T, snap(close=100, atr=5), P)
    assert ok.outcome == "pass" and ok.values["stop"] == "90.00" and D(str(ok.values["qty"])) == 10
    poor = seven.risk_management(tick(bars([100.0] * 3), equity="0.01"), snap(close=100, atr=5), P)
    assert poor.outcome == "block" and "below the minimum" in poor.reason and poor.values["qty"] == "0"
    broke = seven.risk_management(tick(bars([100.0] * 3), equity="0"), snap(), P)
    assert broke.outcome == "block" and broke.reason == "Equity is 0 USDT: nothing to risk."
    flat = seven.risk_management(T, snap(atr=0.0), P)
    assert flat.outcome == "block" and "not a usable price below the close" in flat.reason


def test_a_too_small_equity_blocks_a_real_buy_at_risk_management(walk: dict[int, Evaluation],
                                                                 kucoin: CandleSeries) -> None:
    window = upto(kucoin, first(walk, lambda ev: ev.action == "buy"))
    ev = pipeline.evaluate(tick(window, equity="0.5"), P)
    assert ev.action == "blocked" and ev.blocked_by == "risk-management"


# --------------------------------------------------------------------------- exit mode


def test_exit_on_a_stop_hit_sells_the_whole_position_rounded(walk: dict[int, Evaluation],
                                                             kucoin: CandleSeries) -> None:
    window = upto(kucoin, first(walk, lambda ev: ev.action == "buy"))
    ev = pipeline.evaluate(tick(window, qty="0.1234567", avg="1000000"), P)
    assert ev.action == "sell" and ev.qty == D("0.123456") and ev.blocked_by is None and len(ev.verdicts) == 7
    stop = by_rule(ev)["risk-management"]
    assert stop.outcome == "block" and stop.direction == "flat" and stop.reason.startswith("Stop hit: close ")
    for rule in ("session", "zone", "momentum"):
        assert by_rule(ev)[rule].outcome == "neutral"


def test_exit_on_a_trend_flip_and_hold_otherwise(walk: dict[int, Evaluation], kucoin: CandleSeries) -> None:
    bearish = upto(kucoin, first(walk, lambda ev: ev.blocked_by == "trend-bias"))
    ev = pipeline.evaluate(tick(bearish, qty="0.5", avg="1"), P)
    assert ev.action == "sell" and ev.qty == D("0.5")
    assert by_rule(ev)["trend-bias"].outcome == "block" and "the trend turned down" in by_rule(ev)["trend-bias"].reason
    good = upto(kucoin, first(walk, lambda ev: ev.action == "buy"))
    held = pipeline.evaluate(tick(good, qty="0.5", avg=repr(float(good.close[-1]))), P)
    assert held.action == "hold" and held.qty is None
    assert [v.outcome for v in held.verdicts] == ["pass", "neutral", "neutral", "neutral", "pass", "pass", "neutral"]


def test_entry_trigger_exit_below_the_ema_minus_atr() -> None:
    v = seven.entry_trigger_exit(T, snap(close=90, ema_trigger=100, atr=5), P)
    assert v.outcome == "block" and v.direction == "flat" and v.values["exit_level"] == 95
    assert seven.entry_trigger_exit(T, snap(close=96, ema_trigger=100, atr=5), P).outcome == "pass"


def test_dust_below_one_lot_is_treated_as_flat(walk: dict[int, Evaluation], kucoin: CandleSeries) -> None:
    window = upto(kucoin, first(walk, lambda ev: ev.action == "buy"))
    assert pipeline.evaluate(tick(window, qty="0.0000004", avg="1000000"), P).action == "buy"


# --------------------------------------------------------------------------- data integrity


def test_a_gap_blocks_with_data_integrity(kucoin: CandleSeries) -> None:
    gap = kucoin.index_of(to_ms(datetime(2023, 9, 14, 16, tzinfo=UTC)))  # first bar after the missing 15:00
    assert gap is not None
    ev = pipeline.evaluate(tick(upto(kucoin, gap + 10)), P)
    assert ev.action == "blocked" and ev.blocked_by == "data-integrity" and ev.data_issue is not None
    assert ev.data_issue.check == "gap" and len(ev.verdicts) == 8
    assert ev.verdicts[0].outcome == "block" and "missing inside the window" in ev.verdicts[0].reason
    assert ev.verdicts[0].values["check"] == "gap"
    assert all(v.outcome == "neutral" and v.reason == "Not evaluated: broken data (gap)." for v in ev.verdicts[1:])


def test_too_little_history_and_stale_data_block(kucoin: CandleSeries) -> None:
    ev = pipeline.evaluate(tick(upto(kucoin, 2000, n=100)), P)
    assert ev.blocked_by == "data-integrity" and ev.verdicts[0].reason == "The strategy needs 251 bars, has 100."
    window = upto(kucoin, 2000)
    late = pipeline.evaluate(tick(window, now=from_ms(int(window.open_time[-1])) + timedelta(days=1)), P)
    assert late.blocked_by == "data-integrity" and late.data_issue and late.data_issue.check == "stale"


# --------------------------------------------------------------------------- AI analysis


@pytest.fixture(scope="module")
def buy_window(walk: dict[int, Evaluation], kucoin: CandleSeries) -> CandleSeries:
    return upto(kucoin, first(walk, lambda ev: ev.action == "buy"))


AI_ON = SevenRuleParams(ai_enabled=True, ai_timeout_ms=100)


def test_ai_off_or_absent_is_neutral(buy_window: CandleSeries) -> None:
    calls: list[dict[str, Any]] = []

    def advisor(summary: dict[str, Any]) -> AdvisorAnswer:
        calls.append(summary)
        return AdvisorAnswer("disagree", "no")

    assert pipeline.evaluate(tick(buy_window, advisor=advisor), P).action == "buy" and not calls
    ev = pipeline.evaluate(tick(buy_window), AI_ON)
    assert ev.action == "buy" and by_rule(ev)["ai-analysis"].reason == "Not consulted: no advisor is configured."


def test_ai_agree_passes_and_disagree_blocks(buy_window: CandleSeries) -> None:
    seen: list[dict[str, Any]] = []

    def agree(summary: dict[str, Any]) -> AdvisorAnswer:
        seen.append(summary)
        return AdvisorAnswer("agree", "Clean reclaim in an uptrend.")

    ev = pipeline.evaluate(tick(buy_window, advisor=agree), AI_ON)
    ai = by_rule(ev)["ai-analysis"]
    assert ev.action == "buy" and ai.outcome == "pass"
    assert ai.reason == "The advisor agrees with buying: Clean reclaim in an uptrend."
    assert seen[0]["proposal"] == "buy" and [v["rule"] for v in seen[0]["verdicts"]] == list(SEVEN_RULES[:6])
    ev = pipeline.evaluate(tick(buy_window, advisor=lambda s: AdvisorAnswer("disagree", "News risk.")), AI_ON)
    assert ev.action == "blocked" and ev.blocked_by == "ai-analysis"
    assert by_rule(ev)["ai-analysis"].reason == "The advisor disagrees with buying: News risk."


def test_ai_timeout_error_and_garbage_are_neutral(buy_window: CandleSeries) -> None:
    release = threading.Event()

    def slow(summary: dict[str, Any]) -> AdvisorAnswer:
        release.wait(5)
        return AdvisorAnswer("disagree", "too late")

    def boom(summary: dict[str, Any]) -> AdvisorAnswer:
        raise RuntimeError("endpoint down")

    started = time.perf_counter()
    ev = pipeline.evaluate(tick(buy_window, advisor=slow), AI_ON)
    elapsed = time.perf_counter() - started
    release.set()
    assert ev.action == "buy" and 0.09 < elapsed < 0.6
    assert by_rule(ev)["ai-analysis"].reason == "The advisor timed out after 100 ms."
    ev = pipeline.evaluate(tick(buy_window, advisor=boom), AI_ON)
    assert ev.action == "buy"
    assert by_rule(ev)["ai-analysis"].reason == "The advisor failed (RuntimeError: endpoint down)."
    for answer in (None, "agree", AdvisorAnswer("maybe", "x")):  # type: ignore[arg-type]
        ev = pipeline.evaluate(tick(buy_window, advisor=lambda s, a=answer: a), AI_ON)
        assert ev.action == "buy" and by_rule(ev)["ai-analysis"].outcome == "neutral"


def test_ai_is_not_consulted_once_decided_and_never_prevents_an_exit(buy_window: CandleSeries,
                                                                     kucoin: CandleSeries) -> None:
    calls: list[str] = []

    def disagree(summary: dict[str, Any]) -> AdvisorAnswer:
        calls.append(summary["mode"])
        return AdvisorAnswer("disagree", "Sell everything.")

    blocked = pipeline.evaluate(tick(bars(1000 - np.arange(300.0)), advisor=disagree), AI_ON)
    assert blocked.blocked_by == "trend-bias" and not calls
    assert by_rule(blocked)["ai-analysis"].reason == "Not consulted: trend-bias already blocks."
    stop_hit = pipeline.evaluate(tick(buy_window, qty="1", avg="1000000", advisor=disagree), AI_ON)
    assert stop_hit.action == "sell" and not calls
    held = pipeline.evaluate(tick(buy_window, qty="1", avg=repr(float(buy_window.close[-1])), advisor=disagree), AI_ON)
    assert held.action == "hold" and calls == ["exit"] and by_rule(held)["ai-analysis"].outcome == "neutral"


# --------------------------------------------------------------------------- SMA cross


def _cross(closes: np.ndarray, up: bool) -> CandleSeries:
    f, s = sma(closes, 10), sma(closes, 30)
    hit = [i for i in range(30, len(closes)) if (f[i - 1] <= s[i - 1] and f[i] > s[i]) == up
           and (f[i - 1] >= s[i - 1] and f[i] < s[i]) != up]
    return bars(closes[: hit[0] + 1])


def test_sma_cross_buys_on_a_cross_up_and_sells_on_a_cross_down() -> None:
    params = SmaCrossParams()
    v_shape = np.concatenate([np.linspace(200, 100, 60), np.linspace(101, 200, 60)])
    up = _cross(v_shape, up=True)
    ev = pipeline.evaluate(tick(up), params)
    close = D(repr(float(up.close[-1])))
    assert ev.action == "buy" and ev.qty == round_qty(D(10000) * D("0.99") / close, INSTR)
    assert [v.rule for v in ev.verdicts] == ["sma-cross"] and ev.verdicts[0].outcome == "pass"
    assert pipeline.evaluate(tick(up, qty="0.5"), params).action == "hold"
    down = _cross(np.concatenate([np.linspace(100, 200, 60), np.linspace(199, 100, 60)]), up=False)
    ev = sma_cross.evaluate(tick(down, qty="0.5000001"), params)
    assert ev.action == "sell" and ev.qty == D("0.5") and ev.verdicts[0].direction == "flat"
    flat = sma_cross.evaluate(tick(down), params)
    assert flat.action == "hold" and "nothing to sell" in flat.verdicts[0].reason
    none = sma_cross.evaluate(tick(bars(np.linspace(100, 200, 60))), params)
    assert none.action == "hold" and none.verdicts[0].reason.startswith("No cross: SMA10 ")


def test_sma_cross_data_gate_and_real_data_alternate(kucoin: CandleSeries) -> None:
    params = SmaCrossParams()
    ev = sma_cross.evaluate(tick(upto(kucoin, 2000, n=20)), params)
    assert ev.blocked_by == "data-integrity" and [v.rule for v in ev.verdicts] == ["data-integrity", "sma-cross"]
    held, actions = D(0), []
    for end in range(31, 2000):
        ev = pipeline.evaluate(tick(upto(kucoin, end, n=100), qty=str(held)), params)
        if ev.action in ("buy", "sell"):
            actions.append(ev.action)
            held = ev.qty if ev.action == "buy" else D(0)  # type: ignore[assignment]
    assert len(actions) > 10 and all(a != b for a, b in itertools.pairwise(actions))


# --------------------------------------------------------------------------- params


def test_params_defaults_warmup_and_validation() -> None:
    assert (P.ema_fast, P.ema_slow, P.session_hours_utc, P.session_weekdays) == (50, 200, [(0, 24)], list(range(7)))
    assert warmup_bars(P) == 251 and warmup_bars(SmaCrossParams()) == 31
    bads: list[dict[str, Any]] = [
        {"ema_fast": 200}, {"rsi_min": 70}, {"session_hours_utc": [(9, 25)]}, {"session_hours_utc": [(5, 5)]},
        {"session_weekdays": [7]}, {"session_weekdays": [1, 1]}, {"atr_period": 0}, {"stop_atr_mult": 0},
        {"exit_atr_mult": float("nan")}, {"session_hours_utc": []},
    ]
    for bad in bads:
        with pytest.raises(ValidationError):
            SevenRuleParams(**bad)
    with pytest.raises(ValidationError):
        SmaCrossParams(fast=30, slow=10)


def test_params_hash_is_stable_canonical_and_pinned() -> None:
    assert params_hash(P) == params_hash(SevenRuleParams.from_doc(P.to_doc())) == params_hash(SevenRuleParams())
    assert params_hash(SevenRuleParams(session_weekdays=[6, 0, 1, 2, 3, 4, 5])) == params_hash(P)
    assert params_hash(SevenRuleParams(rsi_max=71)) != params_hash(P)
    assert params_hash(SmaCrossParams()) != params_hash(P)
    assert params_hash(SmaCrossParams()) == "81f824f73b43fe4f3737bde8519f220e3c68528eb6ab3ed5bde3860774b759dd"
    assert params_hash(P) == "55e3ace4ceaa0850c9e65eca932dcb27842bda893890f06f092066c8d17c572e"


def test_strategy_version_round_trips_through_its_document() -> None:
    version = StrategyVersion(strategy_id="btc-trend", version=3, params=SmaCrossParams(fast=5, slow=20),
                              created_at=datetime(2024, 1, 1, tzinfo=UTC), created_by="operator", note="baseline")
    doc = version.to_doc()
    assert doc["strategyId"] == "btc-trend" and doc["params"] == {"kind": "sma-cross", "fast": 5, "slow": 20}
    assert StrategyVersion.from_doc(doc) == version and version.doc_id == "btc-trend:v3"
    seven_doc = {**doc, "params": {"kind": "seven-rule", "emaFast": 20, "sessionHoursUtc": [[8, 16]]}}
    parsed = StrategyVersion.from_doc(seven_doc)
    assert isinstance(parsed.params, SevenRuleParams) and parsed.params.session_hours_utc == [(8, 16)]
    with pytest.raises(ValidationError):
        StrategyVersion.from_doc({**doc, "version": 0})
    with pytest.raises(ValidationError):
        StrategyVersion.from_doc({**doc, "params": {"kind": "macd"}})
