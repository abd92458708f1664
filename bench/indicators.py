"""Indicator speed: ours next to TA-Lib and ``ta`` on a long synthetic series.

    .venv/bin/python bench/indicators.py [--bars 1000000] [--repeat 5] [--skip-ta]

Prints, per indicator, the best-of-N wall time of our batch function, of the TA-Lib call
it wraps, and of the ``ta`` library (pandas), the ratios ours/TA-Lib and ours/ta, and the
cost of one incremental ``update``. The series is a random walk with a fixed seed (1m
bars, so VWAP sees ~694 UTC sessions per 1M bars); the largest real file in
shared/data is 45,031 bars, about 1/22 of the default.

``ta``'s VWAP is a 14-bar rolling average, not our session VWAP: its time is shown for
scale only. ``--alternatives`` also times the numpy-only designs that were measured and
rejected (see the package docstring), so the decision can be re-checked.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import talib

from shared.domain import indicators as ind

FloatArray = npt.NDArray[np.float64]
REAL_BARS = 45_031  # nautilus_FTX-BTC-PERP_1m.csv, the largest file in shared/data


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def synthetic(bars: int) -> dict[str, FloatArray]:
    rng = np.random.default_rng(20240601)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, bars)))
    spread = np.abs(rng.normal(0.0, 5e-4, (2, bars)))
    return {"high": close * (1 + spread[0]), "low": close * (1 - spread[1]), "close": close,
            "volume": rng.lognormal(3.0, 1.0, bars),
            "open_ms": (1_700_006_400_000 + 60_000 * np.arange(bars)).astype(np.float64)}


def ema_scan(x: FloatArray, n: int) -> FloatArray:
    """Rejected numpy-only EMA: y = d*y + b solved blockwise in closed form (cumsum of
    b * d^-t, times d^t), blocks short enough that d^-t cannot overflow."""
    k, d = 2.0 / (n + 1), 1.0 - 2.0 / (n + 1)
    out = np.full(x.size, np.nan)
    seed, b = x[:n].mean(), k * x[n:]
    size = min(b.size, max(1, int(600 / np.log(1 / d))))
    blocks = -(-b.size // size)
    table = np.zeros(blocks * size)
    table[:b.size] = b
    rows = table.reshape(blocks, size)
    decay = d ** np.arange(size, dtype=np.float64)
    rows /= decay
    np.cumsum(rows, axis=1, out=rows)
    rows *= decay
    carry, value = np.empty(blocks), seed
    for i, end in enumerate(rows[:, -1].tolist()):
        carry[i], value = value, end + d**size * value
    rows += carry[:, None] * (d * decay)
    out[n - 1], out[n:] = seed, table[:b.size]
    return out


def sma_cumsum(x: FloatArray, n: int) -> FloatArray:
    """Rejected numpy-only SMA: a difference of prefix sums."""
    total = np.cumsum(x)
    out = np.full(x.size, np.nan)
    out[n - 1] = total[n - 1]
    out[n:] = total[n:] - total[:-n]
    out[n - 1:] /= n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-ta", action="store_true", help="skip the (slow) ta library")
    parser.add_argument("--alternatives", action="store_true", help="also time the rejected numpy-only designs")
    args = parser.parse_args()
    d = synthetic(args.bars)
    h, lo, c, v = d["high"], d["low"], d["close"], d["volume"]
    t = d["open_ms"].astype(np.int64)

    import pandas as pd
    import ta

    hs, ls, cs, vs = (pd.Series(a) for a in (h, lo, c, v))
    updates = min(args.bars, 100_000)
    closes, candles = c[:updates].tolist(), list(zip(h[:updates].tolist(), lo[:updates].tolist(),
                                                      c[:updates].tolist(), v[:updates].tolist(), t[:updates].tolist(),
                                                      strict=True))

    def closes_into(make) -> Callable[[], None]:
        def run() -> None:
            update = make().update
            for x in closes:
                update(x)
        return run

    def atr_feed() -> None:
        state = ind.AtrState()
        for high, low, close, _, _ in candles:
            state.update(high, low, close)

    def vwap_feed() -> None:
        state = ind.VwapState()
        for candle in candles:
            state.update(*candle)

    rows: list[tuple[str, Callable[[], object], Callable[[], object] | None, Callable[[], object],
                     Callable[[], object]]] = [
        ("SMA(20)", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20),
         lambda: ta.trend.SMAIndicator(cs, 20).sma_indicator(), closes_into(lambda: ind.SmaState(20))),
        ("EMA(20)", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20),
         lambda: ta.trend.EMAIndicator(cs, 20).ema_indicator(), closes_into(lambda: ind.EmaState(20))),
        ("RSI(14)", lambda: ind.rsi(c), lambda: talib.RSI(c), lambda: ta.momentum.RSIIndicator(cs).rsi(),
         closes_into(ind.RsiState)),
        ("MACD(12,26,9)", lambda: ind.macd(c), lambda: talib.MACD(c), lambda: ta.trend.MACD(cs).macd_diff(),
         closes_into(ind.MacdState)),
        ("ATR(14)", lambda: ind.atr(h, lo, c), lambda: talib.ATR(h, lo, c),
         lambda: ta.volatility.AverageTrueRange(hs, ls, cs).average_true_range(), atr_feed),
        ("Bollinger(20,2)", lambda: ind.bollinger(c), lambda: talib.BBANDS(c, 20, 2.0, 2.0),
         lambda: ta.volatility.BollingerBands(cs).bollinger_hband(), closes_into(ind.BollingerState)),
        ("VWAP(session)", lambda: ind.vwap(h, lo, c, v, t), None,
         lambda: ta.volume.VolumeWeightedAveragePrice(hs, ls, cs, vs).volume_weighted_average_price(), vwap_feed),
    ]
    print(f"{args.bars:,} bars (random walk, fixed seed); largest real file: {REAL_BARS:,} bars; "
          f"best of {args.repeat}; incremental: {updates:,} updates\n")
    print(f"{'indicator':<16}{'ours ms':>9}{'TA-Lib ms':>11}{'ta ms':>10}{'ours/TA-Lib':>13}{'ours/ta':>9}"
          f"{'incr. us/upd':>14}")
    for name, ours, peer, ta_call, incremental in rows:
        ours_ms = best_ms(ours, args.repeat)
        talib_ms = best_ms(peer, args.repeat) if peer else float("nan")
        ta_ms = float("nan") if args.skip_ta else best_ms(ta_call, 1 if name.startswith("ATR") else 2)
        update_us = best_ms(incremental, 1) / updates * 1e3
        print(f"{name:<16}{ours_ms:>9.2f}{talib_ms:>11.2f}{ta_ms:>10.1f}{ours_ms / talib_ms:>13.2f}"
              f"{ours_ms / ta_ms:>9.2g}{update_us:>14.2f}")
    if args.alternatives:
        print("\nrejected numpy-only designs (same values, see the package docstring):")
        for name, fn, peer_fn in [("SMA(20) cumsum", lambda: sma_cumsum(c, 20), lambda: talib.SMA(c, 20)),
                                  ("EMA(20) block scan", lambda: ema_scan(c, 20), lambda: talib.EMA(c, 20))]:
            mine, theirs = best_ms(fn, args.repeat), best_ms(peer_fn, args.repeat)
            print(f"{name:<20}{mine:>9.2f} ms  vs TA-Lib {theirs:.2f} ms  = {mine / theirs:.2f}x")


if __name__ == "__main__":
    main()
