"""The indicator engine against implementations other than the one it uses.

The batch functions call TA-Lib's C kernels, so they are checked against (1) a pandas
reference written here from the definitions (rolling means, ``ewm(adjust=False)`` seeded
the TA-Lib way), (2) the ``ta`` library where its definition matches (SMA and Bollinger
everywhere; EMA, RSI, MACD and ATR once ``ta``'s different seed has decayed below 1e-12),
and (3) the pure-Python incremental states. The incremental states are our own code, so
they are checked against TA-Lib itself, value by value, NaN positions included.

VWAP has no TA-Lib peer, and ``ta``'s VolumeWeightedAveragePrice is a 14-bar rolling sum,
not a session average, so it is checked against a plain pandas groupby-by-UTC-day
cumulative sum instead.

Data: real candles from /work/shared/data (see SOURCES.md there).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import ta
import talib

from shared.domain import indicators as ind

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FILES = [
    "nautilus_FTX-BTC-PERP_1m.csv",  # 1m crypto, 45k bars, BTC ~40k
    "freqtrade_UNITTEST-BTC_1m.csv",  # 1m, gappy, prices ~0.002 (tiny numbers)
    "freqtrade_XRP-ETH_1m.csv",  # 1m, very gappy, prices ~0.0014
    "dmplot_KUCOIN-BTC-USDT_1h.csv",  # 1h, two zero-volume candles
    "backtestingpy_GOOG_1d.csv",  # daily equity
    "stockindicators_SPY_1d.csv",  # daily equity, 502 bars
]
RTOL = 1e-9
DAY_MS = 86_400_000


class Candles(NamedTuple):
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    open_ms: np.ndarray

    @property
    def scale(self) -> float:
        return float(np.abs(self.close).max())


@cache
def load(name: str) -> Candles:
    frame = pd.read_csv(DATA / name)
    open_ms = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    columns = {col: frame[col].to_numpy(dtype=np.float64) for col in ("high", "low", "close", "volume")}
    return Candles(open_ms=open_ms, **columns)


def assert_close(actual, expected, scale: float, rtol: float = RTOL, start: int = 0) -> None:
    """Same NaN positions, and every other value within rtol (plus a hair of the series'
    scale, for values that cross zero like the MACD line)."""
    a = np.asarray(actual, dtype=np.float64)[start:]
    e = np.asarray(expected, dtype=np.float64)[start:]
    assert a.shape == e.shape
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    assert np.array_equal(nan_a, nan_e), f"NaN positions differ first at {start + np.argmax(nan_a != nan_e)}"
    bad = ~nan_e & (np.abs(a - e) > rtol * np.abs(e) + 1e-12 * scale)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(f"index {start + i}: {a[i]!r} != {e[i]!r}")


def feed(state, *columns):
    return np.array([state.update(*row) for row in zip(*columns, strict=True)], dtype=np.float64)


def settled(lookback: int, alpha: float) -> int:
    """First index where a different seed has decayed by 1e-13 (for the ``ta`` checks)."""
    return lookback + (math.ceil(math.log(1e-13) / math.log(1.0 - alpha)) if alpha < 1 else 0)


# --- pandas reference, written from the definitions --------------------------------------------

def smoothed(seed: float, rest: np.ndarray, alpha: float) -> np.ndarray:
    """Recursive average seeded with ``seed``: pandas ewm(adjust=False), not TA-Lib."""
    return np.asarray(pd.Series(np.r_[seed, rest]).ewm(alpha=alpha, adjust=False).mean(), dtype=np.float64)


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    if x.size >= n:
        out[n - 1:] = smoothed(x[:n].mean(), x[n:], 2.0 / (n + 1))
    return out


def ref_rsi(x: np.ndarray, n: int) -> np.ndarray:
    out, change = np.full(x.size, np.nan), np.diff(x)
    if change.size >= n:
        gain, loss = np.clip(change, 0, None), np.clip(-change, 0, None)
        g = smoothed(gain[:n].mean(), gain[n:], 1.0 / n)
        lo = smoothed(loss[:n].mean(), loss[n:], 1.0 / n)
        total = g + lo
        out[n:] = np.where(total == 0, 0.0, 100 * g / np.where(total == 0, 1, total))
    return out


def ref_true_range(c: Candles) -> np.ndarray:
    prev = pd.Series(c.close).shift(1)  # NaN on the first bar: it has no true range
    parts = pd.DataFrame({"hl": c.high - c.low, "hc": (c.high - prev).abs(), "lc": (c.low - prev).abs()})
    return np.asarray(parts.max(axis=1, skipna=False), dtype=np.float64)


def ref_atr(c: Candles, n: int) -> np.ndarray:
    tr = ref_true_range(c)
    if n == 1:
        return tr
    out = np.full(tr.size, np.nan)
    if tr.size > n:
        out[n:] = smoothed(tr[1:n + 1].mean(), tr[n + 1:], 1.0 / n)
    return out


def ref_macd(x: np.ndarray, fast: int, slow: int, signal: int):
    out = [np.full(x.size, np.nan) for _ in range(3)]
    first = slow + signal - 2
    if x.size > first:
        fast_ema = np.full(x.size, np.nan)
        fast_ema[slow - 1:] = smoothed(x[slow - fast:slow].mean(), x[slow:], 2.0 / (fast + 1))
        line = fast_ema - ref_ema(x, slow)
        sig = np.full(x.size, np.nan)
        sig[slow - 1:] = ref_ema(line[slow - 1:], signal)
        out = [line, sig, line - sig]
        for series in out:
            series[:first] = np.nan
    return tuple(out)


def ref_bollinger(x: np.ndarray, n: int, k: float):
    """Two-pass mean and population std of each window (numpy), the textbook definition.

    Not pandas' rolling std: its online update keeps a few ulps of x**2 as noise, which in
    a flat window is a std of up to ~2e-8 of the price (seen on these files).
    """
    mid, std = np.full(x.size, np.nan), np.full(x.size, np.nan)
    if x.size >= n:
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        mid[n - 1:], std[n - 1:] = windows.mean(axis=1), windows.std(axis=1)
    return mid + k * std, mid, mid - k * std


def ref_vwap(c: Candles) -> np.ndarray:
    frame = pd.DataFrame({"pv": (c.high + c.low + c.close) / 3 * c.volume, "v": c.volume})
    sums = frame.groupby(c.open_ms // DAY_MS).cumsum()
    return np.asarray(sums["pv"] / sums["v"].where(sums["v"] > 0), dtype=np.float64)


# --- real candles: batch vs reference and ta, incremental vs TA-Lib -------------------------------

@pytest.fixture(params=FILES)
def candles(request) -> Candles:
    return load(request.param)


@pytest.mark.parametrize("n", [1, 2, 20, 200])
def test_sma_ema(candles, n):
    c, s = candles.close, candles.scale
    assert_close(ind.sma(c, n), pd.Series(c).rolling(n).mean(), s)
    assert_close(ind.sma(c, n), ta.trend.SMAIndicator(pd.Series(c), window=n).sma_indicator(), s)
    assert_close(ind.ema(c, n), ref_ema(c, n), s)
    ta_ema = ta.trend.EMAIndicator(pd.Series(c), window=n).ema_indicator()
    assert_close(ind.ema(c, n), ta_ema, s, start=settled(n - 1, 2 / (n + 1)))
    assert_close(feed(ind.SmaState(n), c), talib.SMA(c, n), s)
    assert_close(feed(ind.EmaState(n), c), talib.EMA(c, n), s)


@pytest.mark.parametrize("n", [2, 14])
def test_rsi(candles, n):
    c = candles.close
    assert_close(ind.rsi(c, n), ref_rsi(c, n), 100)
    ta_rsi = ta.momentum.RSIIndicator(pd.Series(c), window=n).rsi()
    assert_close(ind.rsi(c, n), ta_rsi, 100, start=settled(n, 1 / n))
    assert_close(feed(ind.RsiState(n), c), talib.RSI(c, n), 100)


def test_macd(candles):
    c, s = candles.close, candles.scale
    batch = ind.macd(c)
    state = ind.MacdState()
    incremental = np.array([tuple(state.update(x)) for x in c])
    ta_macd = ta.trend.MACD(pd.Series(c))
    ta_lines = (ta_macd.macd(), ta_macd.macd_signal(), ta_macd.macd_diff())
    start = settled(settled(25, 2 / 27), 2 / 10)
    for i, expected in enumerate(talib.MACD(c, 12, 26, 9)):
        assert_close(batch[i], ref_macd(c, 12, 26, 9)[i], s)
        assert_close(batch[i], ta_lines[i], s, start=start)
        assert_close(incremental[:, i], expected, s)


@pytest.mark.parametrize("n", [1, 14])
def test_atr(candles, n):
    c = candles
    batch = ind.atr(c.high, c.low, c.close, n)
    assert_close(batch, ref_atr(c, n), c.scale)
    ta_atr = ta.volatility.AverageTrueRange(pd.Series(c.high), pd.Series(c.low), pd.Series(c.close), window=n)
    assert_close(batch, ta_atr.average_true_range(), c.scale, start=settled(n, 1 / n))
    assert_close(feed(ind.AtrState(n), c.high, c.low, c.close), talib.ATR(c.high, c.low, c.close, n), c.scale)


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (5, 1.5)])
def test_bollinger(candles, n, k):
    c, s = candles.close, candles.scale
    batch = ind.bollinger(c, n, k)
    state = ind.BollingerState(n, k)
    incremental = np.array([tuple(state.update(x)) for x in c])
    ta_bands = ta.volatility.BollingerBands(pd.Series(c), window=n, window_dev=k)
    ta_lines = (ta_bands.bollinger_hband(), ta_bands.bollinger_mavg(), ta_bands.bollinger_lband())
    for i, expected in enumerate(talib.BBANDS(c, n, k, k)):
        assert_close(batch[i], ref_bollinger(c, n, k)[i], s)
        assert_close(batch[i], ta_lines[i], s, rtol=1e-7)  # ta = pandas rolling std (see ref_bollinger)
        assert_close(incremental[:, i], expected, s)


def test_vwap(candles):
    c = candles
    batch = ind.vwap(c.high, c.low, c.close, c.volume, c.open_ms)
    assert_close(batch, ref_vwap(c), c.scale)
    incremental = feed(ind.VwapState(), c.high, c.low, c.close, c.volume, c.open_ms)
    assert np.array_equal(batch, incremental, equal_nan=True)  # same sums in the same order


# --- conventions, edge cases and refusals ------------------------------------------------------------

def walk(size: int, price: float = 100.0, step: float = 1e-3, seed: int = 7) -> np.ndarray:
    return price * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, step, size)))


def test_first_values_land_where_talib_puts_them():
    c = load("stockindicators_SPY_1d.csv").close
    first = lambda values: int(np.argmax(~np.isnan(values)))  # noqa: E731
    assert first(ind.sma(c, 20)) == first(ind.ema(c, 20)) == first(ind.bollinger(c)[0]) == 19
    assert first(ind.rsi(c)) == 14 and first(ind.atr(c + 1, c - 1, c)) == 14
    assert all(first(line) == 33 for line in ind.macd(c))
    # TA-Lib's MACD seeds the fast EMA at bar 25 with the SMA of closes 14..25, so the line is
    # not EMA12 - EMA26 from plain EMA calls (whose fast EMA started at bar 11).
    plain = talib.EMA(c, 12) - talib.EMA(c, 26)
    assert abs(ind.macd(c)[0][33] - plain[33]) > 1e-6
    assert ind.atr(c + 1, c - 1, c)[14] == pytest.approx(ref_true_range(Candles(c + 1, c - 1, c, c, c))[1:15].mean())


@pytest.mark.parametrize("size", [0, 1, 5, 19])
def test_series_shorter_than_the_lookback_is_all_nan(size):
    c = walk(size)
    outputs = [ind.sma(c, 20), ind.ema(c, 20), ind.rsi(c, 19), ind.atr(c, c, c, 33), *ind.macd(c),
               *ind.bollinger(c, 20), talib.SMA(c, 20)]
    assert all(out.shape == (size,) and np.isnan(out).all() for out in outputs)
    states: list[Any] = [ind.SmaState(20), ind.EmaState(20), ind.RsiState(19), ind.MacdState(), ind.BollingerState(20)]
    assert all(np.isnan(state.update(x)).all() for state in states for x in c)
    assert all(math.isnan(ind.AtrState(33).update(x, x, x)) for x in c)
    assert np.isnan(ind.macd(walk(33))).all() and np.isnan(ind.macd(walk(34))).sum() == 3 * 33


@pytest.mark.parametrize("price", [7.0, 0.1, 43207.0, 3e-8])
def test_constant_prices(price):
    c = np.full(60, price)
    assert_close(ind.rsi(c), talib.RSI(c), 100)
    assert (ind.rsi(c)[14:] == 0).all()  # TA-Lib's value when gain and loss are both zero
    assert_close(feed(ind.RsiState(), c), talib.RSI(c), 100)
    for i, line in enumerate(ind.bollinger(c)):
        assert_close(line, talib.BBANDS(c)[i], price)
        assert_close(line[19:], np.full(41, price), price)
    assert (ind.atr(c, c, c)[14:] == 0).all() and (feed(ind.AtrState(), c, c, c)[14:] == 0).all()
    assert np.allclose(ind.macd(c)[0][33:], 0, atol=1e-12 * price)
    assert_close(ind.ema(c, 10), talib.EMA(c, 10), price)


def test_period_one():
    c = load("stockindicators_SPY_1d.csv")
    assert np.array_equal(ind.sma(c.close, 1), c.close) and np.array_equal(ind.ema(c.close, 1), c.close)
    assert np.array_equal(feed(ind.SmaState(1), c.close), c.close)
    assert np.array_equal(feed(ind.EmaState(1), c.close), c.close)
    true_range = talib.TRANGE(c.high, c.low, c.close)
    assert_close(ind.atr(c.high, c.low, c.close, 1), true_range, c.scale)
    assert_close(feed(ind.AtrState(1), c.high, c.low, c.close), true_range, c.scale)
    for call in (lambda: talib.RSI(c.close, 1), lambda: talib.BBANDS(c.close, 1)):
        with pytest.raises(Exception, match="Bad Parameter"):  # TA-Lib's own range starts at 2
            call()
    for refused in (lambda: ind.rsi(c.close, 1), lambda: ind.bollinger(c.close, 1), lambda: ind.RsiState(1),
                    lambda: ind.BollingerState(1)):
        with pytest.raises(ValueError, match=r"2\.\.100000"):
            refused()


def test_tiny_prices_and_moves_need_no_epsilon():
    c = walk(3000, price=2e-5, step=1e-4)  # a PEPE-like quote: moves of ~2e-9
    c.flags.writeable = False  # candle columns are read-only views (shared.domain.candles)
    assert_close(ind.rsi(c), ref_rsi(c, 14), 100)
    assert_close(feed(ind.RsiState(), c), talib.RSI(c), 100)
    upper = ind.bollinger(c)[0]
    assert_close(upper, ref_bollinger(c, 20, 2.0)[0], 2e-5)
    assert (upper[19:] > ind.sma(c, 20)[19:]).all()  # no absolute epsilon collapses the bands


def vwap_both(high, low, close, volume, open_ms):
    batch = ind.vwap(high, low, close, volume, open_ms)
    incremental = feed(ind.VwapState(), high, low, close, volume, open_ms)
    assert np.array_equal(batch, incremental, equal_nan=True)
    return batch


def test_vwap_zero_volume_and_session_reset():
    t0 = 1_700_006_400_000  # a UTC midnight
    open_ms = np.array([t0 + i * 3_600_000 for i in range(5)] + [t0 + DAY_MS, t0 + DAY_MS + 60_000, t0 + 2 * DAY_MS])
    close = np.array([10.0, 11, 12, 13, 14, 20, 21, 30])
    volume = np.array([0.0, 0, 2, 0, 1, 3, 1, 0])
    result = vwap_both(close + 1, close - 1, close, volume, open_ms)
    assert np.isnan(result[:2]).all()  # nothing traded yet today: undefined, not a made-up price
    assert result[2] == 12 and result[3] == 12  # a zero-volume bar leaves it where it was
    assert result[4] == pytest.approx((12 * 2 + 14) / 3)
    assert result[5] == 20 and result[6] == pytest.approx((20 * 3 + 21) / 4)  # new UTC day
    assert np.isnan(result[7])  # a day with no volume at all
    assert_close(result, ref_vwap(Candles(close + 1, close - 1, close, volume, open_ms)), 30)
    real = load("dmplot_KUCOIN-BTC-USDT_1h.csv")  # two flat zero-volume candles at 04:00 and 05:00
    quiet = np.flatnonzero(real.volume == 0)
    result = vwap_both(real.high, real.low, real.close, real.volume, real.open_ms)
    assert quiet.size == 2 and (result[quiet] == result[quiet - 1]).all()


def test_vwap_uneven_sessions_take_the_per_session_path():
    open_ms = np.r_[np.arange(3000) * DAY_MS, 3000 * DAY_MS + np.arange(3000) * 1000]
    c = walk(6000)
    volume = np.random.default_rng(3).uniform(0, 5, 6000)
    result = vwap_both(c * 1.001, c * 0.999, c, volume, open_ms)
    assert_close(result, ref_vwap(Candles(c * 1.001, c * 0.999, c, volume, open_ms)), c.max())


@pytest.mark.parametrize("at", [0, 1, 30, 49])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(bad, at):
    c = walk(50)
    poisoned = c.copy()
    poisoned[at] = bad
    calls = [lambda: ind.sma(poisoned, 5), lambda: ind.ema(poisoned, 5), lambda: ind.rsi(poisoned),
             lambda: ind.macd(poisoned), lambda: ind.bollinger(poisoned), lambda: ind.atr(c + 1, c - 1, poisoned),
             lambda: ind.atr(poisoned, c - 1, c), lambda: ind.atr(c + 1, poisoned, c),
             lambda: ind.atr(poisoned, c - 1, c, 1), lambda: ind.atr(c + 1, poisoned, c, 60),
             lambda: ind.vwap(c, c, c, poisoned, np.arange(50))]
    for call in calls:
        with pytest.raises(ValueError, match="NaN"):
            call()
    state, clean = ind.RsiState(5), ind.RsiState(5)
    for x in c[:10]:
        state.update(x), clean.update(x)
    with pytest.raises(ValueError, match="finite"):
        state.update(bad)
    assert [state.update(x) for x in c[10:]] == [clean.update(x) for x in c[10:]]  # untouched by the refusal


REFUSED = {  # name: (call with 50 closes and 50 open times, error, message)
    "macd-fast-after-slow": (lambda c, t: ind.macd(c, fast=26, slow=12), ValueError, "shorter than slow"),
    "macd-state-equal": (lambda c, t: ind.MacdState(12, 12), ValueError, "shorter than slow"),
    "bool-period": (lambda c, t: ind.sma(c, True), TypeError, "int"),
    "float-period": (lambda c, t: ind.EmaState(2.5), TypeError, "int"),  # type: ignore[arg-type]
    "period-too-long": (lambda c, t: ind.sma(c, 100_001), ValueError, "100000"),
    "lengths-differ": (lambda c, t: ind.atr(c, c[:-1], c), ValueError, "differ in length"),
    "two-dimensional": (lambda c, t: ind.sma(c.reshape(5, 10), 3), ValueError, "one-dimensional"),
    "negative-k": (lambda c, t: ind.bollinger(c, 20, -1.0), ValueError, "k must be"),
    "negative-volume": (lambda c, t: ind.vwap(c, c, c, -c, t), ValueError, "volume must be >= 0"),
    "time-backwards": (lambda c, t: ind.vwap(c, c, c, c, t[::-1].copy()), ValueError, "non-decreasing"),
    "float-times": (lambda c, t: ind.vwap(c, c, c, c, t.astype(float)), ValueError, "integer"),
    "state-time-backwards": (lambda c, t: (lambda state: [state.update(1, 1, 1, 1, ms) for ms in (1000, 999)])(
        ind.VwapState()), ValueError, "open-time order"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_arguments_are_refused(case):
    call, error, message = REFUSED[case]
    with pytest.raises(error, match=message):
        call(walk(50), np.arange(50))
