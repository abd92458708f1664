"""What a simulation is asked, what it answers, and the stored run: pydantic, camelCase.

Why pydantic here (the engine itself uses plain dataclasses for speed): these cross the
API and the store, so they get the project's :class:`DomainModel` rules: camelCase JSON,
Decimal money as strings, UTC times, unknown fields refused. Metrics are floats (market
statistics, not money); equity and fees are Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.domain.base import DomainModel, Money, UtcDatetime
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument, Interval
from shared.domain.profiles import RiskLimits
from shared.domain.strategy import StrategyParams

Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Bound = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class FillSettings(DomainModel):
    """The fill model's knobs (:class:`shared.domain.fill_model.FillModelConfig`): fee
    rates as fractions, slippage in basis points, participation cap as a fraction of a
    bar's volume (None: no cap). The defaults are the paper exchange's."""

    taker_fee_rate: Money = Decimal("0.001")
    maker_fee_rate: Money = Decimal("0.001")
    slippage_bps: Money = Decimal("2")
    max_participation: Money | None = Decimal("0.25")

    def config(self) -> FillModelConfig:
        return FillModelConfig(self.taker_fee_rate, self.maker_fee_rate, self.slippage_bps, self.max_participation)


class Split(DomainModel):
    """In-sample / out-of-sample split of the requested range.

    The last ``out_of_sample_fraction`` of the bars is out of sample. With ``folds > 1``
    that part is also cut into consecutive walk-forward folds, each simulated on its own
    (fresh account, the bars before it as indicator history) and reported per fold.
    """

    out_of_sample_fraction: Fraction = 0.3
    folds: Annotated[int, Field(ge=1, le=20)] = 1


class Gates(DomainModel):
    """The approval gates of a baseline-vs-candidate report (None turns a gate off).

    - ``min_return_edge``: candidate out-of-sample net return minus the baseline's must be
      at least this (0: not worse than the baseline).
    - ``max_drawdown``: the candidate's out-of-sample max drawdown (a fraction) at most.
    - ``min_trades``: closed out-of-sample trades of the candidate, at least.
    - ``min_fold_share``: with walk-forward folds, the share of folds where the candidate's
      return is not worse than the baseline's, at least.
    - ``max_overfit_gap``: the candidate's in-sample return minus its out-of-sample return
      at most (a large gap is the classic sign of overfitting).
    """

    min_return_edge: float | None = 0.0
    max_drawdown: Bound | None = 0.25
    min_trades: Annotated[int, Field(ge=0)] | None = 5
    min_fold_share: Annotated[float, Field(ge=0, le=1)] | None = None
    max_overfit_gap: Bound | None = None


class SimulationRequest(DomainModel):
    """Baseline and (optionally) candidate parameters on one symbol over ``[start, end)``
    (candle open times, UTC), with the paper exchange's fills and a profile's risk limits.

    ``instrument`` fixes the trading filters (tick, lot, minimums); when absent the
    service asks the market data for it. Bars before ``start`` are loaded only as history
    for the indicator windows; every decision falls inside the range.
    """

    symbol: str = Field(min_length=1)
    interval: Interval
    start: UtcDatetime
    end: UtcDatetime
    initial_equity: Money = Decimal("10000")
    baseline: StrategyParams
    baseline_version: int | None = None
    candidate: StrategyParams | None = None
    candidate_version: int | None = None
    fill: FillSettings = FillSettings()
    risk: RiskLimits = RiskLimits()
    instrument: Instrument | None = None
    split: Split = Split()
    gates: Gates = Gates()

    @model_validator(mode="after")
    def _valid(self) -> SimulationRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.initial_equity <= 0:
            raise ValueError("initial equity must be positive")
        if self.instrument is not None and self.instrument.symbol != self.symbol:
            raise ValueError(f"instrument {self.instrument.symbol} does not match symbol {self.symbol}")
        return self


class TradeRecord(DomainModel):
    """One round trip, flat to flat (or still open at the end: no exit). Times are the
    first buy fill's and the last sell fill's (a fill at once is at its bar's open). ``pnl``
    is net of both fees; ``return_pct`` is it over the entry cost (notional plus fee)."""

    entry_time: UtcDatetime
    exit_time: UtcDatetime | None
    qty: Money
    entry_price: Money
    exit_price: Money | None
    fees: Money
    pnl: Money | None
    return_pct: float | None


class Metrics(DomainModel):
    """Results over the decided bars, marked to market at each close.

    ``sharpe`` is the annualised mean over the sample standard deviation of bar returns
    (zero risk-free rate, 365-day year: crypto trades every day); ``exposure`` is the share
    of bars ending with a position; ``win_rate`` and ``profit_factor`` are over closed
    trades and None when there is nothing to divide by.
    """

    net_return: float
    max_drawdown: float
    win_rate: float | None
    sharpe: float
    trade_count: int
    profit_factor: float | None
    exposure: float
    final_equity: Money
    fees_paid: Money
    bars: int
    orders_rejected: int
    open_position: Money


class EquityPoint(DomainModel):
    at: UtcDatetime
    equity: float


class SegmentResult(DomainModel):
    """One simulated range: ``in-sample``, ``out-of-sample`` or ``fold-<n>``."""

    label: str
    start: UtcDatetime
    end: UtcDatetime
    metrics: Metrics
    equity_curve: list[EquityPoint]
    trades: list[TradeRecord]
    trades_omitted: int = 0
    evaluations: int = 0


class StrategyResult(DomainModel):
    params: StrategyParams
    version: int | None = None
    in_sample: SegmentResult
    out_of_sample: SegmentResult
    folds: list[SegmentResult] = []


class GateResult(DomainModel):
    gate: str
    passed: bool
    reason: str
    values: dict[str, float | int | None] = {}


class Report(DomainModel):
    """The decision-ready comparison: each enabled gate with its reason, the verdict
    (``pass`` only when every gate passes) and both strategies' out-of-sample metrics."""

    verdict: Literal["pass", "fail"]
    reasons: list[str]
    gates: list[GateResult]
    baseline: Metrics
    candidate: Metrics


class SimulationResult(DomainModel):
    baseline: StrategyResult
    candidate: StrategyResult | None = None
    report: Report | None = None
    bars: int
    first_candle: UtcDatetime | None
    last_candle: UtcDatetime | None
    candles_hash: str
    duration_ms: int = 0


RunStatus = Literal["queued", "running", "succeeded", "failed"]


class RunProgress(DomainModel):
    bars_done: int = 0
    bars_total: int = 0
    percent: float = 0.0


class SimulationRun(DomainModel):
    """The stored run (``strategies`` container, partition = strategy id)."""

    id: str
    kind: Literal["simulation-run"] = "simulation-run"
    strategy_id: str
    status: RunStatus = "queued"
    request: SimulationRequest
    progress: RunProgress = RunProgress()
    result: SimulationResult | None = None
    error: str | None = None
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    request_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")
