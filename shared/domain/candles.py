"""A column store of OHLCV candles, and the hash each Decision records.

Why columns: indicators, data checks and the simulator work on whole numpy arrays, and a
year of hourly bars as pydantic ``Candle`` objects would cost more to build than to
compute on. A series is immutable (read-only arrays), so a window is a cheap view that
nobody can change after it was hashed.

Times are open times in epoch milliseconds (int64, UTC); prices and volumes are float64
market data (money becomes ``Decimal`` only when an order or fill is priced).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from shared.domain.market import Candle, Interval

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
_G = TypeVar("_G", bound=np.generic)

CSV_HEADER = ("ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

#: Bumped if the hashed layout ever changes, so old and new hashes never collide.
_HASH_DOMAIN = b"halyard.candles.v1\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused: no guessing)."""
    if when.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return (when - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds (exact, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=int(ms))


def parse_utc(text: str) -> datetime:
    """An ISO-8601 timestamp that says it is UTC (``Z`` or ``+00:00``)."""
    value = datetime.fromisoformat(text.strip())
    if value.utcoffset() != timedelta(0):
        raise ValueError(f"timestamp {text!r} is not marked as UTC")
    return value.astimezone(UTC)


def _freeze(result: npt.NDArray[_G]) -> npt.NDArray[_G]:
    if result.ndim != 1:
        raise ValueError("candle columns are one-dimensional")
    result.setflags(write=False)
    return result


def _times(array: npt.ArrayLike) -> IntArray:
    return _freeze(np.array(array, dtype=np.int64))  # a private copy: the caller keeps no alias


def _floats(array: npt.ArrayLike) -> FloatArray:
    return _freeze(np.array(array, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class CandleSeries:
    """Candles of one symbol and interval as parallel, read-only columns.

    Order is whatever the source gave: the data checks report unsorted or duplicate
    times instead of the loader hiding them. The time-based slicing methods assume
    ascending open times (they use binary search); run the checks first.
    """

    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in ("open_time", *PRICE_COLUMNS):
            column = getattr(self, name)
            dtype = np.int64 if name == "open_time" else np.float64
            if not (isinstance(column, np.ndarray) and column.dtype == dtype and not column.flags.writeable):
                object.__setattr__(self, name, _times(column) if name == "open_time" else _floats(column))
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, expected {n}")

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_arrays(
        cls,
        open_time: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> CandleSeries:
        return cls(
            open_time=_times(open_time),
            open=_floats(open),
            high=_floats(high),
            low=_floats(low),
            close=_floats(close),
            volume=_floats(volume),
        )

    @classmethod
    def from_candles(cls, candles: Sequence[Candle]) -> CandleSeries:
        return cls.from_arrays(
            [to_ms(c.open_time) for c in candles],
            [c.open for c in candles],
            [c.high for c in candles],
            [c.low for c in candles],
            [c.close for c in candles],
            [c.volume for c in candles],
        )

    @classmethod
    def from_csv(cls, path: str | Path) -> CandleSeries:
        """Load the ``ts,open,high,low,close,volume`` layout of the shipped data.

        Rows are taken as they are (no sorting, filling or de-duplication), so a bad
        file shows up in the data checks rather than being silently repaired.
        """
        times: list[int] = []
        values: list[list[float]] = [[] for _ in PRICE_COLUMNS]
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
                raise ValueError(f"{path}: expected header {','.join(CSV_HEADER)}, got {header}")
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(CSV_HEADER):
                    raise ValueError(f"{path}:{line_no}: expected {len(CSV_HEADER)} fields, got {len(row)}")
                try:
                    times.append(to_ms(parse_utc(row[0])))
                    for column, text in zip(values, row[1:], strict=True):
                        column.append(float(text))
                except ValueError as exc:
                    raise ValueError(f"{path}:{line_no}: {exc}") from exc
        return cls.from_arrays(times, *values)

    # ----------------------------------------------------------------- access

    def __len__(self) -> int:
        return len(self.open_time)

    def __getitem__(self, index: slice) -> CandleSeries:
        """A positional slice (a view; the columns stay read-only).

        Built without ``__post_init__``: the same slice of equally long, read-only,
        one-dimensional columns of the right dtypes is again all of that, so the checks
        could not fail. Why it matters: the simulator cuts one window per evaluated bar,
        and the checks cost more than the slicing (about 5 us against 1).
        """
        if not isinstance(index, slice):
            raise TypeError("CandleSeries takes slices; use to_candles() for single bars")
        view = object.__new__(CandleSeries)
        view.__dict__.update(open_time=self.open_time[index], open=self.open[index], high=self.high[index],
                             low=self.low[index], close=self.close[index], volume=self.volume[index])
        return view

    @property
    def first_time(self) -> datetime | None:
        return from_ms(int(self.open_time[0])) if len(self) else None

    @property
    def last_time(self) -> datetime | None:
        return from_ms(int(self.open_time[-1])) if len(self) else None

    def index_of(self, open_time_ms: int) -> int | None:
        """Position of the candle opening exactly at ``open_time_ms``, if there is one."""
        i = int(np.searchsorted(self.open_time, open_time_ms, side="left"))
        return i if i < len(self) and int(self.open_time[i]) == open_time_ms else None

    def between(self, start_ms: int | None = None, end_exclusive_ms: int | None = None) -> CandleSeries:
        """Candles with ``start_ms <= open_time < end_exclusive_ms`` (either bound optional)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.open_time, start_ms, side="left"))
        hi = len(self)
        if end_exclusive_ms is not None:
            hi = int(np.searchsorted(self.open_time, end_exclusive_ms, side="left"))
        return self[lo : max(lo, hi)]

    def window(self, end_exclusive_ms: int, n: int) -> CandleSeries:
        """The last ``n`` candles opening before ``end_exclusive_ms``.

        For the candles *closed* at ``now`` pass ``now_ms - interval_ms + 1``
        (see ``closed_window``): a bar is closed once ``open_time + interval <= now``.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        hi = int(np.searchsorted(self.open_time, end_exclusive_ms, side="left"))
        return self[max(0, hi - n) : hi]

    def closed_window(self, now_ms: int, interval_ms: int, n: int) -> CandleSeries:
        """The last ``n`` candles closed at ``now_ms`` (``open_time + interval <= now``)."""
        return self.window(now_ms - interval_ms + 1, n)

    def to_candles(self, symbol: str, interval: Interval) -> list[Candle]:
        """Domain ``Candle`` objects (validated: an inconsistent bar raises)."""
        return [
            Candle(
                symbol=symbol,
                interval=interval,
                open_time=from_ms(int(t)),
                open=float(o),
                high=float(h),
                low=float(lo),
                close=float(c),
                volume=float(v),
            )
            for t, o, h, lo, c, v in zip(
                self.open_time.tolist(),
                self.open.tolist(),
                self.high.tolist(),
                self.low.tolist(),
                self.close.tolist(),
                self.volume.tolist(),
                strict=True,
            )
        ]


def candles_hash(candles: CandleSeries | Sequence[Candle]) -> str:
    """SHA-256 (hex) over the exact bytes of the columns: the data provenance of a Decision.

    Why bytes and not text: two windows hash equal only if every time and every float is
    bit-for-bit equal, so a re-ingested candle that changed in the last digit is caught.
    The layout is fixed (little-endian int64 times, then float64 open, high, low, close,
    volume, after a domain tag and the row count), so the hash is the same on every run,
    machine and numpy version.
    """
    series = candles if isinstance(candles, CandleSeries) else CandleSeries.from_candles(candles)
    digest = hashlib.sha256(_HASH_DOMAIN)
    digest.update(len(series).to_bytes(8, "little"))
    digest.update(np.ascontiguousarray(series.open_time, dtype="<i8").tobytes())
    for name in PRICE_COLUMNS:
        digest.update(np.ascontiguousarray(getattr(series, name), dtype="<f8").tobytes())
    return digest.hexdigest()
