"""Batch indicators over whole candle columns: TA-Lib's C kernels behind checked arguments.

Why TA-Lib here and not numpy: see the package docstring (measured: numpy-only designs
were 3.7x to 16x TA-Lib's time, and TA-Lib's time is the target). These wrappers add
what TA-Lib does not do: the same parameter ranges as the incremental states, refusal of
NaN/inf inputs, and equal-length checks. The values are TA-Lib's, so its conventions hold
by construction; ``tests/unit/test_indicators.py`` checks every value against ``ta``, a
pandas reference written from the definitions, and the pure-Python incremental states.

Every function returns arrays as long as its input, NaN over the lookback (the first
index with a value is given per function), all NaN when the input is shorter than that.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy.typing as npt
import talib

from ._checks import FloatArray, band_width, column, macd_periods, period, same_length


def _kernel(name: str) -> Callable[..., Any]:
    """TA-Lib's compiled function without the pandas/polars dispatch TA-Lib wraps around it
    when those libraries are installed (``functools.wraps`` keeps the original as
    ``__wrapped__``). The dispatch only converts Series; :func:`column` has already made
    an ndarray, and the wrapper costs ~1 us per call, as much as SMA over 300 closes."""
    public = getattr(talib, name)
    kernel: Callable[..., Any] = getattr(public, "__wrapped__", public)
    return kernel


_SMA, _EMA, _RSI, _ATR, _MACD, _BBANDS = (_kernel(n) for n in ("SMA", "EMA", "RSI", "ATR", "MACD", "BBANDS"))


def sma(close: npt.ArrayLike, n: int, *, scan: bool = True) -> FloatArray:
    """Simple moving average of the last ``n`` closes; first value at index ``n - 1``.

    ``scan=False`` skips the NaN/inf refusal, for a caller that has proven the input
    finite (the rules, after the data gate); the values are the same either way."""
    result: FloatArray = _SMA(column("close", close, scan=scan), timeperiod=period("n", n, 1))
    return result


def ema(close: npt.ArrayLike, n: int, *, scan: bool = True) -> FloatArray:
    """Exponential moving average, k = 2 / (n + 1), seeded with the SMA of the first ``n``.

    First value at index ``n - 1`` (the seed itself). ``n = 1`` returns the closes.
    ``scan``: as for :func:`sma`.
    """
    result: FloatArray = _EMA(column("close", close, scan=scan), timeperiod=period("n", n, 1))
    return result


def rsi(close: npt.ArrayLike, n: int = 14, *, scan: bool = True) -> FloatArray:
    """Wilder's RSI: gains and losses averaged over the first ``n`` changes, then smoothed
    as ``avg = (avg * (n - 1) + change) / n``; ``100 * gain / (gain + loss)``.

    First value at index ``n`` (``n`` changes need ``n + 1`` closes). Flat prices (gain and
    loss both zero) give 0, TA-Lib's value. ``n`` is 2..100000. ``scan``: as for :func:`sma`.
    """
    result: FloatArray = _RSI(column("close", close, scan=scan), timeperiod=period("n", n, 2))
    return result


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram, aligned the TA-Lib way.

    The slow EMA is seeded with the SMA of closes ``0..slow-1``; the fast EMA is seeded
    at the same bar (``slow - 1``) with the SMA of the ``fast`` closes ending there, so
    both EMAs start together rather than the fast one running ``slow - fast`` bars
    earlier. The signal is an SMA-seeded EMA of the MACD line. All three outputs start at
    index ``slow + signal - 2`` (33 for 12/26/9); the MACD line is NaN before that too.
    """
    fast, slow, signal = macd_periods(fast, slow, signal)
    result: tuple[FloatArray, FloatArray, FloatArray] = _MACD(column("close", close), fastperiod=fast,
                                                               slowperiod=slow, signalperiod=signal)
    return result


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14, *,
        scan: bool = True) -> FloatArray:
    """Wilder's average true range.

    The first bar has no previous close, so it has no true range (TA-Lib's rule; it is
    not ``high - low``): true ranges start at index 1, the first ATR is their simple
    average over bars ``1..n`` at index ``n``, then ``atr = (atr * (n - 1) + tr) / n``.
    ``n = 1`` returns the true range itself (from index 1). ``scan``: as for :func:`sma`.
    """
    n = period("n", n, 1)
    # The close is scanned: TA-Lib's true range compares the previous close with ``>``, so a
    # NaN there would just lose the comparison. A NaN or inf high or low makes that bar's
    # true range NaN or inf, and the recursion carries it to the last ATR, so for them one
    # look at the result (and at bar 0, which TA-Lib does not use) replaces two full scans
    # (0.55 ms next to TA-Lib's 1.2). Without a recursion (n = 1) or a last value, they are scanned.
    h, lo, c = column("high", high, scan=False), column("low", low, scan=False), column("close", close, scan=scan)
    if not h.size == lo.size == c.size:
        same_length(high=h, low=lo, close=c)  # raises, naming the lengths
    result: FloatArray = _ATR(h, lo, c, timeperiod=n)
    if scan and (n == 1 or h.size <= n or not math.isfinite(result[-1] + h[0] + lo[0])):
        column("high", h)
        column("low", lo)
    return result


def bollinger(close: npt.ArrayLike, n: int = 20,
              k: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands ``(upper, middle, lower)``: SMA(n) +- k * population std of the
    same ``n`` closes (divide by ``n``, not ``n - 1``). First value at index ``n - 1``.
    """
    k = band_width(k)
    result: tuple[FloatArray, FloatArray, FloatArray] = _BBANDS(column("close", close), timeperiod=period("n", n, 2),
                                                                 nbdevup=k, nbdevdn=k)
    return result
