"""Indicator engine: SMA, EMA, RSI, MACD, ATR, Bollinger bands and session VWAP.

Two forms with the same values:

- **batch** (:mod:`.batch`, :func:`.vwap.vwap`): whole float64 columns in, arrays of the
  same length out, NaN over the lookback. For backtests, the simulator and warm-ups.
- **incremental** (:mod:`.incremental`, :class:`.vwap.VwapState`): a small state object
  per indicator, ``update(...)`` once per candle, NaN until warmed up. For the live tick.
  After the same candles it returns the batch value at that index (tested to 1e-9
  relative on every bar of the real files; in practice within a few ulps).

Conventions are TA-Lib's: lookback NaNs where TA-Lib has them, SMA-seeded EMA with
k = 2/(n+1), Wilder smoothing seeded by a plain average for RSI and ATR (ATR's first bar
has no true range), MACD's fast EMA seeded on the slow EMA's seed bar (first value at
index 33 for 12/26/9), Bollinger with the population std. The RSI and BBANDS of the
TA-Lib 0.8.x in use no longer apply the old absolute 1e-8 "is zero" threshold, so tiny
prices (alt/BTC pairs, 1e-5 quotes) get real values (tested); flat prices give RSI 0, as
TA-Lib does. Two deliberate
differences, both refusals rather than other values: MACD with ``fast >= slow`` (TA-Lib
silently swaps or flattens) and non-finite inputs (TA-Lib lets one NaN poison the rest).
VWAP is not in TA-Lib; it is the session VWAP of :mod:`.vwap` (resets at 00:00 UTC).

Implementation decision (measured with ``bench/indicators.py --alternatives``: 1M-bar
random walk, 2-core Xeon, best of 9; target <= 1.5x TA-Lib per indicator):

================  =========  ==========================  ===============================
indicator         TA-Lib ms  ours (TA-Lib + checks) ms   numpy-only design (rejected)
================  =========  ==========================  ===============================
SMA(20)           1.1        1.5 (1.3x)                  prefix sums: 4.7 ms (4.1x)
EMA(20)           2.0        2.3 (1.2x)                  blockwise closed-form scan:
                                                         7.3 ms (3.7x)
RSI(14)           2.9        3.2 (1.1x)                  two such scans, first draft: 16x
MACD(12,26,9)     2.3        2.7 (1.2x)                  three EMA scans: not built
ATR(14)           1.2        1.6 (1.3x)                  a Wilder scan: not built
Bollinger(20,2)   4.0        4.4 (1.1x)                  not built
VWAP (session)    --         16 (1m bars, 694 days)      this one is numpy
================  =========  ==========================  ===============================

The "checks" are the refusal of NaN/inf inputs: one numpy sum per input column, ~0.3 ms
per 1M values (see ``_checks.column``). ``ta`` (pandas) takes 9-52 ms for the same
indicators, and 3.2 s for ATR (a Python loop).

Why not numpy alone: a numpy pass over 1M float64 costs ~0.5 ms, and ``np.cumsum``, the
only vectorised running sum, costs 2.4 ms by itself (it is latency-bound): more than
TA-Lib's whole SMA (1.1 ms) or EMA (2.0 ms). Recursive filters (EMA, Wilder) need a
closed-form block scan of 6-8 passes, so MACD, ATR and RSI could not beat EMA's 3.7x.
Why not numba: its kernels ran at 1.0x (SMA), 1.1x (EMA) and 2.3x (RSI, untuned), but it
adds ~210 MB (llvmlite + numba) to the Function App, and 0.2 s of import plus ~0.2 s of
JIT per kernel to every cold start unless an on-disk cache is arranged.
So the batch functions call TA-Lib's C kernels (the ``TA-Lib`` wheel bundles the C
library: no build step), and TA-Lib stops being the test oracle for them: the tests hold
them to a pandas/numpy reference written from the definitions, to the ``ta`` library where
its definitions match, and to the incremental states. Those are our own pure-Python code
(0.15-2.7 us per update) and are checked against TA-Lib itself, value by value.

Pure computation: no I/O, no clock, nothing from Azure.
"""

from __future__ import annotations

from .batch import atr, bollinger, ema, macd, rsi, sma
from .incremental import AtrState, Bands, BollingerState, EmaState, MacdState, MacdValue, RsiState, SmaState
from .vwap import VwapState, vwap

__all__ = [
    "AtrState", "Bands", "BollingerState", "EmaState", "MacdState", "MacdValue", "RsiState", "SmaState",
    "VwapState", "atr", "bollinger", "ema", "macd", "rsi", "sma", "vwap",
]
