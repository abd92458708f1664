"""A whole request: baseline and candidate, in sample, out of sample and walk-forward folds.

Why each range is its own simulation (a fresh account at the range's start, the bars
before it only as indicator history): an out-of-sample number must not inherit a
position or a drawdown from the in-sample part, and folds must be comparable with each
other. The screen depends only on the candles and the parameters, so it is computed once
per strategy and shared by all its ranges.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

import numpy as np

from shared.domain.candles import CandleSeries, candles_hash, from_ms, to_ms
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import INTERVAL_SECONDS, Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

from .engine import DEFAULT_WINDOW_BARS, EngineSetup, Progress, simulate
from .metrics import downsample, equity_curve, metrics, round_trips
from .models import Metrics, SegmentResult, SimulationRequest, SimulationResult, Split, StrategyResult
from .report import compare
from .screening import Screen, screen, tick_window

#: What a stored result keeps, so a run document stays well under Cosmos DB's 2 MB item
#: limit even with 20 folds: the first trades and a downsampled equity curve of the
#: in-sample and out-of-sample ranges; folds keep their metrics and a short curve. The
#: rest is counted (``trades_omitted``) and can be recomputed: runs are deterministic.
MAX_TRADES: Final = 200
CURVE_POINTS: Final = 300
FOLD_CURVE_POINTS: Final = 60


@dataclass(frozen=True)
class Segment:
    """Decided bars ``[start, end)`` of a range."""

    label: str
    start: int
    end: int


def segments(start: int, end: int, split: Split) -> tuple[Segment, Segment, list[Segment]]:
    """In-sample, out-of-sample and (with ``folds > 1``) the folds that cut the
    out-of-sample part into consecutive, nearly equal pieces."""
    cut = start + int((end - start) * (1 - split.out_of_sample_fraction))
    folds: list[Segment] = []
    if split.folds > 1:
        edges = np.linspace(cut, end, split.folds + 1).astype(np.int64).tolist()
        folds = [Segment(f"fold-{i + 1}", a, b) for i, (a, b) in enumerate(itertools.pairwise(edges))]
    return Segment("in-sample", start, cut), Segment("out-of-sample", cut, end), folds


def decided_range(series: CandleSeries, request: SimulationRequest) -> tuple[int, int]:
    """Bar positions of the first and one past the last candle inside ``[start, end)``."""
    times = series.open_time
    return (int(np.searchsorted(times, to_ms(request.start), side="left")),
            int(np.searchsorted(times, to_ms(request.end), side="left")))


class _Tally:
    """Adds the progress of consecutive runs into one ``(done, total)`` count."""

    def __init__(self, total: int, sink: Progress | None) -> None:
        self.total, self.offset, self.sink = total, 0, sink

    def part(self) -> Progress | None:
        if self.sink is None:
            return None
        offset, sink = self.offset, self.sink
        return lambda done, _total: sink(offset + done, self.total)

    def advance(self, bars: int) -> None:
        self.offset += bars


def run_strategy(
    series: CandleSeries, params: SevenRuleParams | SmaCrossParams, ranges: list[Segment], *, interval: str,
    instrument: Instrument, limits: RiskLimits, fill: FillModelConfig, initial_quote: Decimal,
    window_bars: int = DEFAULT_WINDOW_BARS, tally: _Tally | None = None,
) -> list[SegmentResult]:
    """Simulate ``params`` over each range (one screen for all of them)."""
    window = tick_window(params, window_bars)
    sieve: Screen = screen(series, params, INTERVAL_SECONDS[interval] * 1000, window)
    results = []
    for seg in ranges:
        setup = EngineSetup(series=series, interval=interval, params=params, instrument=instrument, limits=limits,
                            fill=fill, initial_quote=initial_quote, window_bars=window_bars, start=seg.start,
                            end=seg.end)
        run = simulate(setup, prepared=sieve, progress=tally.part() if tally else None)
        if tally is not None:
            tally.advance(seg.end - seg.start)
        trades = round_trips(run)
        curve = equity_curve(run)
        start, end = _span(series, seg, INTERVAL_SECONDS[interval] * 1000)
        fold = seg.label.startswith("fold-")
        kept = 0 if fold else MAX_TRADES
        results.append(SegmentResult(
            label=seg.label, start=start, end=end, metrics=metrics(run, trades),
            equity_curve=downsample(run, curve, FOLD_CURVE_POINTS if fold else CURVE_POINTS),
            trades=trades[:kept], trades_omitted=max(len(trades) - kept, 0), evaluations=run.evaluations))
    return results


def _span(series: CandleSeries, seg: Segment, interval_ms: int) -> tuple[datetime, datetime]:
    """From the first decided bar's open to the last one's close (an empty range: the
    instant it would have started)."""
    if seg.end > seg.start:
        return (from_ms(int(series.open_time[seg.start])),
                from_ms(int(series.open_time[seg.end - 1]) + interval_ms))
    at = int(series.open_time[seg.start]) if seg.start < len(series) else (
        int(series.open_time[-1]) + interval_ms if len(series) else 0)
    return from_ms(at), from_ms(at)


def run_request(request: SimulationRequest, series: CandleSeries, instrument: Instrument, *,
                window_bars: int = DEFAULT_WINDOW_BARS, progress: Progress | None = None) -> SimulationResult:
    """Baseline (and candidate, with the report) over the request's range of ``series``.

    ``series`` must hold the range and, before it, enough candles for the indicator
    windows (``max(window_bars, warmup + 2)``); fewer only delays the first decision.
    """
    started = time.perf_counter()
    first, end = decided_range(series, request)
    ins, oos, folds = segments(first, end, request.split)
    ranges = [ins, oos, *folds]
    strategies = [request.baseline] + ([request.candidate] if request.candidate is not None else [])
    tally = _Tally(sum(s.end - s.start for s in ranges) * len(strategies), progress)

    def run(params: SevenRuleParams | SmaCrossParams, version: int | None) -> StrategyResult:
        parts = run_strategy(series, params, ranges, interval=request.interval, instrument=instrument,
                             limits=request.risk, fill=request.fill.config(), initial_quote=request.initial_equity,
                             window_bars=window_bars, tally=tally)
        return StrategyResult(params=params, version=version, in_sample=parts[0], out_of_sample=parts[1],
                              folds=parts[2:])

    base = run(request.baseline, request.baseline_version)
    cand = run(request.candidate, request.candidate_version) if request.candidate is not None else None
    decided = series[first:end]
    return SimulationResult(
        baseline=base, candidate=cand, report=compare(base, cand, request.gates) if cand is not None else None,
        bars=end - first, first_candle=decided.first_time, last_candle=decided.last_time,
        candles_hash=candles_hash(decided), duration_ms=int((time.perf_counter() - started) * 1000))


def score(
    params: SevenRuleParams | SmaCrossParams, candles: CandleSeries, *, interval: str, instrument: Instrument,
    limits: RiskLimits | None = None, fill: FillModelConfig | None = None,
    initial_equity: Decimal = Decimal("10000"), start: int = 0, end: int | None = None,
    window_bars: int = DEFAULT_WINDOW_BARS,
) -> Metrics:
    """In-sample metrics of ``params`` on ``candles`` (bars ``start .. end - 1``): the fast
    call the local advisor makes in its search loop. Pure; same engine, rules, risk checks
    and fills as every other simulation."""
    setup = EngineSetup(series=candles, interval=interval, params=params, instrument=instrument,
                        limits=limits or RiskLimits(), fill=fill or FillModelConfig(), initial_quote=initial_equity,
                        window_bars=window_bars, start=start, end=end)
    return metrics(simulate(setup))
