"""A ``MarketData`` that replays recorded candles against a clock (the embedded default).

Why: the product must run with no exchange account, on real prices, at an accelerated
clock, and tests must be able to stand at any instant of history. What "now" allows is
strict. ``candles()`` returns only bars closed at ``clock.now()``. The current price is
the open of the bar forming now, which is the replay convention the fill model and the
simulator share. Nothing from the future leaks through the port.

Beyond the port, two methods serve the paper exchange: ``interval_of`` (which bars to
match on) and ``forming_bar`` (the reference bar of a market order, volume included so
the participation cap is the simulator's).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar, cast

import numpy as np

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.fill_model import Bar, market_price
from shared.domain.market import INTERVAL_SECONDS, Candle, Instrument, Interval, Ticker
from shared.ports import Clock, MarketDataError

_K = TypeVar("_K")
_V = TypeVar("_V")

DATA_DIR = Path(__file__).resolve().parents[1] / "market_data"
DEMO_FILES: dict[str, tuple[str, Interval]] = {
    "BTCUSDT": ("dmplot_KUCOIN-BTC-USDT_1h.csv", "1h"),
    "BTCUSD": ("stockindicators_BTC-USD_1d.csv", "1d"),
}
#: Quote assets recognised when splitting a symbol into base and quote (longest first).
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")
DAY_MS = 86_400_000
#: A demo start inside the KuCoin year, with about 2,000 hourly bars of history behind it.
DEMO_START = datetime(2023, 10, 6, tzinfo=UTC)


def default_instrument(symbol: str, exchange: str = "paper") -> Instrument:
    """Spot filters close to a major exchange's BTC pair: tick 0.01, lot and min qty
    0.000001, min notional 5 quote units."""
    quote = next((q for q in QUOTE_ASSETS if symbol.endswith(q) and len(symbol) > len(q)), None)
    if quote is None:
        raise MarketDataError(f"cannot tell the quote asset of {symbol!r}; pass its Instrument")
    return Instrument(
        exchange=exchange,
        symbol=symbol,
        base=symbol[: -len(quote)],
        quote=quote,
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.000001"),
        min_qty=Decimal("0.000001"),
        min_notional=Decimal("5"),
    )


class ReplayMarketData:
    """Recorded candles per symbol (one interval each), seen as of ``clock.now()``."""

    def __init__(
        self,
        series: Mapping[str, tuple[CandleSeries, str]],
        clock: Clock,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        exchange: str = "paper",
    ) -> None:
        self.clock = clock
        self._series: dict[str, tuple[CandleSeries, Interval, int]] = {}
        for symbol, (candles, interval) in series.items():
            if interval not in INTERVAL_SECONDS:
                raise ValueError(f"{symbol}: unknown interval {interval!r}")
            if len(candles) > 1 and bool(np.any(np.diff(candles.open_time) <= 0)):
                raise ValueError(f"{symbol}: candle times must be strictly ascending")
            self._series[symbol] = (candles, cast(Interval, interval), INTERVAL_SECONDS[interval] * 1000)
        # Open times as Python ints: every order's risk check and fill asks "which bar is
        # now", and bisect on a list answers that far cheaper than numpy's per-call setup.
        self._times: dict[str, list[int]] = {s: [int(t) for t in c.open_time] for s, (c, _, _) in self._series.items()}
        given = dict(instruments or {})
        self._instruments = {s: given.get(s) or default_instrument(s, exchange) for s in self._series}
        # Prices and 24h volumes per (symbol, bar position): a recorded bar never changes,
        # and every ticker asks again (each API read of positions, each risk check), so
        # the Decimal rounding and the numpy sum run once per bar, not once per call.
        self._prices: dict[tuple[str, int, bool], Decimal] = {}
        self._volumes: dict[tuple[str, int, int], float] = {}

    # ----------------------------------------------------------------- port

    def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """Known symbols only; an unknown one is left out (like an exchange's filter)."""
        wanted = self._instruments if symbols is None else [s for s in symbols if s in self._instruments]
        return [self._instruments[s] for s in wanted]

    def candles(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 200,
    ) -> list[Candle]:
        """Closed candles, oldest first, with ``start <= open_time <= end``.

        With ``start`` the first ``limit`` from there (a forward page); otherwise the
        last ``limit`` up to ``end`` or now. Only the recorded interval is served: no
        resampling, so a mismatch raises ``MarketDataError``.
        """
        series, own_interval, interval_ms = self._get(symbol)
        if interval != own_interval:
            raise MarketDataError(f"{symbol} is recorded at {own_interval}, not {interval}")
        if limit <= 0:
            return []
        hi = self._closed_count(symbol, interval_ms)
        if end is not None:
            hi = min(hi, bisect_right(self._times[symbol], to_ms(end)))
        lo = 0 if start is None else bisect_left(self._times[symbol], to_ms(start))
        if lo >= hi:
            return []
        window = series[lo : min(hi, lo + limit)] if start is not None else series[max(lo, hi - limit) : hi]
        try:
            return window.to_candles(symbol, own_interval)
        except ValueError as exc:  # an inconsistent recorded bar: the port's error, not pydantic's
            raise MarketDataError(f"{symbol}: {exc}") from exc

    def tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        """Last price, 24h change and 24h volume as of now; a symbol with no price yet
        (before its first bar) or unknown is left out."""
        now = self.clock.now()
        now_ms = to_ms(now)
        result: list[Ticker] = []
        for symbol in symbols:
            if symbol not in self._series:
                continue
            last = self._price_at(symbol, now_ms)
            if last is None:
                continue
            before = self._price_at(symbol, now_ms - DAY_MS)
            change = 0.0 if before is None or before == 0 else float((last - before) / before * 100)
            result.append(
                Ticker(
                    symbol=symbol,
                    last_price=last,
                    change_24h_pct=round(change, 6),
                    volume_24h=self._volume_24h(symbol, now_ms),
                    at=now,
                )
            )
        return result

    # ----------------------------------------------------------------- for the paper exchange

    def interval_of(self, symbol: str) -> str:
        return self._get(symbol)[1]

    def forming_bar(self, symbol: str) -> Bar | None:
        """The bar forming at now (``open_time <= now < open_time + interval``), or None
        in a gap, before the first bar or after the last."""
        series, _, interval_ms = self._get(symbol)
        now_ms = to_ms(self.clock.now())
        times = self._times[symbol]
        i = bisect_right(times, now_ms) - 1
        if i < 0 or times[i] + interval_ms <= now_ms:
            return None
        return Bar.at(series, i)

    def series(self, symbol: str) -> CandleSeries:
        """The whole recording (for the simulator; it is not limited to now)."""
        return self._get(symbol)[0]

    # ----------------------------------------------------------------- helpers

    def _get(self, symbol: str) -> tuple[CandleSeries, Interval, int]:
        try:
            return self._series[symbol]
        except KeyError:
            raise MarketDataError(f"no replay data for {symbol!r}") from None

    def _closed_count(self, symbol: str, interval_ms: int, now_ms: int | None = None) -> int:
        """How many leading bars are closed at now: ``open_time + interval <= now``."""
        now_ms = to_ms(self.clock.now()) if now_ms is None else now_ms
        return bisect_right(self._times[symbol], now_ms - interval_ms)

    def _price_at(self, symbol: str, at_ms: int) -> Decimal | None:
        """The open of the bar forming at ``at_ms``, else the last close before it."""
        series, _, interval_ms = self._get(symbol)
        tick = self._instruments[symbol].tick_size
        times = self._times[symbol]
        i = bisect_right(times, at_ms) - 1
        if i < 0:
            return None
        forming = times[i] + interval_ms > at_ms
        key = (symbol, i, forming)
        price = self._prices.get(key)
        if price is None:
            price = market_price(float(series.open[i] if forming else series.close[i]), tick)
            _remember(self._prices, key, price)
        return price

    def _volume_24h(self, symbol: str, now_ms: int) -> float:
        """Volume of the closed bars that closed within the last 24 hours."""
        series, _, interval_ms = self._get(symbol)
        hi = self._closed_count(symbol, interval_ms, now_ms)
        lo = bisect_right(self._times[symbol], now_ms - DAY_MS - interval_ms)
        if hi <= lo:
            return 0.0
        key = (symbol, lo, hi)
        volume = self._volumes.get(key)
        if volume is None:
            volume = float(np.sum(series.volume[lo:hi]))
            _remember(self._volumes, key, volume)
        return volume


_CACHE_LIMIT = 4096


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """Keep a bounded memo (a replay walks forward: old bars are not asked again)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def load_demo_market(clock: Clock, data_dir: Path = DATA_DIR) -> ReplayMarketData:
    """The embedded demo feed: ``BTCUSDT`` 1h (KuCoin, 2023-07..2024-07) and ``BTCUSD`` 1d
    (2017-08..2021-01) from the files shipped in ``shared/market_data``."""
    series = {
        symbol: (CandleSeries.from_csv(data_dir / filename), interval)
        for symbol, (filename, interval) in DEMO_FILES.items()
    }
    return ReplayMarketData(series, clock)

