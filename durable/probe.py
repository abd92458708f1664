"""The diagnostic probe orchestration, its activity, and its HTTP entry points.

Orchestrator code is deterministic: no I/O, time only from ``current_utc_datetime``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict, Field

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.services import probe

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=probe.ORCHESTRATOR)
def diagnostic_probe(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    params = context.get_input() or {}
    recorded = yield context.call_activity(
        probe.RECORD_ACTIVITY,
        {"instanceId": context.instance_id, "requestId": params.get("requestId", "")},
    )
    deadline = context.current_utc_datetime + timedelta(seconds=int(params.get("timeoutSeconds", 300)))
    timer = context.create_timer(deadline)
    ack = context.wait_for_external_event(probe.ACK_EVENT)
    winner = yield context.task_any([ack, timer])
    if winner == ack:
        timer.cancel()
        payload = ack.result
        if isinstance(payload, str):  # the durable client JSON-encodes event data once more
            with contextlib.suppress(ValueError):
                payload = json.loads(payload)
        return {"outcome": "acknowledged", "ack": payload, "record": recorded}
    return {"outcome": "expired", "record": recorded}


@bp.activity_trigger(input_name="payload", activity=probe.RECORD_ACTIVITY)
def record_probe(payload: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    return probe.record_probe(
        rt.store.container("leases"), payload["instanceId"], payload.get("requestId", ""), rt.clock.now()
    )


class ProbeStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: int = Field(default=probe.DEFAULT_TIMEOUT_SECONDS, ge=1, le=probe.MAX_TIMEOUT_SECONDS,
                                 alias="timeoutSeconds")


class ProbeAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=1000)


@api_route(bp, name="start_probe", method="POST", route="diagnostics/probes", role=Role.OPERATOR,
           tenant_scoped=False, request=ProbeStart, durable_client=True, tags=("diagnostics",), success_status=202,
           summary="Start a diagnostic orchestration: an activity, then an ack event or the timeout")
async def start_probe(ctx: ApiContext) -> ApiResponse:
    params = {"timeoutSeconds": ctx.body.timeout_seconds, "requestId": ctx.request_id}
    instance_id = await ctx.client.start_new(probe.ORCHESTRATOR, None, params)
    location = f"/api/diagnostics/probes/{instance_id}"
    return ApiResponse({"id": instance_id, "status": location}, status=202, headers={"location": location})


async def _probe_status(ctx: ApiContext, instance_id: str) -> Any:
    status = await ctx.client.get_status(instance_id)
    if status is None or status.runtime_status is None:
        raise HttpProblem(404, "Probe not found", f"No probe with id {instance_id!r}.")
    return status


@api_route(bp, name="get_probe", method="GET", route="diagnostics/probes/{instanceId}", role=Role.OPERATOR,
           tenant_scoped=False, durable_client=True, tags=("diagnostics",), summary="A probe's status and output")
async def get_probe(ctx: ApiContext) -> ApiResponse:
    instance_id = ctx.route_params["instanceId"]
    status = await _probe_status(ctx, instance_id)
    completed = status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    # A failed instance's output carries the exception and its traceback: never return it.
    return ApiResponse({
        "id": instance_id,
        "runtimeStatus": status.runtime_status.value,
        "output": status.output if completed else None,
        "createdTime": status.created_time,
        "lastUpdatedTime": status.last_updated_time,
    })


@api_route(bp, name="ack_probe", method="POST", route="diagnostics/probes/{instanceId}/ack", role=Role.OPERATOR,
           tenant_scoped=False, request=ProbeAck, durable_client=True, tags=("diagnostics",), success_status=202,
           summary="Answer a waiting probe (409 when it no longer waits)")
async def ack_probe(ctx: ApiContext) -> ApiResponse:
    instance_id = ctx.route_params["instanceId"]
    status = await _probe_status(ctx, instance_id)
    if status.runtime_status != df.OrchestrationRuntimeStatus.Running:
        raise HttpProblem(409, "Probe not waiting", f"Probe {instance_id!r} is {status.runtime_status.value}.")
    payload = {"requestId": ctx.request_id, "by": ctx.body.by or ctx.caller.user_id, "note": ctx.body.note}
    try:
        await ctx.client.raise_event(instance_id, probe.ACK_EVENT, payload)
    except Exception:  # the SDK raises a bare Exception when the instance finished meanwhile (410)
        after = await ctx.client.get_status(instance_id)
        if after is not None and after.runtime_status != df.OrchestrationRuntimeStatus.Running:
            raise HttpProblem(409, "Probe not waiting", f"Probe {instance_id!r} finished meanwhile.") from None
        raise
    return ApiResponse({"id": instance_id, "accepted": True}, status=202)
