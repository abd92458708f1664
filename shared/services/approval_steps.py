"""The bodies of the approval and simulation activities (``durable.strategy_approval``).

Each step takes and returns plain JSON (what activities carry), reads the runtime's
adapters, and is idempotent: the durable runtime may run it again after a crash, so a
step that already happened returns what it did instead of doing it twice.

Why real time here: proposals expire and operators decide on the wall clock (the
orchestration's timers run on it too), while the simulation reads market time, which is
the replay clock in the demo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from shared.adapters.clock import SystemClock
from shared.bootstrap import Runtime, runtime
from shared.domain.ai.bounds import Params
from shared.domain.ai.prompt import ReviewInputs
from shared.domain.candles import to_ms
from shared.domain.market import INTERVAL_SECONDS, Interval
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import SimulationRequest, SimulationRun
from shared.domain.simulation import score as simulation_score
from shared.domain.simulation.models import Gates
from shared.domain.strategy_changes import ChangeProposal, IllegalProposalTransition, SelfApproval, StrategyHead
from shared.ports import NotFound, Store
from shared.services import ai_review, simulations
from shared.services import strategy_changes as changes
from shared.services.audit import append_audit
from shared.services.local_advisor import OBJECTIVE, objective
from shared.services.strategies import StrategyVersionNotFound, load_version
from shared.services.tenancy import tenant_profiles

SYSTEM = "system:approval"


def wall_clock() -> datetime:
    """Proposals, decisions and expiries are wall-clock facts (see the module docstring)."""
    return SystemClock().now()



def decide_proposal(payload: dict[str, Any]) -> dict[str, Any]:
    """Record the operator's decision; a self-approval is refused and audited, not applied."""
    rt = runtime()
    strategy_id, version = str(payload["strategyId"]), int(payload["version"])
    decider, decision = str(payload.get("by") or ""), str(payload.get("decision") or "")
    reason = str(payload.get("reason") or "")
    proposal, _ = changes.read_proposal(rt.store, strategy_id, version)
    if decision not in ("approve", "reject") or not decider:
        return {"status": "refused", "why": "the decision event names no decider or decision"}
    try:
        recorded = changes.record_decision(rt.store, strategy_id, version, decision=decision, decider=decider,
                                           reason=reason, now=wall_clock(), request_id=payload.get("requestId"))
    except SelfApproval as exc:
        append_audit(rt.store.container("audit"), tenant_id=proposal.tenant_id, action="strategy.decision.refused",
                     actor=decider, target=f"strategy:{strategy_id}", details={"version": version, "why": str(exc)},
                     request_id=payload.get("requestId"), at=wall_clock())
        return {"status": "refused", "why": str(exc)}
    except IllegalProposalTransition:
        current, _ = changes.read_proposal(rt.store, strategy_id, version)
        return {"status": current.status}  # decided before (a replayed activity)
    return {"status": recorded.status}


def activate_proposal(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    head = changes.activate(rt.store, str(payload["strategyId"]), int(payload["version"]), now=wall_clock())
    return {"activeVersion": head.active_version, "previousVersion": head.previous_version}


def expire_proposal(payload: dict[str, Any]) -> dict[str, Any]:
    """The decision window closed: the proposal expires (unless decided meanwhile)."""
    rt = runtime()
    strategy_id, version = str(payload["strategyId"]), int(payload["version"])
    current, _ = changes.read_proposal(rt.store, strategy_id, version)
    if current.status != "awaiting-decision":
        return {"status": current.status}
    expired = changes.advance(rt.store, strategy_id, version, "expired", actor=SYSTEM, now=wall_clock(),
                              detail="no decision before the deadline")
    return {"status": expired.status}


# ---------------------------------------------------------------------------- simulations

#: Bars of market history a proposal is judged on (in and out of sample together).
SIMULATION_BARS = 1500


def _strategy_market(store: Store, head: StrategyHead) -> tuple[str, Interval, RiskLimits]:
    """What the strategy trades: the symbol, interval and risk limits of its first
    profile (a simulation of a strategy nobody trades would judge nothing real)."""
    using = [p for p in tenant_profiles(store, head.tenant_id) if p.strategy_id == head.strategy_id]
    if not using:
        raise NotFound(f"no profile of this tenant trades strategy {head.strategy_id}")
    first = sorted(using, key=lambda p: p.id)[0]
    return first.symbols[0], first.interval, first.risk


def simulation_request(store: Store, market_now: datetime, head: StrategyHead, *, baseline_version: int,
                       candidate_version: int, gates: Gates | None = None) -> SimulationRequest:
    """Baseline vs candidate over the last :data:`SIMULATION_BARS` closed bars of the
    market the strategy trades, with its profile's risk limits and the default gates."""
    symbol, interval, risk = _strategy_market(store, head)
    step = INTERVAL_SECONDS[interval]
    end = datetime.fromtimestamp(int(market_now.timestamp()) // step * step, tz=UTC)
    return SimulationRequest(
        symbol=symbol, interval=interval, start=end - timedelta(seconds=step * SIMULATION_BARS), end=end,
        baseline=changes.version_params(store, head.strategy_id, baseline_version), baseline_version=baseline_version,
        candidate=changes.version_params(store, head.strategy_id, candidate_version),
        candidate_version=candidate_version, risk=risk, gates=gates or Gates())


def run_view(run: SimulationRun) -> dict[str, Any]:
    return {"runId": run.id, **run.model_dump(mode="json", by_alias=True)}


def create_simulation(head: StrategyHead, *, candidate_version: int, baseline_version: int, actor: str,
                      request_id: str | None) -> dict[str, Any]:
    """Store a queued run (the ``simulation_run`` orchestration executes it)."""
    rt = runtime()
    try:
        request = simulation_request(rt.store, rt.clock.now(), head, baseline_version=baseline_version,
                                     candidate_version=candidate_version)
    except StrategyVersionNotFound as exc:
        raise NotFound(str(exc)) from None
    run = simulations.create_run(rt.store, strategy_id=head.strategy_id, request=request, created_by=actor,
                                 now=wall_clock(), request_id=request_id)
    return run_view(run)


def read_simulation(run_id: str, *, tenant_id: str) -> dict[str, Any] | None:
    """The run, if it belongs to a strategy of ``tenant_id`` (else as if unknown)."""
    store = runtime().store
    run = simulations.get_run(store, run_id)
    if run is None or changes.strategy_owner(store, run.strategy_id) != tenant_id:
        return None
    return run_view(run)


def _execute(run_id: str) -> SimulationRun:
    rt = runtime()
    return simulations.execute_run(rt.store, run_id, simulations.market_loader(rt.market), clock=SystemClock(),
                                   instrument_for=simulations.instrument_lookup(rt.market))


def execute_simulation(payload: dict[str, Any]) -> dict[str, Any]:
    run = _execute(str(payload["runId"]))
    report = run.result.report if run.result else None
    return {"runId": run.id, "status": run.status, "verdict": report.verdict if report else None}


def simulate_proposal(payload: dict[str, Any]) -> dict[str, Any]:
    """Simulate the running version against the proposal's, then apply the gates.

    Idempotent: the run id derives from the proposal's orchestration, and a proposal
    already past this step answers from its record."""
    rt = runtime()
    strategy_id, version = str(payload["strategyId"]), int(payload["version"])
    proposal, _ = changes.read_proposal(rt.store, strategy_id, version)
    if proposal.status in ("awaiting-decision", "rejected-by-gates") or proposal.terminal:
        return _simulated(proposal)
    if proposal.status == "proposed":
        proposal = changes.advance(rt.store, strategy_id, version, "simulating", actor=SYSTEM, now=wall_clock(),
                                   detail=f"version {proposal.base_version} against version {version}")
    head = changes.require_strategy(rt.store, proposal.tenant_id, strategy_id)
    request = simulation_request(rt.store, rt.clock.now(), head, baseline_version=proposal.base_version,
                                 candidate_version=version, gates=proposal.gates)
    run = simulations.create_run(rt.store, strategy_id=strategy_id, request=request, created_by=SYSTEM,
                                 now=wall_clock(), key=proposal.instance_id, request_id=proposal.request_id)
    run = _execute(run.id)
    report = run.result.report if run.result else None
    if report is None:
        proposal = changes.advance(rt.store, strategy_id, version, "failed", actor=SYSTEM, now=wall_clock(),
                                   detail=f"the simulation failed: {run.error or 'no report'}",
                                   simulation_run_id=run.id)
        return _simulated(proposal)
    passed = report.verdict == "pass"
    verdict = {"passed": passed, "verdict": report.verdict, "reasons": list(report.reasons)}
    proposal = changes.advance(rt.store, strategy_id, version, "awaiting-decision" if passed else "rejected-by-gates",
                               actor=SYSTEM, now=wall_clock(), detail="; ".join(report.reasons)[:1000],
                               simulation_run_id=run.id, verdict=verdict)
    return _simulated(proposal)


def _simulated(proposal: ChangeProposal) -> dict[str, Any]:
    return {"passed": proposal.status in ("awaiting-decision", "approved", "activated"),
            "runId": proposal.simulation_run_id, "expiresAt": proposal.expires_at.isoformat()}


# ---------------------------------------------------------------------------- review


def _in_sample_scorer(rt: Runtime, head: StrategyHead, request: SimulationRequest
                      ) -> tuple[Callable[[Params], float], ReviewInputs]:
    """The local advisor's objective and the AI's evidence, on the in-sample window only
    (the out-of-sample part stays unseen until the simulation judges the proposal)."""
    instrument = simulations.instrument_lookup(rt.market)(request.symbol)
    load = simulations.market_loader(rt.market)
    history_start = request.start - (request.end - request.start)
    series = load(request.symbol, request.interval, history_start, request.end)
    first = int(np.searchsorted(series.open_time, to_ms(request.start)))
    split = first + int((len(series) - first) * (1 - request.split.out_of_sample_fraction))

    def score(params: Params) -> float:
        m = simulation_score(params, series, interval=request.interval, instrument=instrument, limits=request.risk,
                             fill=request.fill.config(), initial_equity=request.initial_equity, start=first,
                             end=split)
        return objective(m.net_return, m.max_drawdown)

    baseline = simulation_score(request.baseline, series, interval=request.interval, instrument=instrument,
                                limits=request.risk, fill=request.fill.config(), initial_equity=request.initial_equity,
                                start=first, end=split)
    inputs = ReviewInputs(
        metrics={k: v for k, v in baseline.to_doc().items() if isinstance(v, (int, float, str)) or v is None},
        window=f"{request.symbol} {request.interval}, in-sample bars {first}..{split - 1} of {len(series)}",
        notes=[f"objective: {OBJECTIVE} (strategy {head.strategy_id})"])
    return score, inputs


def review_and_propose(payload: dict[str, Any]) -> dict[str, Any]:
    """The AI (with a key) or the local advisor proposes; an accepted suggestion becomes
    a proposal carried by this orchestration. Idempotent per orchestration instance."""
    rt = runtime()
    strategy_id, instance_id = str(payload["strategyId"]), str(payload["instanceId"])
    for existing in changes.list_proposals(rt.store, strategy_id):
        if existing.instance_id == instance_id:
            return {"version": existing.version, "suggestionId": existing.suggestion_id}
    head = changes.require_strategy(rt.store, str(payload["tenantId"]), strategy_id)
    current = load_version(rt.store, strategy_id, head.active_version)
    request = simulation_request(rt.store, rt.clock.now(), head, baseline_version=head.active_version,
                                 candidate_version=head.active_version)
    score, inputs = _in_sample_scorer(rt, head, request)
    actor = str(payload.get("actor") or SYSTEM)
    suggestion = ai_review.propose(rt.store, rt.llm, strategy_id, current, inputs, actor=actor,
                                   request_id=payload.get("requestId"), tenant_id=head.tenant_id, score=score,
                                   max_evaluations=rt.settings.advisor_max_evaluations, now=wall_clock())
    if not suggestion.accepted or suggestion.proposed_params is None:
        why = "; ".join(r.message for r in suggestion.reasons) or "no better parameters found"
        return {"version": None, "suggestionId": suggestion.id, "reason": why[:1000]}
    proposal = changes.propose(
        rt.store, tenant_id=head.tenant_id, strategy_id=strategy_id, params=suggestion.proposed_params,
        source="ai" if suggestion.source == "ai" else "local-advisor", actor=actor, now=wall_clock(),
        request_id=payload.get("requestId"), note=(suggestion.rationale or "")[:1000], suggestion_id=suggestion.id,
        decision_window=timedelta(seconds=int(payload.get("decisionWindowSeconds") or 86400)),
        instance_id=instance_id, gates=Gates.from_doc(payload["gates"]) if payload.get("gates") else None)
    return {"version": proposal.version, "suggestionId": suggestion.id}
