"""The screen's inputs against the rules' own computations, bar by bar on real candles.

Windowed EMA/RSI/ATR/SMA must equal the batch indicators (TA-Lib) computed over each
bar's own sliding window, within the error bound they report; the data-gate mask must
equal ``data_checks.check_window`` exactly; the session mask must contain every bar the
session rule passes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shared.domain.candles import CandleSeries, from_ms, to_ms
from shared.domain.data_checks import check_window
from shared.domain.indicators import atr, ema, rsi, sma
from shared.domain.rules.seven import _in_hours
from shared.domain.simulation import windowed
from shared.domain.simulation.screening import _session_possible, tick_window, window_ok
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WINDOW = 300


@pytest.fixture(scope="module", params=["dmplot_KUCOIN-BTC-USDT_1h.csv", "freqtrade_ETH-BTC_5m.csv"])
def candles(request: pytest.FixtureRequest) -> CandleSeries:
    return CandleSeries.from_csv(DATA / request.param)


def sample_bars(size: int) -> list[int]:
    """Every bar of the first 700 (windows still growing, then sliding), then every 7th."""
    return list(range(min(size, 700))) + list(range(700, size, 7))


def check(name: str, got: windowed.Windowed, reference: np.ndarray, t: int) -> None:
    for which, value, err, ref in (("last", got.last[t], got.last_err[t], reference[-1]),
                                   ("prev", got.prev[t], got.prev_err[t],
                                    reference[-2] if reference.size > 1 else np.nan)):
        assert np.isnan(value) == np.isnan(ref), f"{name} {which} at {t}: {value} vs {ref}"
        if not np.isnan(ref):
            assert abs(value - ref) <= err, f"{name} {which} at {t}: {value} vs {ref}, bound {err}"
            assert abs(value - ref) <= 1e-12 * max(abs(ref), 1e-12) + 1e-12, f"{name} {which} at {t}"


@pytest.mark.parametrize("n", [2, 14, 50, 200])
def test_windowed_ema_rsi_atr_equal_talib_over_each_window(candles: CandleSeries, n: int):
    c, h, lo = candles.close, candles.high, candles.low
    e, r, a = windowed.ema(c, n, WINDOW), windowed.rsi(c, n, WINDOW), windowed.atr(h, lo, c, n, WINDOW)
    for t in sample_bars(len(candles)):
        s = max(0, t - WINDOW + 1)
        wc, wh, wl = c[s : t + 1], h[s : t + 1], lo[s : t + 1]
        check("ema", e, ema(wc, n), t)
        check("rsi", r, rsi(wc, n), t)
        check("atr", a, atr(wh, wl, wc, n), t)


def test_windowed_sma_equals_talib_over_each_window(candles: CandleSeries):
    c = candles.close
    got = windowed.sma(c, 30)
    for t in sample_bars(len(candles)):
        check("sma", got, sma(c[max(0, t - WINDOW + 1) : t + 1], 30), t)


def test_rsi_of_flat_prices_is_kept_undetermined_not_guessed():
    """A window of flat closes: TA-Lib's RSI is 0, while the reconstruction is left with the
    tiny residue of the rise before the window, so its bound must cover the answer."""
    close = np.concatenate((np.linspace(100, 120, 400), np.full(400, 120.0)))
    got = windowed.rsi(close, 14, WINDOW)
    assert rsi(close[-WINDOW:], 14)[-1] == 0.0
    assert abs(got.last[-1] - 0.0) <= got.last_err[-1]


@pytest.mark.parametrize("lookback", [1, 2, 7, 100])
def test_rolling_extremes_of_the_bars_before(lookback: int):
    values = np.random.default_rng(lookback).normal(size=1003)
    high, low = windowed.rolling_max_before(values, lookback), windowed.rolling_min_before(values, lookback)
    assert np.isnan(high[:lookback]).all() and np.isnan(low[:lookback]).all()
    for t in range(lookback, values.size):
        assert high[t] == values[t - lookback : t].max()
        assert low[t] == values[t - lookback : t].min()


def test_free_filter_refuses_a_gain_that_is_not_an_ema_period():
    with pytest.raises(ValueError, match="integer period"):
        windowed.free_filter(np.ones(5), 0.3)


@pytest.mark.parametrize(("file", "interval_ms"), [("freqtrade_UNITTEST-BTC_1m.csv", 60_000),
                                                    ("dmplot_KUCOIN-BTC-USDT_1h.csv", 3_600_000),
                                                    ("freqtrade_XRP-ETH_1m.csv", 60_000)])
def test_window_mask_equals_the_data_gate_on_gappy_files(file: str, interval_ms: int):
    candles = CandleSeries.from_csv(DATA / file)
    window = tick_window(SmaCrossParams(), WINDOW)
    ok = window_ok(candles, interval_ms, window)
    assert not ok.all()  # each of these files has gaps
    for t in range(len(candles)):
        w = candles[max(0, t - window + 1) : t + 1]
        now = from_ms(int(candles.open_time[t]) + interval_ms)
        assert ok[t] == (check_window(w, interval_ms // 1000, now) is None), t


def test_window_mask_catches_every_kind_of_bad_candle():
    t = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 60_000 * np.arange(40)
    base = np.linspace(100, 110, 40)
    for bad in ("nan", "ohlc", "volume", "misaligned", "duplicate", "backwards"):
        times, close, high, volume = t.copy(), base.copy(), base + 1, np.ones(40)
        if bad == "nan":
            close[20] = np.nan
        elif bad == "ohlc":
            high[20] = close[20] - 1
        elif bad == "volume":
            volume[20] = -1
        elif bad == "misaligned":
            times[20:] += 1
        elif bad == "duplicate":
            times[20] = times[19]
        else:
            times[20], times[21] = times[21], times[20]
        series = CandleSeries.from_arrays(times, close, high, base - 1, close, volume)
        ok = window_ok(series, 60_000, 10)
        for i in range(40):
            now = from_ms(int(series.open_time[i]) + 60_000)
            expected = check_window(series[max(0, i - 9) : i + 1], 60, now) is None
            assert ok[i] == expected, (bad, i)
        assert not ok[20], bad


@pytest.mark.parametrize("sessions", [[(0, 24)], [(7, 20)], [(22, 6)], [(9, 10), (13, 17)]])
def test_session_mask_contains_every_bar_the_rule_passes(sessions: list[tuple[int, int]]):
    params = SevenRuleParams(session_hours_utc=sessions, session_weekdays=[0, 2, 4, 6])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    close_times = [start + timedelta(minutes=5 * i) for i in range(2 * 7 * 288)]
    mask = _session_possible(np.array([to_ms(x) for x in close_times], dtype=np.int64), params)
    for when, possible in zip(close_times, mask, strict=True):
        hour = when.hour + when.minute / 60 + when.second / 3600
        passes = when.weekday() in params.session_weekdays and _in_hours(hour, params)
        if passes:
            assert possible, when
        elif possible:  # the margin only adds bars closing exactly on a session's end
            assert when.minute == 0 and when.hour in [end % 24 for _, end in sessions], when
