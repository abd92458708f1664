"""The local advisor: parameters proposed by a bounded search when no model is configured.

Why a search and not "no suggestion": the embedded default runs without any key, and the
approval workflow still needs candidates. The advisor proposes what a careful human would
try first: small moves of one parameter at a time, kept if the in-sample score improves.

Why it is held to the AI's limits: every candidate goes through the same
``apply_deltas`` as a model's answer (same ranges, same largest step from the *current*
version, same params validators), so no path can propose more than a review may. The
search is deterministic (fixed parameter order, fixed steps, strict improvement, ties
keep the incumbent) and bounded: at most ``max_evaluations`` calls of ``score``,
including the baseline; a candidate already scored is never scored twice.

``score(params) -> float`` is injected (higher is better): the simulator's in-sample
metric, wired by the caller. A non-finite score counts as the worst possible; an
exception from ``score`` ends the search and is recorded as a failed suggestion.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from shared.domain.ai.answer import apply_deltas
from shared.domain.ai.bounds import ParamBound, Params, bounds_for, current_value, normalize
from shared.domain.ai.suggestion import LOCAL_ADVISOR_MODEL, AdvisorRecord, Reason, Suggestion
from shared.domain.strategy import StrategyVersion, params_hash
from shared.ports import Store
from shared.services.ai_review import Score, new_suggestion_id, save_suggestion

log = logging.getLogger(__name__)

DEFAULT_MAX_EVALUATIONS: Final = 60
HARD_MAX_EVALUATIONS: Final = 1000
MIN_IMPROVEMENT: Final = 1e-9
#: What the search maximises, in words (recorded with every suggestion).
OBJECTIVE: Final = "in-sample net return less half the max drawdown"


def objective(net_return: float, max_drawdown: float) -> float:
    """The advisor's in-sample score: return, with drawdown counted against it (a search
    on return alone walks straight into the riskiest corner of the bounds)."""
    return net_return - max_drawdown / 2
#: A float step this small relative to the parameter's ``abs_step`` ends its refinement.
_FLOAT_STEP_FLOOR: Final = 1 / 8
RISKS: Final = (
    "in-sample fit: the search maximised the in-sample score; only the out-of-sample simulation shows "
    "whether the change generalises",
    "a coordinate search finds a nearby optimum, not the best overall setting",
)


@dataclass(frozen=True)
class SearchResult:
    """The best candidate found (``params is current`` when nothing beat the baseline)."""

    params: Params
    deltas: dict[str, int | float]
    baseline_score: float
    best_score: float
    evaluations: int
    trail: list[dict[str, Any]] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return bool(self.deltas)


def search(current: Params, score: Score, *, max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
           min_improvement: float = MIN_IMPROVEMENT) -> SearchResult:
    """Coordinate search inside the review bounds around ``current``.

    Steps start at half of each parameter's largest step; a pass over every parameter
    tries ``+step`` then ``-step`` (clipped to what one change may reach from
    ``current``) and keeps the first strict improvement; a pass without one halves the
    steps, until they cannot shrink or the evaluation budget is spent.
    """
    if not 1 <= max_evaluations <= HARD_MAX_EVALUATIONS:
        raise ValueError(f"max_evaluations must be in 1..{HARD_MAX_EVALUATIONS}")
    bounds = bounds_for(current)
    origin = {b.wire: current_value(current, b) for b in bounds}
    reach = {b.wire: b.allowed_range(origin[b.wire]) for b in bounds}
    steps = {b.wire: b.max_step(origin[b.wire]) / 2 for b in bounds}
    cache: dict[str, float] = {}
    spent = 0

    def evaluate(params: Params) -> float | None:
        nonlocal spent
        key = params_hash(params)
        if key in cache:
            return cache[key]
        if spent >= max_evaluations:
            return None
        spent += 1
        value = float(score(params))
        cache[key] = value if math.isfinite(value) else -math.inf
        return cache[key]

    baseline = evaluate(current)
    assert baseline is not None  # the budget is at least one
    best, best_score, values = current, baseline, dict(origin)
    trail: list[dict[str, Any]] = []
    while spent < max_evaluations:
        improved = False
        for bound in bounds:
            for direction in (1, -1):
                value = _clip(bound, values[bound.wire] + direction * _step(bound, steps[bound.wire]),
                              reach[bound.wire])
                if value is None or value == values[bound.wire]:
                    continue
                trial = {**values, bound.wire: value}
                candidate, _ = apply_deltas(current, _deltas(bounds, trial, origin))
                if candidate is None:  # breaks a params rule (fast >= slow, ...): not a candidate
                    continue
                result = evaluate(candidate)
                if result is None:
                    break
                if result > best_score + min_improvement:
                    best, best_score, values, improved = candidate, result, trial, True
                    trail.append({"deltas": _deltas(bounds, values, origin), "score": result})
                    break
            if spent >= max_evaluations:
                break
        if not improved and not _shrink(bounds, steps):
            break
    return SearchResult(params=best, deltas=_deltas(bounds, values, origin), baseline_score=baseline,
                        best_score=best_score, evaluations=spent, trail=trail)


def advise(
    store: Store,
    strategy_id: str,
    current: StrategyVersion,
    score: Score,
    *,
    actor: str,
    request_id: str | None = None,
    tenant_id: str | None = None,
    max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
    metric: str = "in-sample score",
    now: datetime | None = None,
) -> Suggestion:
    """Search, then store the outcome as a suggestion with model ``local-advisor``:
    ``accepted`` with the best candidate, ``rejected`` (``no-change``) when nothing beat
    the current version, ``failed`` (``advisor-error``) when ``score`` raised."""
    if current.strategy_id != strategy_id:
        raise ValueError(f"version belongs to strategy {current.strategy_id!r}, not {strategy_id!r}")
    if not 1 <= max_evaluations <= HARD_MAX_EVALUATIONS:  # a caller bug, not a scoring failure
        raise ValueError(f"max_evaluations must be in 1..{HARD_MAX_EVALUATIONS}")
    created_at = now or datetime.now(UTC)
    started = time.monotonic()
    base: dict[str, Any] = {
        "id": new_suggestion_id(created_at), "strategy_id": strategy_id, "tenant_id": tenant_id,
        "source": "local-advisor", "model": LOCAL_ADVISOR_MODEL, "base_version": current.version,
        "base_params": current.params, "created_at": created_at, "created_by": actor, "request_id": request_id,
    }
    try:
        result = search(current.params, score, max_evaluations=max_evaluations)
    except Exception as exc:  # the simulator failed: record it, never lose it
        log.warning("local advisor failed for strategy %s: %s", strategy_id, type(exc).__name__)
        suggestion = Suggestion(**base, status="failed", latency_ms=_elapsed_ms(started), reasons=[
            Reason(code="advisor-error", message=f"scoring failed: {type(exc).__name__}: {str(exc)[:300]}")])
        return save_suggestion(store, suggestion)
    record = AdvisorRecord(metric=metric, evaluations=result.evaluations, max_evaluations=max_evaluations,
                           baseline_score=_finite(result.baseline_score), best_score=_finite(result.best_score),
                           trail=result.trail)
    common = {**base, "latency_ms": _elapsed_ms(started), "advisor": record, "attempts": result.evaluations,
              "rationale": rationale(result, metric), "risks": list(RISKS)}
    if result.improved:
        suggestion = Suggestion(**common, status="accepted", proposed_params=result.params, deltas=result.deltas)
    else:
        suggestion = Suggestion(**common, status="rejected", reasons=[
            Reason(code="no-change", message=f"no candidate within the bounds beat the current {metric} "
                                             f"in {result.evaluations} evaluations")])
    log.info("local advisor strategy=%s version=%d status=%s evaluations=%d", strategy_id, current.version,
             suggestion.status, result.evaluations)
    return save_suggestion(store, suggestion)


def rationale(result: SearchResult, metric: str) -> str:
    """Plain words for the workbench: what moved, and by how much the score changed."""
    if not result.improved:
        return (f"A coordinate search within the review bounds ({result.evaluations} evaluations) found no "
                f"setting that beats the current {metric} ({_fmt(result.baseline_score)}).")
    moves = ", ".join(f"{name} {'+' if delta > 0 else ''}{_fmt(delta)}" for name, delta in result.deltas.items())
    return (f"A coordinate search within the review bounds ({result.evaluations} evaluations) improved the "
            f"{metric} from {_fmt(result.baseline_score)} to {_fmt(result.best_score)} by moving {moves}.")


# ---------------------------------------------------------------- helpers


def _step(bound: ParamBound, step: float) -> float:
    return float(max(1, round(step))) if bound.type == "integer" else step


def _clip(bound: ParamBound, value: float, reach: tuple[float, float]) -> float | None:
    lo, hi = reach
    if lo > hi:  # the current value is outside the bounds: this parameter is left alone
        return None
    return normalize(bound, min(hi, max(lo, value)))


def _shrink(bounds: tuple[ParamBound, ...], steps: dict[str, float]) -> bool:
    """Halve every step that can still shrink; False when none can (the search is done)."""
    shrunk = False
    for bound in bounds:
        current = steps[bound.wire]
        if bound.type == "integer":
            if round(current) > 1:
                steps[bound.wire], shrunk = current / 2, True
        elif current / 2 >= bound.abs_step * _FLOAT_STEP_FLOOR:
            steps[bound.wire], shrunk = current / 2, True
    return shrunk


def _deltas(bounds: tuple[ParamBound, ...], values: dict[str, float],
            origin: dict[str, float]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for bound in bounds:
        delta = normalize(bound, values[bound.wire] - origin[bound.wire])
        if delta != 0:
            out[bound.wire] = int(delta) if bound.type == "integer" else delta
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.6g}"


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
