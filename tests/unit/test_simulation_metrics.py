"""Metrics, round trips, ranges and gates, checked against definitions computed here by hand."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from shared.domain.candles import CandleSeries
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import (
    EngineSetup,
    Gates,
    Metrics,
    SegmentResult,
    SimulationRequest,
    Split,
    StrategyResult,
    compare,
    equity_curve,
    metrics,
    round_trips,
    score,
    segments,
    simulate,
)
from shared.domain.simulation.metrics import max_drawdown, sharpe
from shared.domain.strategy import SevenRuleParams, SmaCrossParams
from shared.domain.trading import Side

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"), min_notional=Decimal("5"))


@pytest.fixture(scope="module")
def run():
    candles = CandleSeries.from_csv(DATA / "dmplot_KUCOIN-BTC-USDT_1h.csv")[:3000]
    return simulate(EngineSetup(series=candles, interval="1h", params=SmaCrossParams(), instrument=BTC,
                                start=500, end=2500))


def test_equity_curve_is_cash_plus_position_at_each_close(run):
    curve = equity_curve(run)
    series, setup = run.setup.series, run.setup
    quote, base = setup.initial_quote, Decimal(0)
    fills = iter(run.fills)
    pending = next(fills, None)
    for i, bar in enumerate(range(setup.start, setup.stop)):
        while pending is not None and pending.bar <= bar:
            notional = pending.price * pending.qty
            if pending.side is Side.BUY:
                quote, base = quote - notional - pending.fee, base + pending.qty
            else:
                quote, base = quote + notional - pending.fee, base - pending.qty
            pending = next(fills, None)
        expected = float(quote + base * Decimal(repr(float(series.close[bar]))))
        assert curve[i] == pytest.approx(expected, rel=1e-12)
    assert float(run.final_equity) == pytest.approx(curve[-1], rel=1e-12)


def test_round_trips_add_up_to_the_cash_change(run):
    trades = round_trips(run)
    assert len(trades) >= 5
    closed = [(t, t.pnl) for t in trades if t.pnl is not None]
    open_cost = sum((t.qty * t.entry_price + t.fees for t in trades if t.pnl is None), Decimal(0))
    assert run.quote == run.setup.initial_quote + sum((pnl for _, pnl in closed), Decimal(0)) - open_cost
    for t, pnl in closed:
        assert t.exit_time is not None and t.exit_time > t.entry_time
        assert t.return_pct == pytest.approx(float(pnl / (t.qty * t.entry_price + t.fees / 2)) * 100, rel=1e-3)


def test_metrics_follow_their_definitions(run):
    m = metrics(run)
    pnls = [t.pnl for t in round_trips(run) if t.pnl is not None]
    curve = equity_curve(run)
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    assert m.trade_count == len(pnls)
    assert m.win_rate == pytest.approx(len(wins) / len(pnls))
    assert m.profit_factor == pytest.approx(float(sum(wins, Decimal(0)) / -sum(losses, Decimal(0))))
    assert m.net_return == pytest.approx(float(run.final_equity) / 10000 - 1)
    assert m.bars == 2000
    peak, worst = -math.inf, 0.0
    for value in curve:
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    assert m.max_drawdown == pytest.approx(worst)
    returns = [b / a - 1 for a, b in itertools.pairwise(curve)]
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    assert m.sharpe == pytest.approx(mean / std * math.sqrt(365 * 24), rel=1e-9)
    held = sum(1 for i in range(run.setup.start, run.setup.stop) if _base_at(run, i) > 0)
    assert m.exposure == pytest.approx(held / 2000)
    assert m.fees_paid == sum((f.fee for f in run.fills), Decimal(0))


def _base_at(run, bar: int) -> Decimal:
    base = Decimal(0)
    for f in run.fills:
        if f.bar <= bar:
            base += f.qty if f.side is Side.BUY else -f.qty
    return base


def test_degenerate_curves():
    assert max_drawdown(np.array([])) == 0.0
    assert max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
    assert max_drawdown(np.array([2.0, 1.0, 4.0, 3.0])) == pytest.approx(0.5)
    assert sharpe(np.array([5.0, 5.0, 5.0, 5.0]), 3600) == 0.0


def test_segments_cut_in_sample_out_of_sample_and_folds():
    ins, oos, folds = segments(100, 1100, Split(out_of_sample_fraction=0.3, folds=3))
    assert (ins.start, ins.end, oos.start, oos.end) == (100, 800, 800, 1100)
    assert [(f.start, f.end) for f in folds] == [(800, 900), (900, 1000), (1000, 1100)]
    assert segments(0, 10, Split())[2] == []


def _metrics(ret: float, dd: float = 0.1, trades: int = 10) -> Metrics:
    return Metrics(net_return=ret, max_drawdown=dd, win_rate=0.5, sharpe=1.0, trade_count=trades,
                   profit_factor=1.2, exposure=0.5, final_equity=Decimal(10000) * Decimal(1 + ret),
                   fees_paid=Decimal(1), bars=100, orders_rejected=0, open_position=Decimal(0))


def _result(ins: float, oos: float, folds: tuple[float, ...] = (), **kw) -> StrategyResult:
    when = datetime(2024, 1, 1, tzinfo=UTC)

    def seg(label: str, ret: float) -> SegmentResult:
        return SegmentResult(label=label, start=when, end=when, metrics=_metrics(ret, **kw), equity_curve=[],
                             trades=[])

    return StrategyResult(params=SmaCrossParams(), in_sample=seg("in-sample", ins), out_of_sample=seg("oos", oos),
                          folds=[seg(f"fold-{i}", r) for i, r in enumerate(folds)])


def test_gates_pass_only_when_all_pass():
    gates = Gates(min_return_edge=0.0, max_drawdown=0.2, min_trades=5, min_fold_share=0.5, max_overfit_gap=0.1)
    good = compare(_result(0.0, 0.01, (0.0, 0.0)), _result(0.05, 0.02, (0.01, -0.01)), gates)
    assert good.verdict == "pass" and good.reasons == ["Every gate passed."]
    assert [g.gate for g in good.gates] == ["oos-return-vs-baseline", "max-drawdown", "min-trades",
                                            "walk-forward-folds", "overfit-gap"]
    worse = compare(_result(0.0, 0.03), _result(0.0, 0.02), gates)
    assert worse.verdict == "fail"
    # with no folds the fold gate judges the out-of-sample range as one fold
    assert [g.gate for g in worse.gates if not g.passed] == ["oos-return-vs-baseline", "walk-forward-folds"]
    assert "short of the required" in worse.reasons[0]
    risky = compare(_result(0.0, 0.0), _result(0.0, 0.0, dd=0.3, trades=2), gates)
    assert [g.gate for g in risky.gates if not g.passed] == ["max-drawdown", "min-trades"]
    overfit = compare(_result(0.0, 0.0), _result(0.5, 0.0), gates)
    assert [g.gate for g in overfit.gates if not g.passed] == ["overfit-gap"]
    off = compare(_result(0.0, 0.5), _result(0.0, 0.0, dd=0.9, trades=0), Gates(min_return_edge=None,
                                                                                max_drawdown=None, min_trades=None))
    assert off.verdict == "pass" and off.gates == []


def test_request_round_trips_through_its_stored_form():
    request = SimulationRequest(symbol="BTCUSDT", interval="1h", start=datetime(2024, 1, 1, tzinfo=UTC),
                                end=datetime(2024, 2, 1, tzinfo=UTC), baseline=SmaCrossParams(),
                                candidate=SevenRuleParams(rsi_max=75), instrument=BTC)
    doc = request.to_doc()
    assert doc["initialEquity"] == "10000" and doc["candidate"]["kind"] == "seven-rule"
    assert SimulationRequest.from_doc(doc) == request
    with pytest.raises(ValueError, match="end must be after start"):
        SimulationRequest(symbol="BTCUSDT", interval="1h", start=datetime(2024, 2, 1, tzinfo=UTC),
                          end=datetime(2024, 1, 1, tzinfo=UTC), baseline=SmaCrossParams())


def test_score_is_the_simulation_of_the_range(run):
    series = run.setup.series
    m = score(SmaCrossParams(), series, interval="1h", instrument=BTC, start=500, end=2500)
    assert m == metrics(run)
    faster = score(SmaCrossParams(fast=5, slow=20), series, interval="1h", instrument=BTC, start=500, end=2500,
                   limits=RiskLimits(), fill=FillModelConfig())
    assert faster.trade_count > m.trade_count
