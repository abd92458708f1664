"""Simulation runs: create one, execute it with progress, fetch it by id alone.

A run is one document in the ``strategies`` container (partition = strategy id, next to
the strategy's versions). Its id carries the strategy id (``sim-<token>-<strategyId>``),
so ``GET /api/v1/simulations/{runId}`` finds it with one point read and no index.

The intended use (the HTTP endpoint and the ``strategy_change_approval`` orchestration):

    run = create_run(store, strategy_id=..., request=SimulationRequest(...), created_by=actor, now=clock.now(),
                     key=instance_id)            # idempotent per key: an activity retry gets the same run
    run = execute_run(store, run.id, market_loader(market), clock=clock,
                      instrument_for=instrument_lookup(market))
    run.result.report.verdict                    # "pass" / "fail", with a reason per gate
    get_run(store, run_id)                       # status, progress, result; None if unknown

``execute_run`` never raises for a failed simulation: the run ends ``failed`` with the
error, so a caller polling the run always learns the outcome. The local AI advisor calls
:func:`score` (pure, in memory) in its search loop instead.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.market import INTERVAL_SECONDS, Instrument
from shared.domain.simulation import (
    RunProgress,
    SimulationRequest,
    SimulationRun,
    compare,
    run_request,
    score,
    tick_window,
)
from shared.ports import Clock, Conflict, Filter, MarketData, NotFound, OrderBy, Query, Store
from shared.services.ticks import WINDOW_BARS

__all__ = ["CandlesLoader", "compare", "create_run", "execute_run", "get_run", "instrument_lookup", "list_runs",
           "market_loader", "run_id_for", "score", "strategy_of"]

CONTAINER: Final = "strategies"
KIND: Final = "simulation-run"
_PREFIX: Final = "sim-"
_TOKEN: Final = 20
#: Strategy ids a run id can carry: safe in a URL path segment and in a document id.
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_RUN_ID: Final = re.compile(rf"^{_PREFIX}[0-9a-f]{{{_TOKEN}}}-(?P<strategy>[A-Za-z0-9._:-]{{1,200}})$")
#: Progress is written at most this often (seconds) and on every 5% step.
PROGRESS_EVERY_S: Final = 2.0
PROGRESS_STEP: Final = 5.0

#: ``(symbol, interval, start, end) -> candles`` with ``start <= open_time < end``, oldest first.
CandlesLoader = Callable[[str, str, datetime, datetime], CandleSeries]


class RunNotFound(LookupError):
    pass


def run_id_for(strategy_id: str, key: str | None = None) -> str:
    """``sim-<token>-<strategyId>``; the token is derived from ``key`` when given (the same
    key always names the same run) and random otherwise."""
    if not _SAFE_ID.match(strategy_id):
        raise ValueError(f"strategy id {strategy_id!r} cannot be carried in a run id (letters, digits, . _ : -)")
    token = hashlib.sha256(f"{strategy_id}|{key}".encode()).hexdigest() if key is not None else uuid.uuid4().hex
    return f"{_PREFIX}{token[:_TOKEN]}-{strategy_id}"


def strategy_of(run_id: str) -> str | None:
    """The strategy id inside a run id, or None when ``run_id`` is not one."""
    found = _RUN_ID.match(run_id)
    return found.group("strategy") if found else None


def create_run(store: Store, *, strategy_id: str, request: SimulationRequest, created_by: str, now: datetime,
               key: str | None = None, request_id: str | None = None) -> SimulationRun:
    """Store a queued run. With ``key``, creating it again returns the stored run."""
    run = SimulationRun(id=run_id_for(strategy_id, key), strategy_id=strategy_id, request=request,
                        created_by=created_by, created_at=now, updated_at=now, request_id=request_id)
    try:
        store.container(CONTAINER).create(run.to_doc())
    except Conflict:
        existing = get_run(store, run.id)
        if existing is None:  # deleted in between: a fresh create is the honest answer
            store.container(CONTAINER).create(run.to_doc())
            return run
        return existing
    return run


def get_run(store: Store, run_id: str) -> SimulationRun | None:
    """The run, found by its id alone; None for an unknown or malformed id."""
    strategy_id = strategy_of(run_id)
    if strategy_id is None:
        return None
    try:
        doc = store.container(CONTAINER).read(run_id, strategy_id)
    except NotFound:
        return None
    return SimulationRun.from_doc(doc) if doc.get("kind") == KIND else None


def list_runs(store: Store, strategy_id: str, limit: int = 50) -> list[SimulationRun]:
    """The strategy's runs, newest first (at most ``limit``)."""
    query = Query(where=[Filter("kind", "=", KIND)], order_by=OrderBy("createdAt", descending=True), limit=limit)
    page = store.container(CONTAINER).query(query, partition_key=strategy_id)
    return [SimulationRun.from_doc(d) for d in page.items[:limit]]


def execute_run(store: Store, run_id: str, load: CandlesLoader, *, clock: Clock,
                instrument_for: Callable[[str], Instrument] | None = None,
                window_bars: int = WINDOW_BARS) -> SimulationRun:
    """Run the simulation of ``run_id`` and store its result (or its failure).

    Candles come from ``load`` (see :func:`market_loader`), with enough history before the
    range for the indicator windows. While it runs, ``progress`` on the run document is
    updated at most every :data:`PROGRESS_EVERY_S` seconds or :data:`PROGRESS_STEP` percent.
    A run that already finished is returned as it is.
    """
    run = get_run(store, run_id)
    if run is None:
        raise RunNotFound(f"no simulation run {run_id!r}")
    if run.finished:
        return run
    run = _save(store, run, clock, status="running", started_at=clock.now(), error=None)
    request = run.request
    try:
        instrument = request.instrument or _instrument(instrument_for, request.symbol)
        series = load(request.symbol, request.interval, _history_start(request, window_bars), request.end)
        writer = _ProgressWriter(store, run, clock)
        result = run_request(request, series, instrument, window_bars=window_bars, progress=writer)
        run = writer.run
        done = RunProgress(bars_done=run.progress.bars_total, bars_total=run.progress.bars_total, percent=100.0)
        return _save(store, run, clock, status="succeeded", result=result, progress=done, finished_at=clock.now())
    except Exception as exc:  # recorded, never lost: the caller reads the outcome from the run
        return _save(store, get_run(store, run_id) or run, clock, status="failed",
                     error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=clock.now())


def _instrument(lookup: Callable[[str], Instrument] | None, symbol: str) -> Instrument:
    if lookup is None:
        raise ValueError(f"the request names no instrument for {symbol} and no instrument lookup was given")
    return lookup(symbol)


def _history_start(request: SimulationRequest, window_bars: int) -> datetime:
    """Twice the longest window before the range: the tick's window counts candles, and a
    few missing candles must not make it shorter than the live one."""
    params = [request.baseline] + ([request.candidate] if request.candidate is not None else [])
    bars = max(tick_window(p, window_bars) for p in params)
    return request.start - timedelta(seconds=INTERVAL_SECONDS[request.interval] * (2 * bars + 10))


def _save(store: Store, run: SimulationRun, clock: Clock, **changes: Any) -> SimulationRun:
    updated = run.model_copy(update={**changes, "updated_at": clock.now()})
    store.container(CONTAINER).replace(updated.to_doc())
    return updated


class _ProgressWriter:
    """The engine's progress callback: keeps the latest count, writes it throttled."""

    def __init__(self, store: Store, run: SimulationRun, clock: Clock) -> None:
        self.store, self.run, self.clock = store, run, clock
        self._last_write = time.monotonic()
        self._last_percent = 0.0

    def __call__(self, done: int, total: int) -> None:
        percent = round(100.0 * done / total, 1) if total else 100.0
        progress = RunProgress(bars_done=done, bars_total=total, percent=percent)
        self.run = self.run.model_copy(update={"progress": progress})
        now = time.monotonic()
        if percent - self._last_percent >= PROGRESS_STEP or now - self._last_write >= PROGRESS_EVERY_S:
            self.run = _save(self.store, self.run, self.clock)
            self._last_write, self._last_percent = now, percent


def market_loader(market: MarketData, page: int = 1000) -> CandlesLoader:
    """A :data:`CandlesLoader` paging through ``market.candles`` (closed candles only)."""

    def load(symbol: str, interval: str, start: datetime, end: datetime) -> CandleSeries:
        columns: list[list[float]] = [[] for _ in range(5)]
        times: list[int] = []
        cursor, last = start, end - timedelta(milliseconds=1)
        while cursor <= last:
            candles = market.candles(symbol, interval, start=cursor, end=last, limit=page)
            fresh = [c for c in candles if cursor <= c.open_time <= last]
            for c in fresh:
                times.append(to_ms(c.open_time))
                for column, value in zip(columns, (c.open, c.high, c.low, c.close, c.volume), strict=True):
                    column.append(value)
            if len(candles) < page or not fresh:
                break
            cursor = fresh[-1].open_time + timedelta(milliseconds=1)
        return CandleSeries.from_arrays(np.array(times, dtype=np.int64), *columns)

    return load


def instrument_lookup(market: MarketData) -> Callable[[str], Instrument]:
    """The instrument of a symbol from the market data port (``LookupError`` if unknown)."""

    def lookup(symbol: str) -> Instrument:
        found = market.instruments([symbol])
        if not found:
            raise LookupError(f"unknown symbol {symbol!r}")
        return found[0]

    return lookup
