"""Incremental indicators: one small state object per indicator, fed one candle at a time.

Why: the live tick gets one new candle a minute; recomputing a whole array for it wastes
work and, worse, lets the live value drift from the backtest value if the two were coded
differently. Each state here does TA-Lib's arithmetic in TA-Lib's order (same seed, same
sums, same ``(x - prev) * k + prev`` form), so after the same candles it returns what the
batch function returns at that index, within a few ulps. ``update`` returns NaN while the
state is still inside its lookback, exactly where the batch output is NaN.

They are pure Python on purpose: one update is a handful of float operations (about a
microsecond), and the states are also the independent reference the tests hold the
TA-Lib-backed batch functions to.

A state is fed the candles in order, once each; to warm one up from history, feed the
history. Refused inputs (NaN, inf, bad periods) raise ``ValueError`` and leave the state
as it was.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from ._checks import band_width, finite, macd_periods, period

NAN = math.nan


class SmaState:
    """Running SMA; the running sum is added to and subtracted from like TA-Lib's."""

    def __init__(self, n: int) -> None:
        self.n = period("n", n, 1)
        self._window: deque[float] = deque(maxlen=self.n)
        self._total = 0.0

    def update(self, close: float) -> float:
        close = finite("close", close)
        self._window.append(close)  # evicts the value subtracted at the previous step
        self._total += close
        if len(self._window) < self.n:
            return NAN
        value = self._total / self.n
        self._total -= self._window[0]
        return value


class EmaState:
    """EMA with k = 2 / (n + 1), seeded with the plain average of the first ``n`` inputs."""

    def __init__(self, n: int) -> None:
        self.n = period("n", n, 1)
        self.k = 2.0 / (self.n + 1)
        self._count = 0
        self._value = 0.0  # the running seed sum until warm, then the EMA

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, close: float) -> float:
        close = finite("close", close)
        self._count += 1
        if self._count < self.n:
            self._value += close
            return NAN
        if self._count == self.n:
            self._value = (self._value + close) / self.n
        else:
            self._value = (close - self._value) * self.k + self._value
        return self._value


class RsiState:
    """Wilder's RSI (see :func:`shared.domain.indicators.batch.rsi`)."""

    def __init__(self, n: int = 14) -> None:
        self.n = period("n", n, 2)
        self._previous = NAN
        self._changes = 0
        self._gain = 0.0
        self._loss = 0.0

    def update(self, close: float) -> float:
        close = finite("close", close)
        previous, self._previous = self._previous, close
        if math.isnan(previous):  # the first close only sets the reference
            return NAN
        change = close - previous
        self._changes += 1
        n = self.n
        if self._changes <= n:  # seed: plain sums, averaged once n changes are in
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            if self._changes < n:
                return NAN
            self._loss /= n
            self._gain /= n
        else:
            self._loss *= n - 1
            self._gain *= n - 1
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            self._loss /= n
            self._gain /= n
        total = self._gain + self._loss
        return 100.0 * (self._gain / total) if total != 0.0 else 0.0


class AtrState:
    """Wilder's ATR (see :func:`shared.domain.indicators.batch.atr`)."""

    def __init__(self, n: int = 14) -> None:
        self.n = period("n", n, 1)
        self._previous_close = NAN
        self._ranges = 0
        self._value = 0.0  # the seed sum of true ranges until warm, then the ATR

    def update(self, high: float, low: float, close: float) -> float:
        high, low, close = finite("high", high), finite("low", low), finite("close", close)
        previous, self._previous_close = self._previous_close, close
        if math.isnan(previous):  # the first bar has no true range
            return NAN
        true_range = max(high - low, abs(previous - high), abs(previous - low))
        self._ranges += 1
        n = self.n
        if n == 1:
            return true_range
        if self._ranges < n:
            self._value += true_range
            return NAN
        if self._ranges == n:
            self._value = (self._value + true_range) / n
        else:
            self._value = (self._value * (n - 1) + true_range) / n
        return self._value


class MacdValue(NamedTuple):
    macd: float
    signal: float
    hist: float


class MacdState:
    """MACD with TA-Lib's alignment (see :func:`shared.domain.indicators.batch.macd`).

    The fast EMA is fed from bar ``slow - fast`` on, so its ``fast``-bar SMA seed ends on
    the bar where the slow EMA's seed ends; the signal EMA is fed the MACD line from there.
    ``update`` returns all three values (NaN for each until the signal line is warm).
    """

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast, self.slow, self.signal = macd_periods(fast, slow, signal)
        self._fast = EmaState(self.fast)
        self._slow = EmaState(self.slow)
        self._signal = EmaState(self.signal)
        self._count = 0

    def update(self, close: float) -> MacdValue:
        close = finite("close", close)
        self._count += 1
        slow_value = self._slow.update(close)
        if self._count <= self.slow - self.fast:
            return MacdValue(NAN, NAN, NAN)
        fast_value = self._fast.update(close)
        if not self._slow.ready:
            return MacdValue(NAN, NAN, NAN)
        line = fast_value - slow_value
        signal_value = self._signal.update(line)
        if not self._signal.ready:
            return MacdValue(NAN, NAN, NAN)
        return MacdValue(line, signal_value, line - signal_value)


class Bands(NamedTuple):
    upper: float
    middle: float
    lower: float


class BollingerState:
    """Bollinger bands: the SMA as in :class:`SmaState`, population std by two passes over
    the window (no running sum of squares, so no cancellation however long it runs)."""

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        self.n = period("n", n, 2)
        self.k = band_width(k)
        self._middle = SmaState(self.n)
        self._window: deque[float] = deque(maxlen=self.n)

    def update(self, close: float) -> Bands:
        close = finite("close", close)
        middle = self._middle.update(close)
        self._window.append(close)
        if math.isnan(middle):
            return Bands(NAN, NAN, NAN)
        variance = math.fsum((value - middle) ** 2 for value in self._window) / self.n
        width = self.k * math.sqrt(variance)
        return Bands(middle + width, middle, middle - width)
