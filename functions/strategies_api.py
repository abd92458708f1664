"""Strategies: versions, proposals, AI review, simulations, approval and rollback.

Why the writes start orchestrations instead of doing the work: a review asks a model and
a simulation replays months of candles; neither fits an HTTP request, and an approval
waits for a person for hours. The endpoints validate, check the caller's tenant and role,
and hand over to ``durable.strategy_approval`` (202 with where to look). Approve and
reject are checked here (four eyes, state) so the caller gets a clear 403 / 409 at once;
the orchestration checks again, because an event can only be trusted that far.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from durable.strategy_approval import APPROVAL, DECISION_EVENT, SIMULATION
from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from functions.pagination import PageQuery, list_page
from functions.trading_api import paging_key
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.domain.simulation.models import Gates
from shared.domain.strategy import StrategyParams
from shared.domain.strategy_changes import ChangeProposal, SelfApproval
from shared.ports import Query
from shared.services import ai_review, approval_steps
from shared.services import strategy_changes as changes

bp = df.Blueprint()
TAGS = ("strategies",)
MAX_DECISION_WINDOW_SECONDS = 7 * 24 * 3600


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class StrategyCreate(_Body):
    """A new strategy of the caller's tenant; ``params`` become its version 1."""

    name: str = Field(min_length=1, max_length=200)
    params: StrategyParams


class ProposalRequest(_Body):
    """A human proposal: the complete candidate parameters (a new version)."""

    params: StrategyParams
    note: str = Field(default="", max_length=1000)
    gates: Gates = Field(default_factory=Gates, description="The simulation's approval gates (defaults shown); "
                         "they are recorded with the proposal for the approving operator to see.")
    decision_window_seconds: int = Field(default=24 * 3600, ge=10, le=MAX_DECISION_WINDOW_SECONDS,
                                         description="How long operators have to decide before it expires.")


class ReviewRequest(_Body):
    """Ask the AI (or, without a key, the local advisor) to propose a change."""

    note: str = Field(default="", max_length=1000)
    gates: Gates = Field(default_factory=Gates, description="The approval gates the proposal will be judged by.")
    decision_window_seconds: int = Field(default=24 * 3600, ge=10, le=MAX_DECISION_WINDOW_SECONDS)


class SimulateRequest(_Body):
    """Simulate a candidate version against a baseline (default: the running version)."""

    candidate_version: int = Field(ge=1)
    baseline_version: int | None = Field(default=None, ge=1)


class DecisionRequest(_Body):
    reason: str = Field(min_length=3, max_length=1000, description="Why; kept in the audit trail.")


class RollbackRequest(_Body):
    reason: str = Field(min_length=3, max_length=1000)


class SuggestionsQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    strategy_id: str = Field(min_length=1, max_length=128)


def _proposal_view(p: ChangeProposal) -> dict[str, Any]:
    return p.model_dump(mode="json", by_alias=True)


def _strategy_id(ctx: ApiContext) -> str:
    return ctx.route_params["strategyId"]


def _version(ctx: ApiContext) -> int:
    raw = ctx.route_params.get("version", "")
    if not raw.isdigit() or int(raw) < 1:
        raise HttpProblem(404, "Not found", "No such version.")
    return int(raw)


@api_route(bp, name="strategies_list", method="GET", route="v1/strategies", role=Role.VIEWER, tags=TAGS,
           summary="The tenant's strategies: which version runs, which ran before, the latest")
def list_strategies(ctx: ApiContext) -> dict[str, Any]:
    heads = changes.list_strategies(runtime().store, ctx.caller.tenant_id)
    return {"items": [h.model_dump(mode="json", by_alias=True) for h in heads], "continuation": None}


@api_route(bp, name="strategies_create", method="POST", route="v1/strategies", role=Role.TRADER,
           request=StrategyCreate, tags=TAGS, success_status=201, extra_statuses=(409,),
           summary="Create a strategy (its version 1 runs at once; later changes go through approval)")
def create_strategy(ctx: ApiContext) -> ApiResponse:
    body: StrategyCreate = ctx.body
    head = changes.create_strategy(runtime().store, tenant_id=ctx.caller.tenant_id,
                                   strategy_id=f"s-{uuid.uuid4().hex[:20]}", name=body.name, params=body.params,
                                   actor=ctx.caller.user_id, now=approval_steps.wall_clock(), request_id=ctx.request_id)
    return ApiResponse(head.model_dump(mode="json", by_alias=True), status=201,
                       headers={"location": f"/api/v1/strategies/{head.strategy_id}"})


@api_route(bp, name="strategies_get", method="GET", route="v1/strategies/{strategyId}", role=Role.VIEWER,
           tags=TAGS, summary="One strategy: its head, every version and the recent proposals")
def get_strategy(ctx: ApiContext) -> dict[str, Any]:
    store = runtime().store
    head = changes.require_strategy(store, ctx.caller.tenant_id, _strategy_id(ctx))
    versions = changes.list_versions(store, head.strategy_id)
    proposals = changes.list_proposals(store, head.strategy_id)[:50]
    return {**head.model_dump(mode="json", by_alias=True),
            "versions": [v.model_dump(mode="json", by_alias=True) for v in versions],
            "proposals": [_proposal_view(p) for p in proposals]}


@api_route(bp, name="strategies_propose", method="POST", route="v1/strategies/{strategyId}/proposals",
           role=Role.TRADER, request=ProposalRequest, durable_client=True, tags=TAGS, success_status=202,
           extra_statuses=(404, 409), summary="Propose new parameters: simulated, gated, then an operator decides")
async def propose(ctx: ApiContext) -> ApiResponse:
    body: ProposalRequest = ctx.body
    try:
        proposal = changes.propose(
            runtime().store, tenant_id=ctx.caller.tenant_id, strategy_id=_strategy_id(ctx), params=body.params,
            source="human", actor=ctx.caller.user_id, now=approval_steps.wall_clock(), request_id=ctx.request_id,
            note=body.note, decision_window=timedelta(seconds=body.decision_window_seconds), gates=body.gates)
    except ValueError as exc:
        raise HttpProblem(422, "Validation failed", str(exc),
                          errors=[{"field": "params.kind", "message": str(exc)}]) from None
    await ctx.client.start_new(APPROVAL, proposal.instance_id,
                               {"strategyId": proposal.strategy_id, "version": proposal.version,
                                "requestId": ctx.request_id})
    location = f"/api/v1/strategies/{proposal.strategy_id}"
    return ApiResponse(_proposal_view(proposal), status=202, headers={"location": location})


@api_route(bp, name="strategies_review", method="POST", route="v1/strategies/{strategyId}/review",
           role=Role.TRADER, request=ReviewRequest, durable_client=True, tags=TAGS, success_status=202,
           extra_statuses=(404,), summary="Ask the AI (or the local advisor) for a proposal; it is then "
                                          "simulated and waits for an operator")
async def review(ctx: ApiContext) -> ApiResponse:
    body: ReviewRequest = ctx.body
    head = changes.require_strategy(runtime().store, ctx.caller.tenant_id, _strategy_id(ctx))
    instance_id = f"review-{head.strategy_id}-{uuid.uuid4().hex[:16]}"
    await ctx.client.start_new(APPROVAL, instance_id, {
        "strategyId": head.strategy_id, "tenantId": head.tenant_id, "actor": ctx.caller.user_id,
        "requestId": ctx.request_id, "note": body.note, "decisionWindowSeconds": body.decision_window_seconds,
        "gates": body.gates.to_doc()})
    location = f"/api/v1/ai-suggestions?strategyId={head.strategy_id}"
    return ApiResponse({"instanceId": instance_id, "strategyId": head.strategy_id, "status": "reviewing"},
                       status=202, headers={"location": location})


@api_route(bp, name="strategies_simulate", method="POST", route="v1/strategies/{strategyId}/simulate",
           role=Role.TRADER, request=SimulateRequest, durable_client=True, tags=TAGS, success_status=202,
           extra_statuses=(404,), summary="Simulate a version against a baseline; poll the run for progress")
async def simulate(ctx: ApiContext) -> ApiResponse:
    body: SimulateRequest = ctx.body
    head = changes.require_strategy(runtime().store, ctx.caller.tenant_id, _strategy_id(ctx))
    run = approval_steps.create_simulation(head, candidate_version=body.candidate_version,
                                           baseline_version=body.baseline_version or head.active_version,
                                           actor=ctx.caller.user_id, request_id=ctx.request_id)
    await ctx.client.start_new(SIMULATION, f"simulation-{run['runId']}", {"runId": run["runId"],
                                                                         "requestId": ctx.request_id})
    location = f"/api/v1/simulations/{run['runId']}"
    return ApiResponse(run, status=202, headers={"location": location})


@api_route(bp, name="simulations_get", method="GET", route="v1/simulations/{runId}", role=Role.VIEWER, tags=TAGS,
           summary="A simulation run: progress while it runs, metrics, equity curves and the verdict after")
def get_simulation(ctx: ApiContext) -> dict[str, Any]:
    run = approval_steps.read_simulation(ctx.route_params["runId"], tenant_id=ctx.caller.tenant_id)
    if run is None:
        raise HttpProblem(404, "Not found", "No such simulation run.")
    return run


async def _decide(ctx: ApiContext, decision: Literal["approve", "reject"]) -> ApiResponse:
    body: DecisionRequest = ctx.body
    strategy_id, version = _strategy_id(ctx), _version(ctx)
    try:
        proposal = changes.require_pending_decision(runtime().store, ctx.caller.tenant_id, strategy_id, version,
                                                    ctx.caller.user_id)
    except SelfApproval as exc:
        raise HttpProblem(403, "Forbidden", str(exc)) from None
    except changes.ProposalNotPending as exc:
        raise HttpProblem(409, "Not awaiting a decision", str(exc)) from None
    payload = {"decision": decision, "by": ctx.caller.user_id, "reason": body.reason, "requestId": ctx.request_id}
    try:
        await ctx.client.raise_event(proposal.instance_id, DECISION_EVENT, payload)
    except Exception:  # the SDK raises a bare Exception when the instance is gone (410/404)
        raise HttpProblem(409, "Not awaiting a decision",
                          f"The approval of version {version} is no longer waiting.") from None
    return ApiResponse({"strategyId": strategy_id, "version": version, "decision": decision, "accepted": True},
                       status=202, headers={"location": f"/api/v1/strategies/{strategy_id}"})


@api_route(bp, name="strategies_approve", method="POST", route="v1/strategies/{strategyId}/versions/{version}/approve",
           role=Role.OPERATOR, request=DecisionRequest, durable_client=True, tags=TAGS, success_status=202,
           extra_statuses=(404, 409), summary="Approve a proposal waiting for a decision (not your own)")
async def approve(ctx: ApiContext) -> ApiResponse:
    return await _decide(ctx, "approve")


@api_route(bp, name="strategies_reject", method="POST", route="v1/strategies/{strategyId}/versions/{version}/reject",
           role=Role.OPERATOR, request=DecisionRequest, durable_client=True, tags=TAGS, success_status=202,
           extra_statuses=(404, 409), summary="Reject a proposal waiting for a decision (not your own)")
async def reject(ctx: ApiContext) -> ApiResponse:
    return await _decide(ctx, "reject")


@api_route(bp, name="strategies_rollback", method="POST", route="v1/strategies/{strategyId}/rollback",
           role=Role.OPERATOR, request=RollbackRequest, tags=TAGS, extra_statuses=(404, 409),
           summary="Run the previous version again, in one step (a second rollback undoes it)")
def rollback(ctx: ApiContext) -> dict[str, Any]:
    body: RollbackRequest = ctx.body
    try:
        head = changes.rollback(runtime().store, ctx.caller.tenant_id, _strategy_id(ctx), actor=ctx.caller.user_id,
                                reason=body.reason, now=approval_steps.wall_clock(), request_id=ctx.request_id)
    except ValueError as exc:
        raise HttpProblem(409, "Nothing to roll back to", str(exc)) from None
    return head.model_dump(mode="json", by_alias=True)


@api_route(bp, name="ai_suggestions_list", method="GET", route="v1/ai-suggestions", role=Role.VIEWER,
           query=SuggestionsQuery, tags=TAGS, extra_statuses=(404,),
           summary="A strategy's AI and local-advisor suggestions, newest first, accepted and rejected")
def list_suggestions(ctx: ApiContext) -> dict[str, Any]:
    query: SuggestionsQuery = ctx.query
    rt = runtime()
    changes.require_strategy(rt.store, ctx.caller.tenant_id, query.strategy_id)

    def fetch(q: Query) -> tuple[list[Any], str | None]:
        page = ai_review.list_suggestions(rt.store, query.strategy_id, limit=q.limit or query.limit,
                                          continuation=q.continuation)
        return [s.model_dump(mode="json", by_alias=True) for s in page.items], page.continuation

    return list_page(fetch, Query(), PageQuery(limit=query.limit, continuation=query.continuation),
                     key=paging_key(rt.settings), tenant_id=ctx.caller.tenant_id, route="ai-suggestions",
                     context=query.strategy_id)
