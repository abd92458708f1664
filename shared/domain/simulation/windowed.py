"""Indicators as the live tick sees them: computed over a sliding window, for every bar at once.

Why this exists: the tick recomputes its indicators over the last ``W`` closed candles, and
the TA-Lib EMA, RSI and ATR are seeded from the first bars of whatever window they get. So
the value a decision sees at bar ``t`` is not the free-running value over the whole
history; it depends on where the window starts (``s = max(0, t - W + 1)``).

These filters are linear in their state, which gives every windowed value in one numpy pass.
For an EMA with decay ``d = 1 - k`` run freely over the whole series (``F``) and the same
EMA seeded at ``s + n - 1`` with the window's own seed ``S`` (the mean of its first ``n``
inputs), the two differ by a term that just decays::

    E_t(window from s) = F_t + d ** (t - s - n + 1) * (S - F_{s+n-1})

Wilder's smoothing (RSI's average gain and loss, ATR) is the same recursion with
``k = 1 / n`` and the seed one bar later (a change needs a previous close).

The results equal TA-Lib over each window up to float rounding (relative ~1e-13; the tests
compare them bar by bar). They are used only to *screen*: the simulator still calls the
real rules on every bar the screen cannot rule out, so rounding here can cost time, never
a different decision, as long as the screen's margins exceed it (see ``screening``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import talib

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Relative size of the rounding a reconstructed value may carry, used by the error bounds.
#: Measured errors are below 1e-13; this is four orders of magnitude of headroom.
REL_ERROR = 1e-9


class Windowed(NamedTuple):
    """A windowed indicator at the decision bar (``last``) and the bar before it in the
    same window (``prev``), with an absolute error bound for each (NaN where undefined)."""

    last: FloatArray
    prev: FloatArray
    last_err: FloatArray
    prev_err: FloatArray


def window_starts(size: int, window: int) -> IntArray:
    """Index of the first bar of each bar's window: ``max(0, t - window + 1)``."""
    return np.maximum(np.arange(size, dtype=np.int64) - (window - 1), 0)


def free_filter(values: FloatArray, k: float) -> FloatArray:
    """``y_i = y_{i-1} + k * (x_i - y_{i-1})`` from ``y_0 = x_0``, for every index.

    TA-Lib's EMA kernel does the recursion in C; padding the front with copies of the first
    value makes its SMA seed equal ``x_0`` and defines the output from index 0. ``k`` must
    be ``2 / (p + 1)`` for an integer period ``p`` (EMA: ``p = n``; Wilder: ``p = 2n - 1``).
    """
    period = round(2.0 / k - 1.0)
    if period < 1 or abs(2.0 / (period + 1) - k) > 1e-15:
        raise ValueError(f"k={k} is not 2/(p+1) for an integer period")
    if values.size == 0:
        return values.copy()
    padded = np.concatenate((np.full(period - 1, values[0]), values))
    result: FloatArray = talib.EMA(padded, timeperiod=period)[period - 1 :]
    return result


def _seeded(free: FloatArray, seeds: FloatArray, window: int, lag: int, decay: float,
            first_valid: int, prev: bool = True) -> Windowed:
    """Shift the free-running filter onto each window's own seed.

    ``seeds[j]`` is the seed of a window starting at bar ``j``; it sits at bar
    ``j + lag``. ``first_valid`` is the window length a value needs (a shorter window
    has NaN, as TA-Lib would); it is ``lag + 1``.

    From bar ``window - 1`` on every window is full, so the seed's position, the power of
    the decay and the validity are the same for every bar and the gathers are slices;
    only the first ``window - 1`` bars (windows starting at 0) take the general form.
    ``prev=False`` leaves the previous bar's values NaN (undetermined) for the full
    windows, for a caller that reads only ``last``.
    """
    size = free.size
    if window < first_valid or size == 0:
        return Windowed(*(np.full(size, np.nan) for _ in range(4)))
    # last, prev, last_err, prev_err: every element is written below (prev ones may be NaN)
    out = [np.empty(size) for _ in range(4)]
    # decay ** (bars since the seed) is at most window - 1 - lag
    with np.errstate(under="ignore"):
        powers = np.power(decay, np.arange(window - lag, dtype=np.float64))
    head = min(size, window - 1)
    if head:
        _general(free, seeds, head, lag, powers, first_valid, out)
    full = size - head  # bars t >= window - 1, window start t - window + 1 = 0 .. full - 1
    if full <= 0:
        return Windowed(*out)
    seed, at_seed = seeds[:full], free[lag : lag + full]
    delta = seed - at_seed
    scale = np.abs(seed) + np.abs(at_seed)
    steps = window - 1 - lag
    free_last, abs_last = free[head:], np.abs(free[head:])
    with np.errstate(invalid="ignore", over="ignore"):
        out[0][head:] = free_last + powers[steps] * delta
        out[2][head:] = REL_ERROR * (abs_last + powers[steps] * scale)
        if prev and window - 1 >= first_valid:  # the bar before is in the window, after the seed
            free_prev = free[head - 1 : size - 1]
            out[1][head:] = free_prev + powers[steps - 1] * delta
            out[3][head:] = REL_ERROR * (np.abs(free_prev) + powers[steps - 1] * scale)
        else:
            out[1][head:] = np.nan
            out[3][head:] = np.nan
    return Windowed(*out)


def _general(free: FloatArray, seeds: FloatArray, head: int, lag: int, powers: FloatArray, first_valid: int,
             out: list[FloatArray]) -> None:
    """:func:`_seeded` for bars ``0 .. head - 1``, whose windows all start at bar 0."""
    size = free.size
    t = np.arange(head, dtype=np.int64)
    ok_last = t + 1 >= first_valid
    ok_prev = t >= first_valid
    seed, at_seed = seeds[0], free[min(lag, size - 1)]
    delta = seed - at_seed
    scale = abs(seed) + abs(at_seed)
    steps_last = np.minimum(np.maximum(t - lag, 0), powers.size - 1)
    steps_prev = np.maximum(steps_last - 1, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        factor_last, factor_prev = powers[steps_last], powers[steps_prev]
        last = free[:head] + factor_last * delta
        prev_free = np.concatenate(([np.nan], free[: head - 1]))
        prev = prev_free + factor_prev * delta
        last_err = REL_ERROR * (np.abs(free[:head]) + factor_last * scale)
        prev_err = REL_ERROR * (np.abs(prev_free) + factor_prev * scale)
    nan = np.nan
    out[0][:head] = np.where(ok_last, last, nan)
    out[1][:head] = np.where(ok_prev, prev, nan)
    out[2][:head] = np.where(ok_last, last_err, nan)
    out[3][:head] = np.where(ok_prev, prev_err, nan)


def ema(close: FloatArray, n: int, window: int, *, prev: bool = True) -> Windowed:
    """TA-Lib's EMA(n) over each bar's window (seeded with the SMA of the window's first
    ``n`` closes; first value at the window's bar ``n - 1``). ``prev``: see :func:`_seeded`."""
    k = 2.0 / (n + 1)
    free = free_filter(close, k)
    seeds = _shifted(talib.SMA(close, timeperiod=n), n - 1)
    return _seeded(free, seeds, window, n - 1, 1.0 - k, n, prev)


def _shifted(values: FloatArray, lag: int) -> FloatArray:
    """``out[j] = values[j + lag]`` (NaN past the end): the seed of a window starting at ``j``."""
    out = np.full(values.size, np.nan)
    if lag < values.size:
        out[: values.size - lag] = values[lag:]
    return out


def _wilder(series: FloatArray, n: int, window: int, prev: bool = True) -> Windowed:
    """Wilder's average of ``series`` (defined from index 1) over each bar's window: the
    seed is the mean of the window's first ``n`` values (bars ``s+1 .. s+n``)."""
    k = 1.0 / n
    free = free_filter(series, k) if n > 1 else series.copy()
    seeds = _shifted(talib.SMA(series, timeperiod=n), n)
    return _seeded(free, seeds, window, n, 1.0 - k, n + 1, prev)


def rsi(close: FloatArray, n: int, window: int, *, prev: bool = True) -> Windowed:
    """TA-Lib's RSI(n) over each bar's window, with error bounds carried through the
    ratio (an undetermined value gets the bound 100: the screen keeps such bars).
    ``prev``: see :func:`_seeded`."""
    change = np.diff(close, prepend=close[:1] if close.size else close)
    gain = np.maximum(change, 0.0)
    loss = np.maximum(-change, 0.0)
    return _rsi_pack(_wilder(gain, n, window, prev), _wilder(loss, n, window, prev), prev)


def _rsi_pack(g: Windowed, lo: Windowed, with_prev: bool = True) -> Windowed:
    last, last_err = _ratio(g.last, lo.last, g.last_err, lo.last_err)
    if not with_prev:
        undetermined = np.full(last.size, np.nan)
        return Windowed(last, undetermined, last_err, undetermined)
    prev, prev_err = _ratio(g.prev, lo.prev, g.prev_err, lo.prev_err)
    return Windowed(last, prev, last_err, prev_err)


def _ratio(gain: FloatArray, loss: FloatArray, gain_err: FloatArray,
           loss_err: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``100 * g / (g + l)`` (0 when both are 0, TA-Lib's value) and a bound on its error
    from the bounds on ``g`` and ``l``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        total = gain + loss
        value = np.where(total != 0.0, 100.0 * gain / total, 0.0)
        lo_total = total - gain_err - loss_err
        # d(RSI) <= 100 * (l * dg + g * dl) / total^2, evaluated at the smallest total
        err = 100.0 * (np.abs(loss) * gain_err + np.abs(gain) * loss_err + gain_err * loss_err) / lo_total**2
        err = np.where(lo_total > 0.0, err, 100.0)
    nan_mask = np.isnan(gain) | np.isnan(loss)
    return np.where(nan_mask, np.nan, value), np.where(nan_mask, np.nan, err)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int, window: int, *,
        prev: bool = True) -> Windowed:
    """TA-Lib's ATR(n) over each bar's window (true ranges from the window's second bar).
    ``prev``: see :func:`_seeded`."""
    previous = np.concatenate((close[:1], close[:-1]))
    true_range = np.maximum(high - low, np.maximum(np.abs(previous - high), np.abs(previous - low)))
    if true_range.size:
        true_range[0] = 0.0  # bar 0 has no true range; no window's seed includes it
    return _wilder(true_range, n, window, prev)


def sma(close: FloatArray, n: int) -> Windowed:
    """SMA(n): no seed, so the window only changes the float rounding of the running sum."""
    value = talib.SMA(close, timeperiod=n)
    prev = np.concatenate(([np.nan], value[:-1]))
    return Windowed(value, prev, REL_ERROR * np.abs(value), REL_ERROR * np.abs(prev))


def rolling_max_before(values: FloatArray, lookback: int) -> FloatArray:
    """``max(values[t - lookback : t])`` for every ``t`` (NaN for ``t < lookback``): the
    zone's resistance, exact (a max has no rounding). O(N) by van Herk/Gil-Werman blocks."""
    return _rolling_extreme(values, lookback, np.maximum)


def rolling_min_before(values: FloatArray, lookback: int) -> FloatArray:
    """``min(values[t - lookback : t])`` for every ``t`` (NaN for ``t < lookback``)."""
    return _rolling_extreme(values, lookback, np.minimum)


def _rolling_extreme(values: FloatArray, lookback: int, op: np.ufunc) -> FloatArray:
    size = values.size
    out = np.full(size, np.nan)
    if lookback < 1 or size <= lookback:
        return out
    blocks = -(-size // lookback)
    fill = -np.inf if op is np.maximum else np.inf
    padded = np.full(blocks * lookback, fill)
    padded[:size] = values
    table = padded.reshape(blocks, lookback)
    prefix = op.accumulate(table, axis=1).ravel()
    suffix = op.accumulate(table[:, ::-1], axis=1)[:, ::-1].ravel()
    # window [i, i + lookback - 1] spans at most two blocks: suffix of i's, prefix of the end's
    starts = np.arange(size - lookback + 1)
    extreme = op(suffix[starts], prefix[starts + lookback - 1])
    out[lookback:] = extreme[: size - lookback]
    return out
