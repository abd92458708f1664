"""Bybit v5 spot market data behind the ``MarketData`` port.

Why these rules: Bybit sends every number as a string, so filters go straight into
``Decimal`` (never through float); klines come newest first with the still-open bar
included, and the port promises closed candles oldest first, so the adapter reverses
and drops every bar whose close time is still in the future (always the case for the
newest bar when no ``end`` is given). Failures of any kind become ``MarketDataError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from shared.adapters.bybit.http import BybitHttpClient
from shared.adapters.clock import SystemClock
from shared.domain.market import INTERVAL_SECONDS, Candle, Instrument, Interval, Ticker
from shared.ports import Clock, ExchangeError, MarketDataError

#: Our interval names -> Bybit's ``interval`` parameter (kline.mdx).
BYBIT_INTERVALS: dict[str, str] = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
    "4h": "240", "6h": "360", "12h": "720", "1d": "D",
}
T = TypeVar("T")
KLINE_MAX_LIMIT = 1000  # kline.mdx: limit [1, 1000]

#: Bybit instrument ``status`` -> ours; anything else (PreLaunch, Delivering, ...) is halted.
_STATUS: dict[str, Literal["trading", "halted", "delisted"]] = {"Trading": "trading", "Closed": "delisted"}


def ms_to_datetime(value: object) -> datetime:
    """Bybit epoch milliseconds (string or int) -> aware UTC datetime."""
    return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)


def datetime_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return int(value.timestamp() * 1000)


def to_decimal(value: object) -> Decimal:
    """A Bybit numeric string as an exact Decimal ("" means zero, as in Bybit's payloads)."""
    text = str(value).strip()
    return Decimal(text) if text else Decimal(0)


class BybitMarketData:
    """``MarketData`` over the public endpoints (unsigned) of one ``BybitHttpClient``."""

    exchange_name = "bybit"

    def __init__(self, client: BybitHttpClient, *, clock: Clock | None = None) -> None:
        self._client = client
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"BybitMarketData({self._client!r})"

    def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """Spot instruments with their filters. One symbol is asked for by name; several
        (or none) fetch the whole spot list once and filter, which costs one call.
        Symbols Bybit does not list are absent from the result."""
        params: dict[str, object] = {"category": "spot"}
        if symbols is not None and len(symbols) == 1:
            params["symbol"] = symbols[0]
        rows = self._list("/v5/market/instruments-info", params)
        wanted = set(symbols) if symbols is not None else None
        found: dict[str, Instrument] = {}
        for row in rows:
            if wanted is None or row.get("symbol") in wanted:
                instrument = self._parse(_instrument, row)
                found[instrument.symbol] = instrument
        order = list(symbols) if symbols is not None else sorted(found)
        return [found[s] for s in order if s in found]

    def candles(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 200,
    ) -> list[Candle]:
        """Closed candles, oldest first, at most ``limit`` (Bybit caps a page at 1000).

        Without ``end`` Bybit's newest bar is the open one, so one extra bar is asked
        for and the open one dropped: the caller still gets ``limit`` closed bars.
        """
        if interval not in BYBIT_INTERVALS:
            raise MarketDataError(f"unsupported interval {interval!r}")
        limit = max(1, min(limit, KLINE_MAX_LIMIT))
        params: dict[str, object] = {
            "category": "spot",
            "symbol": symbol,
            "interval": BYBIT_INTERVALS[interval],
            "start": datetime_to_ms(start) if start else None,
            "end": datetime_to_ms(end) if end else None,
            "limit": min(limit + 1, KLINE_MAX_LIMIT) if end is None else limit,
        }
        envelope = self._get("/v5/market/kline", params)
        rows = _result(envelope).get("list") or []
        now = self._clock.now()
        step = INTERVAL_SECONDS[interval]
        candles: list[Candle] = []
        for row in reversed(rows):  # Bybit: "Sort in reverse by startTime"
            candle = self._parse(_candle, symbol, interval, row)
            if candle.open_time.timestamp() + step <= now.timestamp():
                candles.append(candle)
        return candles[-limit:]

    def tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        """24h tickers; ``at`` is Bybit's response time (the data's own timestamp)."""
        if not symbols:
            return []
        params: dict[str, object] = {"category": "spot", "symbol": symbols[0] if len(symbols) == 1 else None}
        envelope = self._get("/v5/market/tickers", params)
        at = self._parse(ms_to_datetime, envelope.get("time"))
        wanted = set(symbols)
        by_symbol = {
            row.get("symbol"): row for row in _result(envelope).get("list") or [] if row.get("symbol") in wanted
        }
        return [self._parse(_ticker, by_symbol[s], at) for s in symbols if s in by_symbol]

    # ---------------------------------------------------------------- helpers

    def _get(self, path: str, params: Mapping[str, object]) -> dict[str, Any]:
        try:
            return self._client.get(path, params, signed=False)
        except ExchangeError as exc:
            raise MarketDataError(str(exc)) from exc

    def _list(self, path: str, params: dict[str, object]) -> list[dict[str, Any]]:
        """All pages of a cursor-paginated list endpoint."""
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            result = _result(self._get(path, params))
            rows.extend(result.get("list") or [])
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or cursor in seen:
                return rows
            seen.add(cursor)
            params = {**params, "cursor": cursor}

    @staticmethod
    def _parse(fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except (KeyError, IndexError, TypeError, ValueError, InvalidOperation, ValidationError) as exc:
            raise MarketDataError(f"bybit market data malformed: {type(exc).__name__}: {exc}") from exc


def _result(envelope: Mapping[str, Any]) -> dict[str, Any]:
    result = envelope.get("result")
    if not isinstance(result, dict):
        raise MarketDataError("bybit response has no result object")
    return result


def _instrument(row: Mapping[str, Any]) -> Instrument:
    lot = row["lotSizeFilter"]
    max_qty = str(lot.get("maxOrderQty") or "")
    return Instrument(
        exchange="bybit",
        symbol=row["symbol"],
        base=row["baseCoin"],
        quote=row["quoteCoin"],
        tick_size=to_decimal(row["priceFilter"]["tickSize"]),
        lot_size=to_decimal(lot["basePrecision"]),
        min_qty=to_decimal(lot["minOrderQty"]),
        max_qty=to_decimal(max_qty) if max_qty else None,
        min_notional=to_decimal(lot.get("minOrderAmt", "0")),
        status=_STATUS.get(str(row.get("status")), "halted"),
    )


def _candle(symbol: str, interval: Interval, row: Sequence[str]) -> Candle:
    # [startTime(ms), open, high, low, close, volume, turnover]; prices are float market data
    return Candle(
        symbol=symbol,
        interval=interval,
        open_time=ms_to_datetime(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
    )


def _ticker(row: Mapping[str, Any], at: datetime) -> Ticker:
    return Ticker(
        symbol=row["symbol"],
        last_price=to_decimal(row["lastPrice"]),
        change_24h_pct=float(to_decimal(row.get("price24hPcnt", "0")) * 100),  # Bybit gives a fraction
        volume_24h=float(to_decimal(row.get("volume24h", "0"))),
        at=at,
    )
