"""Simulation runs in the store: created, executed with progress, fetched by id alone."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.replay_market import ReplayMarketData, load_demo_market
from shared.adapters.sqlite_container import SqliteContainer
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.candles import to_ms
from shared.domain.simulation import DEFAULT_WINDOW_BARS, Gates, SimulationRequest, SimulationRun, Split, run_request
from shared.domain.strategy import SevenRuleParams, SmaCrossParams
from shared.services import simulations as sims
from shared.services.ticks import WINDOW_BARS

NOW = datetime(2024, 7, 14, tzinfo=UTC)


class Recorded:
    """The percent of every run document written (the SQLite container's ``replace``)."""

    def __init__(self) -> None:
        self.progress: list[float] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    seen = Recorded()
    real = SqliteContainer.replace

    def replace(self: SqliteContainer, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        if item.get("kind") == "simulation-run":
            seen.progress.append(item["progress"]["percent"])
        return real(self, item, if_match=if_match)

    monkeypatch.setattr(SqliteContainer, "replace", replace)
    return seen


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    inner = SqliteStore(tmp_path / "s.sqlite")
    yield inner
    inner.close()


@pytest.fixture(scope="module")
def market() -> ReplayMarketData:
    return load_demo_market(ManualClock(NOW))


def request(**changes: Any) -> SimulationRequest:
    fields: dict[str, Any] = dict(symbol="BTCUSDT", interval="1h", start=datetime(2023, 9, 1, tzinfo=UTC),
                                  end=datetime(2024, 3, 1, tzinfo=UTC), baseline=SmaCrossParams(),
                                  candidate=SevenRuleParams(rsi_max=75), split=Split(folds=2),
                                  gates=Gates(min_trades=3))
    return SimulationRequest(**{**fields, **changes})


def test_window_length_is_the_ticks():
    assert DEFAULT_WINDOW_BARS == WINDOW_BARS


def test_a_run_is_found_by_its_id_alone(store: SqliteStore):
    run = sims.create_run(store, strategy_id="demo-seven-rule", request=request(), created_by="user:1", now=NOW,
                          request_id="req-1")
    assert run.status == "queued" and sims.strategy_of(run.id) == "demo-seven-rule"
    assert sims.get_run(store, run.id) == run
    other = sims.create_run(store, strategy_id="demo-seven-rule", request=request(), created_by="user:1", now=NOW)
    assert other.id != run.id
    assert {r.id for r in sims.list_runs(store, "demo-seven-rule")} == {run.id, other.id}
    assert sims.get_run(store, "sim-0123456789abcdef0123-nope") is None
    assert sims.get_run(store, "not-a-run-id") is None
    assert sims.get_run(store, "version:000001") is None


def test_creating_with_a_key_is_idempotent(store: SqliteStore):
    first = sims.create_run(store, strategy_id="s1", request=request(), created_by="a", now=NOW, key="instance-7")
    again = sims.create_run(store, strategy_id="s1", request=request(initial_equity=5), created_by="b", now=NOW,
                            key="instance-7")
    assert again == first
    with pytest.raises(ValueError, match="run id"):
        sims.create_run(store, strategy_id="has/slash", request=request(), created_by="a", now=NOW)


def test_execute_stores_the_result_and_reports_progress(store: SqliteStore, market: ReplayMarketData,
                                                        recorded: Recorded):
    clock = ManualClock(NOW)
    run = sims.create_run(store, strategy_id="demo-seven-rule", request=request(), created_by="a", now=NOW)
    done = sims.execute_run(store, run.id, sims.market_loader(market), clock=clock,
                            instrument_for=sims.instrument_lookup(market))
    assert done.status == "succeeded", done.error
    assert done.finished_at is not None and done.started_at is not None
    assert done.progress.percent == 100.0 and done.progress.bars_done == done.progress.bars_total > 0
    assert sims.get_run(store, run.id) == done
    # running, then throttled progress steps, then the result
    assert recorded.progress[0] == 0.0 and recorded.progress[-1] == 100.0
    assert len(recorded.progress) >= 4 and recorded.progress == sorted(recorded.progress)
    result = done.result
    assert result is not None and result.report is not None and result.candidate is not None
    assert [s.label for s in result.candidate.folds] == ["fold-1", "fold-2"]
    assert result.report.verdict in ("pass", "fail") and result.report.gates
    assert result.first_candle == datetime(2023, 9, 1, tzinfo=UTC)
    # the stored result is the domain's answer on the same candles
    series = market.series("BTCUSDT")
    direct = run_request(request(), series, market.instruments(["BTCUSDT"])[0], window_bars=WINDOW_BARS)
    assert direct.baseline.out_of_sample.metrics == result.baseline.out_of_sample.metrics
    assert direct.candidate is not None and direct.candidate.folds == result.candidate.folds
    # a finished run is not run again
    assert sims.execute_run(store, run.id, _explode, clock=clock) == done


def _explode(*args: Any) -> Any:
    raise AssertionError("a finished run must not load candles again")


def test_a_failure_is_recorded_on_the_run(store: SqliteStore, market: ReplayMarketData):
    run = sims.create_run(store, strategy_id="s2", request=request(symbol="ETHUSDT"), created_by="a", now=NOW)
    failed = sims.execute_run(store, run.id, sims.market_loader(market), clock=ManualClock(NOW),
                              instrument_for=sims.instrument_lookup(market))
    assert failed.status == "failed" and failed.error is not None and "ETHUSDT" in failed.error
    assert sims.get_run(store, run.id) == failed
    with pytest.raises(sims.RunNotFound):
        sims.execute_run(store, sims.run_id_for("s2"), _explode, clock=ManualClock(NOW))


def test_market_loader_pages_through_the_range(market: ReplayMarketData):
    start, end = datetime(2023, 9, 1, tzinfo=UTC), datetime(2023, 12, 1, tzinfo=UTC)
    loaded = sims.market_loader(market, page=250)("BTCUSDT", "1h", start, end)
    expected = market.series("BTCUSDT").between(to_ms(start), to_ms(end))
    assert len(loaded) == len(expected) > 2000
    for column in ("open_time", "open", "high", "low", "close", "volume"):
        assert (getattr(loaded, column) == getattr(expected, column)).all()


def test_a_stored_run_stays_far_below_the_cosmos_item_limit(market: ReplayMarketData):
    """Cosmos DB refuses items over 2 MB: a year of hourly bars, two strategies, 20 folds."""
    big = request(start=datetime(2023, 7, 20, tzinfo=UTC), end=datetime(2024, 7, 13, tzinfo=UTC),
                  baseline=SmaCrossParams(fast=3, slow=7), split=Split(out_of_sample_fraction=0.5, folds=20))
    result = run_request(big, market.series("BTCUSDT"), market.instruments(["BTCUSDT"])[0])
    run = SimulationRun(id=sims.run_id_for("s"), strategy_id="s", request=big, result=result, created_by="a",
                        created_at=NOW, updated_at=NOW)
    size = len(json.dumps(run.to_doc()))
    assert result.baseline.in_sample.trades_omitted > 0  # enough trades for the cap to matter
    assert size < 1_000_000, size
