"""Market API: instruments, tickers, closed candles and indicators from the market port.

Why through the port and not the store: the charts must show exactly what the strategies
see (the replay feed locally, Bybit in the cloud), closed candles only, so a chart never
shows a bar the tick could not have used. Indicators are the batch forms the simulator
and the tests use, computed over the same candle window the candles endpoint returns,
so a chart's line and a strategy's number agree to the last digit.

Errors name what is wrong: an unknown symbol is a 404; a bad interval, indicator name or
parameter is a 422 naming the query field (``params.<name>`` for one parameter).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final, Literal, Protocol, runtime_checkable

import azure.functions as func
import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.domain import indicators as ind
from shared.domain.candles import CandleSeries
from shared.domain.market import Candle, Instrument, Interval, Ticker
from shared.ports import MarketData, MarketDataError

bp = func.Blueprint()

MAX_TICKERS: Final = 20
MAX_CANDLES: Final = 1000
DEFAULT_CANDLES: Final = 300
PERIOD_MAX: Final = 100_000  # TA-Lib's bound for every period
_SYMBOL: Final = re.compile(r"^[A-Z0-9]{2,30}$")
_INT: Final = re.compile(r"^[+-]?\d{1,7}$")

Symbol = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9]{2,30}$")]
IndicatorName = Literal["sma", "ema", "rsi", "macd", "atr", "bollinger", "vwap"]
Number = int | float

#: Per indicator: parameter -> (default, minimum, maximum); the default's type is the parameter's.
INDICATORS: Final[dict[str, dict[str, tuple[Number, Number, Number]]]] = {
    "sma": {"period": (20, 1, PERIOD_MAX)},
    "ema": {"period": (20, 1, PERIOD_MAX)},
    "rsi": {"period": (14, 2, PERIOD_MAX)},
    "macd": {"fast": (12, 2, PERIOD_MAX), "slow": (26, 2, PERIOD_MAX), "signal": (9, 1, PERIOD_MAX)},
    "atr": {"period": (14, 1, PERIOD_MAX)},
    "bollinger": {"period": (20, 2, PERIOD_MAX), "k": (2.0, 0.0, 10.0)},
    "vwap": {},
}
#: The output series of the indicators with more than one (the others give ``value``).
OUTPUTS: Final[dict[str, tuple[str, ...]]] = {"macd": ("macd", "signal", "histogram"),
                                              "bollinger": ("upper", "middle", "lower")}


@runtime_checkable
class RecordedIntervals(Protocol):
    """A feed that serves one recorded interval per symbol (the replay), so a request for
    another interval is the caller's mistake (422), not a market outage."""

    def interval_of(self, symbol: str) -> str: ...


class TickersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: str = Field(max_length=MAX_TICKERS * 31, description="Comma-separated symbols, at most 20.")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: str) -> str:
        names = list(dict.fromkeys(s.strip().upper() for s in value.split(",") if s.strip()))
        if not names:
            raise ValueError("name at least one symbol")
        if len(names) > MAX_TICKERS:
            raise ValueError(f"at most {MAX_TICKERS} symbols")
        bad = [s for s in names if not _SYMBOL.match(s)]
        if bad:
            raise ValueError(f"not a symbol: {bad[0][:40]!r}")
        return ",".join(names)


class CandlesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    interval: Interval
    start: AwareDatetime | None = Field(default=None, alias="from",
                                        description="ISO time; with it, the first `limit` candles from here.")
    end: AwareDatetime | None = Field(default=None, alias="to", description="ISO time; the last candle opens here.")
    limit: int = Field(default=DEFAULT_CANDLES, ge=1, le=MAX_CANDLES)


class IndicatorsQuery(CandlesQuery):
    name: IndicatorName
    params: str = Field(default="", max_length=200,
                        description="Comma-separated `key=value`, e.g. `period=14` or `fast=12,slow=26,signal=9`.")


class CandleOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    open_time: AwareDatetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesOut(BaseModel):
    symbol: str
    interval: str
    items: list[CandleOut]


class IndicatorOut(BaseModel):
    symbol: str
    interval: str
    name: str
    params: dict[str, Number]
    time: list[AwareDatetime] = Field(description="Open time of each candle of the window.")
    values: dict[str, list[float | None]] = Field(
        description="One series per output (`value`; MACD `macd`/`signal`/`histogram`; Bollinger "
                    "`upper`/`middle`/`lower`), aligned with `time`; null over the lookback.")


class Instruments(BaseModel):
    items: list[Instrument]


class Tickers(BaseModel):
    items: list[Ticker]
    missing: list[str] = Field(description="Requested symbols the market does not know or has no price for yet.")


def invalid(field: str, message: str) -> HttpProblem:
    """A 422 shaped like api_kit's validation errors, for checks a model cannot express."""
    return HttpProblem(422, "Validation failed", f"Invalid query: {field}",
                       errors=[{"field": field, "message": message}])


def _unavailable() -> HttpProblem:
    return HttpProblem(503, "Market data unavailable", "The market data source did not answer; try again shortly.")


def _require_symbol(market: MarketData, symbol: str) -> None:
    try:
        known = market.instruments([symbol])
    except MarketDataError:
        raise _unavailable() from None
    if not known:
        raise HttpProblem(404, "Not found", f"Unknown symbol {symbol!r}.")


def load_candles(q: CandlesQuery) -> list[Candle]:
    """The closed candles of the query's window (what both endpoints serve)."""
    if q.start is not None and q.end is not None and q.start > q.end:
        raise invalid("from", "must not be after `to`")
    market = runtime().market
    _require_symbol(market, q.symbol)
    if isinstance(market, RecordedIntervals) and (recorded := market.interval_of(q.symbol)) != q.interval:
        raise invalid("interval", f"{q.symbol} is served at {recorded} only")
    try:
        return market.candles(q.symbol, q.interval, start=q.start, end=q.end, limit=q.limit)
    except MarketDataError:
        raise _unavailable() from None


def parse_params(name: str, raw: str) -> dict[str, Number]:
    """``period=14`` / ``fast=12,slow=26,signal=9`` into typed, range-checked values
    (defaults for the ones left out); anything else is a 422 naming the parameter."""
    spec = INDICATORS[name]
    values: dict[str, Number] = {key: default for key, (default, _, _) in spec.items()}
    seen: set[str] = set()
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key, eq, text = (s.strip() for s in part.partition("="))
        if not eq or key not in spec:
            expected = ", ".join(spec) or "no parameters"
            raise invalid("params", f"unknown parameter {key[:40]!r} for {name} (takes {expected})")
        if key in seen:
            raise invalid(f"params.{key}", "given more than once")
        seen.add(key)
        default, low, high = spec[key]
        value: Number
        if isinstance(default, int):
            if not _INT.match(text):
                raise invalid(f"params.{key}", "must be an integer")
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                raise invalid(f"params.{key}", "must be a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise invalid(f"params.{key}", f"must be in {low}..{high}")
        values[key] = value
    if name == "macd" and values["fast"] >= values["slow"]:
        raise invalid("params.fast", "must be shorter than slow")
    return values


def compute(name: str, p: dict[str, Number], s: CandleSeries) -> dict[str, npt.NDArray[np.float64]]:
    """The batch indicator over the whole window, one array per output."""
    if name == "sma":
        return {"value": ind.sma(s.close, int(p["period"]))}
    if name == "ema":
        return {"value": ind.ema(s.close, int(p["period"]))}
    if name == "rsi":
        return {"value": ind.rsi(s.close, int(p["period"]))}
    if name == "atr":
        return {"value": ind.atr(s.high, s.low, s.close, int(p["period"]))}
    if name == "macd":
        line, signal, hist = ind.macd(s.close, int(p["fast"]), int(p["slow"]), int(p["signal"]))
        return {"macd": line, "signal": signal, "histogram": hist}
    if name == "bollinger":
        upper, middle, lower = ind.bollinger(s.close, int(p["period"]), float(p["k"]))
        return {"upper": upper, "middle": middle, "lower": lower}
    return {"value": ind.vwap(s.high, s.low, s.close, s.volume, s.open_time)}


def _nulls(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _candle_out(candle: Candle) -> dict[str, Any]:
    doc = candle.to_doc()
    return {k: v for k, v in doc.items() if k not in ("symbol", "interval")}


@api_route(bp, name="market_symbols", tenant_scoped=False,
           method="GET", route="v1/symbols", role=Role.VIEWER, response=Instruments,
           tags=("market",), summary="Tradable instruments with their filters (tick, lot, min notional as strings)")
def symbols(ctx: ApiContext) -> dict[str, Any]:
    try:
        found = runtime().market.instruments()
    except MarketDataError:
        raise _unavailable() from None
    return {"items": [i.to_doc() for i in found]}


@api_route(bp, name="market_tickers", tenant_scoped=False,
           method="GET", route="v1/tickers", role=Role.VIEWER, query=TickersQuery,
           response=Tickers, tags=("market",), summary="Last price, 24h change and volume of up to 20 symbols")
def tickers(ctx: ApiContext) -> dict[str, Any]:
    wanted = ctx.query.symbols.split(",")
    try:
        found = runtime().market.tickers(wanted)
    except MarketDataError:
        raise _unavailable() from None
    have = {t.symbol for t in found}
    return {"items": [t.to_doc() for t in found], "missing": [s for s in wanted if s not in have]}


@api_route(bp, name="market_candles", tenant_scoped=False,
           method="GET", route="v1/candles", role=Role.VIEWER, query=CandlesQuery,
           response=CandlesOut, tags=("market",),
           summary="Closed candles, oldest first: the last `limit` up to `to` (or now), or `limit` from `from`")
def candles(ctx: ApiContext) -> dict[str, Any]:
    q: CandlesQuery = ctx.query
    return {"symbol": q.symbol, "interval": q.interval, "items": [_candle_out(c) for c in load_candles(q)]}


@api_route(bp, name="market_indicators", tenant_scoped=False, method="GET", route="v1/indicators", role=Role.VIEWER,
           query=IndicatorsQuery, response=IndicatorOut, tags=("market",),
           summary="An indicator (sma, ema, rsi, macd, atr, bollinger, vwap) over the candles window")
def indicators(ctx: ApiContext) -> dict[str, Any]:
    q: IndicatorsQuery = ctx.query
    params = parse_params(q.name, q.params)  # before any market call: a bad request costs nothing
    window = load_candles(q)
    outputs: dict[str, list[float | None]] = {key: [] for key in OUTPUTS.get(q.name, ("value",))}
    if window:
        outputs = {k: _nulls(v) for k, v in compute(q.name, params, CandleSeries.from_candles(window)).items()}
    return {"symbol": q.symbol, "interval": q.interval, "name": q.name, "params": params,
            "time": [_candle_out(c)["openTime"] for c in window], "values": outputs}
