"""Market data: instruments with their trading filters, candles and tickers."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import field_validator, model_validator

from shared.domain.base import DomainModel, Money, UtcDatetime

Interval = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"]

INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "12h": 43200, "1d": 86400,
}


class Instrument(DomainModel):
    """A tradable symbol and the exchange's filters every order must pass."""

    exchange: str
    symbol: str
    base: str
    quote: str
    tick_size: Money
    lot_size: Money
    min_qty: Money
    max_qty: Money | None = None
    min_notional: Money
    status: Literal["trading", "halted", "delisted"] = "trading"

    @field_validator("tick_size", "lot_size")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("must be positive")
        return value


class Candle(DomainModel):
    """One OHLCV bar keyed by its open time (UTC). Prices are float64 market data;
    they become ``Decimal`` only when an order or fill is priced from them."""

    symbol: str
    interval: Interval
    open_time: UtcDatetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    @model_validator(mode="after")
    def _consistent(self) -> Candle:
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError("candle high/low do not enclose open/close")
        if self.volume < 0:
            raise ValueError("volume must not be negative")
        return self


class Ticker(DomainModel):
    symbol: str
    last_price: Money
    change_24h_pct: float
    volume_24h: float
    at: UtcDatetime
