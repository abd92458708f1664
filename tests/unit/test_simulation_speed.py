"""The simulator's fast paths give the results of the straightforward code they replace.

Each shortcut taken for speed is held to an oracle here: the fused data-gate check to the
ten separate checks, the lazy hash to the eager one, the trusted slice to the validated
constructor, the unscanned indicator kernels to the checked ones, the windowed filters'
steady-state slices to the general per-bar formula, the running daily total to the
reversed re-summation, and the entry budget to the sizing it bounds. The explicit-context
Decimal arithmetic of the fill model, risk checks and positions is compared with the
``localcontext`` formulation in ``test_simulation_speed_decimal.py``.
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from pathlib import Path

import numpy as np
import pytest

from shared.domain.candles import CandleSeries, candles_hash, from_ms
from shared.domain.data_checks import _clean, check_window, find_issues
from shared.domain.indicators import atr, ema, rsi, sma
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.risk import round_qty, size_order
from shared.domain.rules import pipeline, seven
from shared.domain.rules.context import BarValues, IndicatorSnapshot, TickInput
from shared.domain.rules.sma_cross import ALL_IN
from shared.domain.simulation import windowed
from shared.domain.simulation.daily import DayTotal, reversed_sum
from shared.domain.simulation.screening import EntryBudget, _count_back, _count_in, entry_share
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HOUR = 3_600_000
INSTR = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                   lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"), min_notional=Decimal("5"))


@pytest.fixture(scope="module")
def kucoin() -> CandleSeries:
    return CandleSeries.from_csv(DATA / "dmplot_KUCOIN-BTC-USDT_1h.csv")


def first_issue(window: CandleSeries, seconds: int, now_ms: int) -> object:
    issues = find_issues(window, seconds, from_ms(now_ms), first_only=True)
    return issues[0] if issues else None


# --------------------------------------------------------------------------- data gate


def test_fused_check_equals_the_separate_checks_on_every_real_window() -> None:
    """The gappy 1m file and the KuCoin year (5 gaps), every window, now at the close and
    in the stale and future directions."""
    for name, seconds in (("freqtrade_UNITTEST-BTC_1m.csv", 60), ("dmplot_KUCOIN-BTC-USDT_1h.csv", 3600)):
        series = CandleSeries.from_csv(DATA / name)
        seen_clean = seen_issue = 0
        for end in range(1, len(series) + 1, 1 if seconds == 60 else 3):
            window = series[max(0, end - 300) : end]
            close = int(window.open_time[-1]) + seconds * 1000
            for now_ms in (close, close + 999, close + 2 * seconds * 1000 + 1, close - 1):
                expected = first_issue(window, seconds, now_ms)
                assert check_window(window, seconds, from_ms(now_ms)) == expected, (name, end, now_ms)
                seen_clean += expected is None
                seen_issue += expected is not None
        assert seen_clean > 100 and seen_issue > 100


def crafted(n: int = 12) -> dict[str, np.ndarray]:
    t0 = 1_704_067_200_000
    close = 100.0 + np.arange(n, dtype=float)
    return {"open_time": t0 + HOUR * np.arange(n), "open": close - 0.5, "high": close + 1, "low": close - 1,
            "close": close, "volume": np.full(n, 3.0)}


@pytest.mark.parametrize(("column", "index", "value"), [
    ("open_time", 5, "dup"), ("open_time", 5, "swap"), ("open_time", 5, "shift"), ("open_time", 0, "shift"),
    ("open_time", 11, "gap"), ("open", 3, np.nan), ("high", 3, np.inf), ("low", 3, -np.inf), ("close", 0, np.nan),
    ("volume", 7, np.nan), ("volume", 7, np.inf), ("volume", 7, -1.0), ("volume", 7, -0.0), ("high", 4, 50.0),
    ("low", 4, 500.0), ("open", 4, 1e308), ("low", 4, -1e308), ("high", 4, 1e308), ("close", 11, 1e308),
    ("low", 4, "overflow"), ("volume", 2, "overflow"),
])
def test_fused_check_equals_the_separate_checks_on_crafted_defects(column: str, index: int, value: object) -> None:
    cols = crafted()
    if value == "dup":
        cols["open_time"][index] = cols["open_time"][index - 1]
    elif value == "swap":
        cols["open_time"][[index, index + 1]] = cols["open_time"][[index + 1, index]]
    elif value == "shift":
        cols["open_time"][index] += 1000
    elif value == "gap":
        cols["open_time"][index] += HOUR
    elif value == "overflow":  # finite and consistent, but the fused differences overflow: the full checks decide
        if column == "low":
            cols["open"][index] = cols["high"][index] = cols["close"][index] = 1.5e308
            cols["low"][index] = -1.5e308
        else:
            cols["volume"][:] = 1e308
    else:
        cols[column][index] = value
    window = CandleSeries.from_arrays(**cols)
    last_close = int(window.open_time.max()) + HOUR
    for now_ms in (last_close, last_close + 1, last_close + 2 * HOUR, last_close + 2 * HOUR + 1, last_close - 1):
        expected = first_issue(window, 3600, now_ms)
        assert check_window(window, 3600, from_ms(now_ms)) == expected
        if _clean(window, HOUR, now_ms):
            assert expected is None


def test_fused_check_refuses_what_the_checks_refuse() -> None:
    cols = crafted()
    window = CandleSeries.from_arrays(**cols)
    with pytest.raises(ValueError, match="interval_seconds"):
        check_window(window, 0, from_ms(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        check_window(window, 3600, from_ms(0).replace(tzinfo=None))
    empty = CandleSeries.from_arrays(*([],) * 6)
    issue = check_window(empty, 3600, from_ms(0))
    assert issue is not None and issue.check == "empty"


# --------------------------------------------------------------------------- candles


def test_a_slice_equals_the_validated_series(kucoin: CandleSeries) -> None:
    for index in (slice(10, 310), slice(0, 0), slice(-5, None), slice(None, None, 7), slice(300, 10, -3)):
        fast = kucoin[index]
        slow = CandleSeries(*(getattr(kucoin, n)[index] for n in ("open_time", "open", "high", "low", "close",
                                                                    "volume")))
        for name in ("open_time", "open", "high", "low", "close", "volume"):
            column = getattr(fast, name)
            assert np.array_equal(column, getattr(slow, name)) and column.dtype == getattr(slow, name).dtype
            assert not column.flags.writeable
        assert len(fast) == len(slow) and candles_hash(fast) == candles_hash(slow)
    with pytest.raises(AttributeError):
        kucoin[0:5].close = kucoin.close  # type: ignore[misc]


def tick(window: CandleSeries, qty: str = "0") -> TickInput:
    close = Decimal(repr(float(window.close[-1]))) if len(window) else Decimal(0)
    now = from_ms(int(window.open_time[-1]) + HOUR) if len(window) else from_ms(0)
    return TickInput(window=window, symbol="BTCUSDT", interval_seconds=3600, now=now, position_qty=Decimal(qty),
                     position_avg_cost=close if qty != "0" else Decimal(0), equity=Decimal(10000), instrument=INSTR,
                     limits=RiskLimits())


def test_the_lazy_hash_is_the_hash_of_the_candles_and_part_of_equality(kucoin: CandleSeries) -> None:
    params = SmaCrossParams()
    for end in (5, 400, 2000):  # blocked (too short) and decided windows
        window = kucoin[max(0, end - 300) : end]
        ev = pipeline.evaluate(tick(window), params)
        assert ev.candles_hash == candles_hash(window)
        copy = CandleSeries.from_arrays(*(np.array(getattr(window, n)) for n in ("open_time", "open", "high", "low",
                                                                                 "close", "volume")))
        assert pipeline.evaluate(tick(copy), params) == ev
    a = pipeline.evaluate(tick(kucoin[1000:1300]), params)
    b = pipeline.evaluate(tick(kucoin[1001:1301]), params)
    assert a.action == b.action == "hold"
    same_outcome = type(a)(a.action, a.verdicts, a.blocked_by, a.qty, a.stop, a.data_issue, kucoin[1001:1301])
    assert same_outcome != a  # same verdicts, other candles: not equal
    assert "window" not in repr(a)


# --------------------------------------------------------------------------- indicators


def test_unscanned_kernels_give_the_checked_values(kucoin: CandleSeries) -> None:
    h, lo, c = kucoin.high[:2000], kucoin.low[:2000], kucoin.close[:2000]
    for n in (2, 14, 50):
        assert np.array_equal(sma(c, n, scan=False), sma(c, n), equal_nan=True)
        assert np.array_equal(ema(c, n, scan=False), ema(c, n), equal_nan=True)
        assert np.array_equal(rsi(c, n, scan=False), rsi(c, n), equal_nan=True)
        assert np.array_equal(atr(h, lo, c, n, scan=False), atr(h, lo, c, n), equal_nan=True)
    with pytest.raises(ValueError, match="differ in length"):
        atr(h, lo[:-1], c, 14, scan=False)
    with pytest.raises(ValueError, match="NaN"):
        sma(np.array([1.0, np.nan, 3.0]), 2)


def reference_snapshot(inp: TickInput, p: SevenRuleParams) -> IndicatorSnapshot:
    """The snapshot as first written: checked indicators, one float per value."""
    w = inp.window
    series = (ema(w.close, p.ema_fast), ema(w.close, p.ema_slow), ema(w.close, p.trigger_ema),
              rsi(w.close, p.rsi_period), atr(w.high, w.low, w.close, p.atr_period))

    def bar(i: int) -> BarValues:
        ef, es, et, r, a = (float(s[i]) for s in series)
        return BarValues(float(w.open[i]), float(w.high[i]), float(w.low[i]), float(w.close[i]), ef, es, et, r, a)

    zone = slice(-1 - p.zone_lookback, -1)
    return IndicatorSnapshot(bar(-1), bar(-2), float(w.high[zone].max()), float(w.low[zone].min()),
                             from_ms(int(w.open_time[-1]) + inp.interval_seconds * 1000))


def test_snapshot_equals_the_reference(kucoin: CandleSeries) -> None:
    p = SevenRuleParams()
    for end in range(300, len(kucoin), 37):
        inp = tick(kucoin[end - 300 : end])
        assert seven.snapshot(inp, p) == reference_snapshot(inp, p)


# --------------------------------------------------------------------------- windowed filters


def general_seeded(free: np.ndarray, seeds: np.ndarray, window: int, lag: int, decay: float,
                   first_valid: int) -> windowed.Windowed:
    """The per-bar formula for every bar (window starts gathered, powers per bar)."""
    size = free.size
    t = np.arange(size, dtype=np.int64)
    starts = windowed.window_starts(size, window)
    seed_at = starts + lag
    ok_last, ok_prev = (t - starts + 1) >= first_valid, (t - starts) >= first_valid
    seed, at_seed = seeds[starts], free[np.minimum(seed_at, size - 1)]
    delta, scale = seed - at_seed, np.abs(seed) + np.abs(at_seed)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        f_last = np.power(decay, np.maximum(t - seed_at, 0).astype(np.float64))
        f_prev = np.power(decay, np.maximum(t - 1 - seed_at, 0).astype(np.float64))
        prev_free = np.concatenate(([np.nan], free[:-1]))
        rel = windowed.REL_ERROR
        parts = (free + f_last * delta, prev_free + f_prev * delta, rel * (np.abs(free) + f_last * scale),
                 rel * (np.abs(prev_free) + f_prev * scale))
    return windowed.Windowed(*(np.where(ok, x, np.nan) for ok, x in zip((ok_last, ok_prev, ok_last, ok_prev), parts,
                                                                          strict=True)))


def test_windowed_slices_equal_the_general_formula_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for _ in range(150):
        size = int(rng.integers(1, 400))
        free, seeds = rng.normal(100, 5, size), rng.normal(100, 5, size)
        window, lag = int(rng.integers(1, 320)), int(rng.integers(0, 30))
        decay = float(rng.uniform(0.5, 0.999))
        got = windowed._seeded(free, seeds, window, lag, decay, lag + 1)
        want = general_seeded(free, seeds, window, lag, decay, lag + 1)
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(a, b, equal_nan=True), (size, window, lag)
        last_only = windowed._seeded(free, seeds, window, lag, decay, lag + 1, prev=False)
        assert np.array_equal(last_only.last, want.last, equal_nan=True)
        assert np.array_equal(last_only.last_err, want.last_err, equal_nan=True)
        assert np.isnan(last_only.prev[window - 1 :]).all()  # undetermined: the screen keeps such bars


def test_sliding_counts_equal_the_gathered_ones() -> None:
    rng = np.random.default_rng(9)
    for _ in range(500):
        size, window = int(rng.integers(0, 80)), int(rng.integers(2, 90))
        flags = rng.random(size) < rng.random()
        starts = windowed.window_starts(size, window)
        assert np.array_equal(_count_back(flags, 0, window), _count_in(flags, starts))
        assert np.array_equal(_count_back(flags, 1, window - 1), _count_in(flags, starts + 1))


# --------------------------------------------------------------------------- daily total


def random_amount(rnd: random.Random) -> Decimal:
    kind = rnd.random()
    if kind < 0.4:  # a fee: price * qty * rate
        return -(Decimal(repr(round(rnd.uniform(1, 90000), 2))) * Decimal(rnd.randint(1, 10**6)).scaleb(-6)
                 * Decimal("0.001"))
    if kind < 0.8:  # realized PnL against an 18-decimal average cost: up to 25+ digits
        avg = Decimal(repr(rnd.uniform(1, 90000))).quantize(Decimal("1e-18"))
        return (Decimal(repr(round(rnd.uniform(1, 90000), 2))) - avg) * Decimal(rnd.randint(1, 10**6)).scaleb(-6)
    return Decimal(rnd.randint(-10**30, 10**30)).scaleb(-rnd.randint(0, 40))


@pytest.mark.parametrize("context", [Context(), Context(prec=12), Context(prec=40), Context(rounding=ROUND_FLOOR)],
                         ids=["default", "prec12", "prec40", "floor"])
def test_the_running_daily_total_equals_re_adding(context: Context) -> None:
    rnd = random.Random(5)
    day = 86_400_000
    for _ in range(60):
        ledger: list[tuple[int, Decimal]] = []
        total = DayTotal(ledger)
        now = 1_700_000_000_000
        for _ in range(rnd.randint(1, 120)):
            now += rnd.choice([0, 1, 60_000, 3_600_000, day // 3])
            for _ in range(rnd.randint(0, 3)):
                stamp = now - rnd.choice([0, 0, 0, 5_000, day]) if rnd.random() < 0.1 else now
                ledger.append((stamp, random_amount(rnd)))
            with localcontext(context):
                got, want = total.total(now), reversed_sum(ledger, now - now % day)
            assert got == want and str(got) == str(want)


# --------------------------------------------------------------------------- entry budget


def test_no_sizing_spends_more_than_the_share_the_budget_screen_assumes() -> None:
    """The SMA cross's all-in buy and the 7-rule's ``size_order`` stay within
    ``entry_share`` of the equity, which :class:`EntryBudget` relies on."""
    rnd = random.Random(8)
    assert entry_share(SmaCrossParams()) == float(ALL_IN)
    seven_share = Decimal(repr(entry_share(SevenRuleParams())))
    for _ in range(3000):
        equity = Decimal(repr(rnd.choice([rnd.uniform(0, 20), rnd.uniform(0, 1e6)])))
        price = Decimal(repr(round(rnd.uniform(0.5, 90000), 2)))
        stop = price - Decimal(repr(round(rnd.uniform(0.01, float(price) / 2), 2)))
        limits = RiskLimits(max_position_notional=Decimal(rnd.choice(["100", "2000", "1e12"])),
                            risk_per_trade_pct=Decimal(rnd.choice(["1", "50", "100"])))
        qty = size_order(equity=equity, entry_price=price, stop_price=stop, instrument=INSTR, limits=limits)
        assert qty * price <= equity * seven_share * (1 + Decimal("1e-20"))  # the screen's margin is 1e-9
        buy = round_qty(equity * ALL_IN / price, INSTR)
        assert buy * price <= equity * ALL_IN * (1 + Decimal("1e-20"))


def test_the_budget_rules_out_only_entries_too_small_to_size() -> None:
    budget = EntryBudget(quote=5.04, dust=0.0, share=0.99, min_qty=0.000001, min_notional=5.0)
    close = np.array([30000.0, 1.0, np.nan, 0.0, -1.0])
    assert budget.surely_short(close).tolist() == [True, True, False, False, False]
    assert [budget.surely_short_at(float(c)) for c in close] == [True, True, False, False, False]
    rich = EntryBudget(quote=5.06, dust=0.0, share=0.99, min_qty=0.000001, min_notional=5.0)
    assert not rich.surely_short_at(30000.0)  # 5.06 * 0.99 >= 5: the rules decide
    tiny_qty = EntryBudget(quote=100.0, dust=0.0, share=0.99, min_qty=0.01, min_notional=0.0)
    assert tiny_qty.surely_short_at(10_000.0) and not tiny_qty.surely_short_at(9_000.0)
    with_dust = EntryBudget(quote=4.0, dust=0.0009, share=0.99, min_qty=0.001, min_notional=5.0)
    assert with_dust.surely_short_at(1000.0) and not with_dust.surely_short_at(2000.0)  # (4 + 1.8) * 0.99 > 5
