"""The local advisor: a deterministic, bounded search held to the review's limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.ai.answer import apply_deltas
from shared.domain.ai.bounds import bounds_for, current_value
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, StrategyVersion, params_hash
from shared.services.ai_review import list_suggestions, load_suggestion
from shared.services.local_advisor import advise, search

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
SMA = SmaCrossParams(fast=10, slow=30)


class Recorder:
    """A synthetic in-sample score that remembers every candidate it was asked about."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.seen: list[Any] = []

    def __call__(self, params: Any) -> float:
        self.seen.append(params)
        return float(self.fn(params))


def bowl(fast: float, slow: float):
    """Best at (fast, slow), worse with distance: a smooth single optimum."""
    return lambda p: -((p.fast - fast) ** 2) - (p.slow - slow) ** 2


def within_limits(current, candidate) -> None:
    for bound in bounds_for(current):
        lo, hi = bound.allowed_range(current_value(current, bound))
        assert lo - 1e-9 <= current_value(candidate, bound) <= hi + 1e-9, bound.name


def test_finds_the_optimum_when_it_is_within_reach():
    score = Recorder(bowl(12, 36))
    result = search(SMA, score, max_evaluations=60)
    assert result.params == SmaCrossParams(fast=12, slow=36)
    assert result.deltas == {"fast": 2, "slow": 6} and result.improved
    assert result.best_score == 0 and result.baseline_score == -40
    assert result.evaluations == len(score.seen) <= 60


def test_stops_at_the_largest_step_when_the_optimum_is_beyond_it():
    result = search(SMA, bowl(40, 200), max_evaluations=60)
    assert result.params == SmaCrossParams(fast=15, slow=45)  # 10 + 5, 30 + 15: one review's reach
    params, reasons = apply_deltas(SMA, result.deltas)
    assert reasons == [] and params == result.params


def wide_rsi(p: Any) -> float:
    return float(p.rsi_max - p.rsi_min - abs(p.atr_period - 20))


def test_is_deterministic():
    a = search(SevenRuleParams(), wide_rsi, max_evaluations=40)
    b = search(SevenRuleParams(), wide_rsi, max_evaluations=40)
    assert a == b and a.trail == b.trail


@pytest.mark.parametrize("budget", [1, 2, 5, 17, 60])
def test_never_exceeds_its_budget_nor_scores_a_candidate_twice(budget: int):
    score = Recorder(lambda p: p.ema_fast * 0.01 + p.stop_atr_mult - p.zone_lookback * 0.001)
    result = search(SevenRuleParams(), score, max_evaluations=budget)
    assert len(score.seen) == result.evaluations <= budget
    hashes = [params_hash(p) for p in score.seen]
    assert len(hashes) == len(set(hashes))
    assert score.seen[0] == SevenRuleParams()  # the baseline is scored first


def test_only_valid_candidates_within_the_review_limits_are_scored():
    current = SevenRuleParams(ema_fast=50, ema_slow=60)  # close together: many moves would cross
    score = Recorder(lambda p: p.ema_fast - p.ema_slow + p.exit_atr_mult)  # pulls fast up, slow down
    result = search(current, score, max_evaluations=60)
    for candidate in score.seen:
        within_limits(current, candidate)
        assert candidate.ema_fast < candidate.ema_slow
    assert isinstance(result.params, SevenRuleParams) and result.improved
    assert result.params.ema_fast < result.params.ema_slow
    assert apply_deltas(current, result.deltas) == (result.params, [])


def test_budget_of_one_is_the_baseline_only():
    result = search(SMA, bowl(12, 36), max_evaluations=1)
    assert result.params == SMA and not result.improved and result.evaluations == 1


def test_non_finite_scores_are_the_worst():
    def score(p):
        return math.nan if p.fast != 10 or p.slow != 30 else 1.0

    result = search(SMA, score, max_evaluations=30)
    assert result.params == SMA and not result.improved and result.best_score == 1.0


def test_rejects_a_silly_budget():
    with pytest.raises(ValueError):
        search(SMA, bowl(1, 1), max_evaluations=0)


# ---------------------------------------------------------------- recorded as suggestions


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()


def version(params=SMA) -> StrategyVersion:
    return StrategyVersion(strategy_id="strat", version=4, params=params, created_at=NOW, created_by="alice")


def test_advice_is_stored_as_a_local_advisor_suggestion(store):
    s = advise(store, "strat", version(), bowl(12, 36), actor="alice", request_id="req-adv-0001",
               tenant_id="tenant-a", max_evaluations=60, metric="in-sample Sharpe", now=NOW)
    assert s.status == "accepted" and s.model == "local-advisor" and s.source == "local-advisor"
    assert s.proposed_params == SmaCrossParams(fast=12, slow=36) and s.deltas == {"fast": 2, "slow": 6}
    assert s.advisor is not None and s.advisor.metric == "in-sample Sharpe" and s.advisor.best_score == 0
    assert "in-sample Sharpe from -40 to 0" in (s.rationale or "") and s.risks
    assert s.prompt is None and s.confidence is None  # no model, no invented confidence
    assert load_suggestion(store, "strat", s.id) == s
    assert [x.id for x in list_suggestions(store, "strat").items] == [s.id]


def test_no_improvement_is_recorded_as_no_change(store):
    s = advise(store, "strat", version(), lambda p: 0.0, actor="alice", now=NOW)
    assert s.status == "rejected" and [r.code for r in s.reasons] == ["no-change"] and s.proposed_params is None
    assert load_suggestion(store, "strat", s.id).status == "rejected"


def test_a_failing_score_is_recorded_not_lost(store):
    def broken(params):
        raise ValueError("not enough candles for slow=30")

    s = advise(store, "strat", version(), broken, actor="alice", now=NOW)
    assert s.status == "failed" and s.reasons[0].code == "advisor-error"
    assert "not enough candles" in s.reasons[0].message
    assert load_suggestion(store, "strat", s.id).status == "failed"


def test_advise_checks_its_arguments(store):
    with pytest.raises(ValueError, match="belongs to strategy"):
        advise(store, "other", version(), bowl(1, 1), actor="alice")
    with pytest.raises(ValueError, match="max_evaluations"):
        advise(store, "strat", version(), bowl(1, 1), actor="alice", max_evaluations=0)
    assert list_suggestions(store, "strat").items == []
