# mypy: disable-error-code="untyped-decorator"
"""A small ``df.DFApp`` used only by the durable runtime tests.

Each orchestrator exercises one behaviour of the local durable runtime (timers vs
events, sequences, fan-out, failures, retries, nondeterminism, restarts). Activities
are named by string constants, as the note on the local runtime advises.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp()

# Module-level knobs and counters the tests read and flip.
TOGGLE: dict[str, str] = {"activity": "add_one"}
CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()


def count_call(key: str) -> int:
    with _calls_lock:
        CALLS[key] = CALLS.get(key, 0) + 1
        return CALLS[key]


# --- an HTTP starter, as the app's HTTP functions use the durable client -----


@app.route(route="start/{name}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


# --- activities -------------------------------------------------------------


@app.activity_trigger(input_name="payload")
def prepare(payload: dict[str, Any]) -> dict[str, Any]:
    return {"prepared": payload["item"]}


@app.activity_trigger(input_name="n")
def add_one(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return n * 2


@app.activity_trigger(input_name="n")
async def square(n: int) -> int:
    await asyncio.sleep(0)
    return n * n


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempt = count_call(f"flaky:{key}")
    if key.startswith("always") or attempt < 3:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@app.activity_trigger(input_name="key")
async def slow_once(key: str) -> str:
    attempt = count_call(f"slow:{key}")
    if attempt == 1:
        await asyncio.sleep(3600)  # interrupted by the test's restart
    return f"done on attempt {attempt}"


# --- orchestrators ----------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def approval_flow(context: df.DurableOrchestrationContext):
    request = context.get_input()
    prepared = yield context.call_activity("prepare", request)
    deadline = context.current_utc_datetime + timedelta(hours=1)
    timer = context.create_timer(deadline)
    decision = context.wait_for_external_event("decision")
    context.set_custom_status("waiting_for_decision")
    winner = yield context.task_any([decision, timer])
    if winner == decision:
        timer.cancel()
        # raise_event double-encodes: the orchestrator receives a JSON string.
        body = json.loads(decision.result)
        status = "approved" if body.get("approved") else "rejected"
        return {"status": status, "prepared": prepared, "by": body.get("by")}
    return {"status": "expired", "prepared": prepared, "at": deadline.isoformat()}


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    start = context.get_input()
    a = yield context.call_activity("add_one", start)
    b = yield context.call_activity("double", a)
    c = yield context.call_activity("add_one", b)
    return [a, b, c]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("square", i) for i in range(count)])
    return {"results": results, "total": sum(results)}


@app.orchestration_trigger(context_name="context")
def failing_caught(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "boom-caught")
    except Exception as exc:
        after = yield context.call_activity("add_one", 41)
        return {"caught": str(exc), "after": after}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def failing_uncaught(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "kaboom-uncaught")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    key = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=30_000, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, key)
    after = yield context.call_activity("add_one", 1)
    return {"result": result, "after": after}


@app.orchestration_trigger(context_name="context")
def retry_fan_out(context: df.DurableOrchestrationContext):
    # Retry timers and re-attempts take sequence ids in between other tasks' ids.
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=5)
    tasks = [context.call_activity_with_retry("flaky", options, f"fan-{i}") for i in range(3)]
    tasks.append(context.call_activity("add_one", 10))
    results = yield context.task_all(tasks)
    doubled = yield context.call_activity("double", 21)
    return {"results": results, "doubled": doubled}


@app.orchestration_trigger(context_name="context")
def toggled(context: df.DurableOrchestrationContext):
    yield context.call_activity(TOGGLE["activity"], 1)
    yield context.wait_for_external_event("go")
    return "done"


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("add_one", context.get_input())
    data = yield context.wait_for_external_event("go")
    return {"first": first, "got": json.loads(data)}


@app.orchestration_trigger(context_name="context")
def interrupted(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("slow_once", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("add_one", context.get_input())
    if value < 3:
        context.continue_as_new(value)
        return None
    return {"final": value}


@app.orchestration_trigger(context_name="context")
def uses_sub_orchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("sequence", 1)
    return result


@app.orchestration_trigger(context_name="context")
def unknown_activity(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:
        return {"error": str(exc)}
    return {"error": None}
