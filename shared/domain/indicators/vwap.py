"""Session VWAP: the volume-weighted average typical price since the start of the UTC day.

Definition (TA-Lib has no VWAP, so this one is ours, and it is the usual trading one):

    typical_i = (high_i + low_i + close_i) / 3
    vwap_i    = sum(typical_j * volume_j) / sum(volume_j)   over bars j <= i of i's session

A session is a UTC calendar day of the bar's **open** time (``open_time_ms // 86_400_000``),
so the first bar of each day starts the sums afresh. This is session VWAP as charting
platforms show it for crypto (24/7, sessions at 00:00 UTC). It is not ``ta``'s
``VolumeWeightedAveragePrice``, which is a rolling sum over the last 14 bars with no reset.

While a session has traded no volume yet (its bars so far all have volume 0) the average
is undefined and the value is NaN: no fake price is made up for a rule to act on. A
zero-volume bar later in a session leaves the VWAP where it was.

The sums restart exactly at each session rather than being "one cumulative sum over the
whole series minus its value at the session start": that subtraction loses digits in
proportion to everything summed before, worst on a quiet first bar late in a long
series. They are added in the same order as :class:`VwapState` adds them, so the batch
and incremental forms agree to the last bit.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt

from ._checks import FloatArray, column, finite, same_length

DAY_MS = 86_400_000

IntArray = npt.NDArray[np.int64]


def _session_cumsums(starts: IntArray, *columns: FloatArray) -> list[FloatArray]:
    """Running sums of each column that restart at every session start, in plain left-to-right
    order (numpy's add.accumulate is sequential), so they match :class:`VwapState` bit for bit.

    Long sessions (1m and 5m bars) are summed with one call per session; many
    short ones (hourly, daily bars) go through a padded table with one row per session,
    where a Python loop would cost more than the arithmetic. Wildly uneven sessions (one
    long day among many one-bar days) would make that table huge, so they take the loop.
    """
    size = columns[0].size
    bounds = np.append(starts, size)
    lengths = np.diff(bounds)
    sessions, longest = starts.size, int(lengths.max())
    if longest == 1:  # daily bars: every session is one bar, its running sum is the bar itself
        return [values.copy() for values in columns]
    if sessions * 128 <= size or sessions * longest > 4 * size + 4096:
        results = [np.empty_like(values) for values in columns]
        for first, end in itertools.pairwise(bounds.tolist()):
            for values, result in zip(columns, results, strict=True):
                np.add.accumulate(values[first:end], out=result[first:end])
        return results
    # Bar i sits in row s (its session) at column i - starts[s] of a (sessions, longest) table.
    cell = np.arange(size) + np.repeat(np.arange(sessions) * longest - starts, lengths)
    results = []
    for values in columns:
        table = np.zeros(sessions * longest)
        table[cell] = values
        rows = table.reshape(sessions, longest)
        np.add.accumulate(rows, axis=1, out=rows)
        results.append(table[cell])
    return results


def vwap(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike,
         open_time_ms: npt.ArrayLike) -> FloatArray:
    """Session VWAP for every bar (see the module docstring).

    ``open_time_ms`` is each bar's open time in epoch milliseconds (UTC), non-decreasing.
    Volumes must be >= 0. There is no lookback: a value exists from the first bar with
    volume in each session.
    """
    h, lo, c, v = column("high", high), column("low", low), column("close", close), column("volume", volume)
    times = np.ascontiguousarray(open_time_ms)
    if times.ndim != 1 or not np.issubdtype(times.dtype, np.integer):
        raise ValueError("open_time_ms must be a one-dimensional integer array (epoch milliseconds)")
    size = same_length(high=h, low=lo, close=c, volume=v, open_time_ms=times)
    if size == 0:
        return np.empty(0)
    if float(v.min()) < 0.0:
        raise ValueError("volume must be >= 0")
    times = times.astype(np.int64, copy=False)
    if bool((times[1:] < times[:-1]).any()):
        raise ValueError("open_time_ms must be non-decreasing")
    day = times // DAY_MS
    starts = np.concatenate(([0], np.flatnonzero(day[1:] != day[:-1]) + 1))
    price_volume = h + lo  # in place from here on: at 1M bars every temporary costs ~1 ms
    price_volume += c
    price_volume /= 3.0
    price_volume *= v
    result, volume_sum = _session_cumsums(starts, price_volume, v)
    with np.errstate(invalid="ignore"):  # no volume yet: the sums are 0 and 0, and 0/0 is NaN
        np.divide(result, volume_sum, out=result)
    return result


class VwapState:
    """Incremental session VWAP: two running sums, reset when the UTC day changes."""

    def __init__(self) -> None:
        self._day: int | None = None
        self._last_open_ms: int | None = None
        self._price_volume = 0.0
        self._volume = 0.0

    def update(self, high: float, low: float, close: float, volume: float, open_time_ms: int) -> float:
        high, low, close = finite("high", high), finite("low", low), finite("close", close)
        volume = finite("volume", volume)
        if volume < 0.0:
            raise ValueError(f"volume must be >= 0, got {volume}")
        open_time_ms = int(open_time_ms)
        if self._last_open_ms is not None and open_time_ms < self._last_open_ms:
            raise ValueError("candles must arrive in open-time order")
        self._last_open_ms = open_time_ms
        day = open_time_ms // DAY_MS
        if day != self._day:
            self._day = day
            self._price_volume = 0.0
            self._volume = 0.0
        self._price_volume += (high + low + close) / 3.0 * volume
        self._volume += volume
        return self._price_volume / self._volume if self._volume > 0.0 else math.nan
