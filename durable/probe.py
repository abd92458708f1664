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
import azure.functions as func

from functions.http_kit import HttpProblem, guarded_async, json_response, read_json
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


@bp.route(route="diagnostics/probes", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def start_probe(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def answer(request_id: str) -> func.HttpResponse:
        try:
            params = probe.probe_input(read_json(req), request_id)
        except probe.ProbeInputError as exc:
            raise HttpProblem(400, "Invalid probe request", str(exc)) from None
        instance_id = await client.start_new(probe.ORCHESTRATOR, None, params)
        return json_response(
            {"id": instance_id, "status": f"/api/diagnostics/probes/{instance_id}"},
            request_id,
            status=202,
            headers={"location": f"/api/diagnostics/probes/{instance_id}"},
        )

    return await guarded_async(req, answer)


@bp.route(route="diagnostics/probes/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def get_probe(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def answer(request_id: str) -> func.HttpResponse:
        instance_id = req.route_params["instanceId"]
        status = await client.get_status(instance_id)
        if status is None or status.runtime_status is None:
            raise HttpProblem(404, "Probe not found", f"No probe with id {instance_id!r}.")
        completed = status.runtime_status == df.OrchestrationRuntimeStatus.Completed
        # A failed instance's output carries the exception and its traceback: never return it.
        return json_response(
            {
                "id": instance_id,
                "runtimeStatus": status.runtime_status.value,
                "output": status.output if completed else None,
                "createdTime": status.created_time,
                "lastUpdatedTime": status.last_updated_time,
            },
            request_id,
        )

    return await guarded_async(req, answer)


@bp.route(
    route="diagnostics/probes/{instanceId}/ack", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
@bp.durable_client_input(client_name="client")
async def ack_probe(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def answer(request_id: str) -> func.HttpResponse:
        instance_id = req.route_params["instanceId"]
        body = read_json(req) or {}
        if not isinstance(body, dict):
            raise HttpProblem(400, "Invalid acknowledgement", "body: must be a JSON object")
        status = await client.get_status(instance_id)
        if status is None or status.runtime_status is None:
            raise HttpProblem(404, "Probe not found", f"No probe with id {instance_id!r}.")
        if status.runtime_status != df.OrchestrationRuntimeStatus.Running:
            raise HttpProblem(
                409, "Probe not waiting", f"Probe {instance_id!r} is {status.runtime_status.value}."
            )
        try:
            await client.raise_event(instance_id, probe.ACK_EVENT, {"requestId": request_id, **body})
        except Exception:  # the SDK raises a bare Exception when the instance finished meanwhile (410)
            after = await client.get_status(instance_id)
            if after is not None and after.runtime_status != df.OrchestrationRuntimeStatus.Running:
                raise HttpProblem(409, "Probe not waiting", f"Probe {instance_id!r} finished meanwhile.") from None
            raise
        return json_response({"id": instance_id, "accepted": True}, request_id, status=202)

    return await guarded_async(req, answer)
