"""The ``strategy_change_approval`` and ``simulation_run`` orchestrations and their activities.

Orchestrators are deterministic: no I/O, time only from ``current_utc_datetime``; every
read and write happens in an activity (``shared.services.approval_steps``), and every
activity is idempotent because the durable runtime may run one again after a crash.

Approval: [review by the AI or the local advisor, which proposes] -> simulation of the
running version against the candidate, in and out of sample -> the gates' verdict ->
wait for an operator's ``decision`` event or the expiry timer -> activate or close.
A decision that breaks the four-eyes rule is recorded as refused and the wait goes on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from datetime import datetime
from typing import Any, Final

import azure.durable_functions as df

from shared.services import approval_steps as steps

bp = df.Blueprint()

APPROVAL: Final = "strategy_change_approval"
SIMULATION: Final = "simulation_run"
DECISION_EVENT: Final = "decision"
REVIEW_ACTIVITY: Final = "approval_review"
SIMULATE_ACTIVITY: Final = "approval_simulate"
DECIDE_ACTIVITY: Final = "approval_decide"
ACTIVATE_ACTIVITY: Final = "approval_activate"
EXPIRE_ACTIVITY: Final = "approval_expire"
RUN_SIMULATION_ACTIVITY: Final = "simulation_execute"

#: Activities talk to stores and models that fail now and then; a few spaced retries.
RETRY: Final = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)


def _event_payload(raw: Any) -> dict[str, Any]:
    """The durable client JSON-encodes event data once more: undo that, tolerate both."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    return raw if isinstance(raw, dict) else {}


@bp.orchestration_trigger(context_name="context", orchestration=APPROVAL)
def strategy_change_approval(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    params: dict[str, Any] = context.get_input() or {}
    ref = {"strategyId": params["strategyId"], "requestId": params.get("requestId")}
    version = params.get("version")
    if version is None:  # a review: the AI (or the local advisor) proposes first
        reviewed = yield context.call_activity_with_retry(REVIEW_ACTIVITY, RETRY, {**params,
                                                                                   "instanceId": context.instance_id})
        if reviewed.get("version") is None:
            return {"outcome": "no-proposal", "suggestionId": reviewed.get("suggestionId"),
                    "reason": reviewed.get("reason")}
        version = reviewed["version"]
    ref["version"] = version
    simulated = yield context.call_activity_with_retry(SIMULATE_ACTIVITY, RETRY, ref)
    if not simulated["passed"]:
        return {"outcome": "rejected-by-gates", "version": version, "runId": simulated.get("runId")}
    deadline = datetime.fromisoformat(simulated["expiresAt"])
    timer = context.create_timer(deadline)
    while True:
        decision = context.wait_for_external_event(DECISION_EVENT)
        winner = yield context.task_any([decision, timer])
        if winner != decision:
            yield context.call_activity_with_retry(EXPIRE_ACTIVITY, RETRY, ref)
            return {"outcome": "expired", "version": version}
        recorded = yield context.call_activity_with_retry(
            DECIDE_ACTIVITY, RETRY, {**ref, **_event_payload(decision.result)})
        if recorded["status"] == "refused":
            continue  # a self-approval reached us directly: ignored, keep waiting
        timer.cancel()
        if recorded["status"] != "approved":
            return {"outcome": recorded["status"], "version": version}
        activated = yield context.call_activity_with_retry(ACTIVATE_ACTIVITY, RETRY, ref)
        return {"outcome": "activated", "version": version, "activeVersion": activated["activeVersion"]}


@bp.orchestration_trigger(context_name="context", orchestration=SIMULATION)
def simulation_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """One activity: the run updates its own progress on its stored document."""
    params: dict[str, Any] = context.get_input() or {}
    result = yield context.call_activity_with_retry(RUN_SIMULATION_ACTIVITY, RETRY, params)
    return dict(result)


@bp.activity_trigger(input_name="payload", activity=REVIEW_ACTIVITY)
def approval_review(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.review_and_propose(payload)


@bp.activity_trigger(input_name="payload", activity=SIMULATE_ACTIVITY)
def approval_simulate(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.simulate_proposal(payload)


@bp.activity_trigger(input_name="payload", activity=DECIDE_ACTIVITY)
def approval_decide(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.decide_proposal(payload)


@bp.activity_trigger(input_name="payload", activity=ACTIVATE_ACTIVITY)
def approval_activate(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.activate_proposal(payload)


@bp.activity_trigger(input_name="payload", activity=EXPIRE_ACTIVITY)
def approval_expire(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.expire_proposal(payload)


@bp.activity_trigger(input_name="payload", activity=RUN_SIMULATION_ACTIVITY)
def simulation_execute(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.execute_simulation(payload)
