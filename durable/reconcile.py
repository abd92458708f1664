"""The ``reconcile_account`` orchestration and its activities.

The orchestrator only sequences: it does no I/O and reads no clock (the run id comes
from ``new_uuid``, replay-safe). Every read and write is an activity, each safe to run
twice, retried on failure: diff (read both sides, store the run), halt the profiles an
unsafe drift affects (before any repair: safety first), repair the safe drifts, halt
again if a repair failed for good, finish. A failing step ends the run as ``failed``
with the reason; the next scheduled run starts over from a fresh diff.

One instance per account at a time: the instance id is derived from the account
(``shared.services.reconciliation.instance_id``) and the host refuses to start an id
that is still running.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from shared.bootstrap import runtime
from shared.services import reconciliation as rec
from shared.services.order_records import ExecutionContext

bp = df.Blueprint()

MAX_ERROR_LENGTH = 300


def _context() -> ExecutionContext:
    rt = runtime()
    return ExecutionContext(store=rt.store, market=rt.market, exchange_for=rt.exchange_for, clock=rt.clock)


def _retry() -> Any:
    return df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


def _short(exc: Exception) -> str:
    """The failure as operators see it on the run: its first line, bounded (the SDK puts
    the activity's error text in the message; tracebacks stay in the logs)."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:MAX_ERROR_LENGTH]


@bp.orchestration_trigger(context_name="context", orchestration=rec.ORCHESTRATOR)
def reconcile_account(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    params = dict(context.get_input() or {})
    params.update(runId=str(context.new_uuid()), instanceId=context.instance_id)
    error: str | None = None
    try:
        summary = yield context.call_activity_with_retry(rec.DIFF_ACTIVITY, _retry(), params)
        if summary["unsafe"]:
            yield context.call_activity_with_retry(rec.HALT_ACTIVITY, _retry(), params)
        if summary["repairs"]:
            repaired = yield context.call_activity_with_retry(rec.REPAIR_ACTIVITY, _retry(), params)
            if repaired["unsafe"] > summary["unsafe"]:  # a repair failed for good: halt for it too
                yield context.call_activity_with_retry(rec.HALT_ACTIVITY, _retry(), params)
    except Exception as exc:
        error = _short(exc)
    result: dict[str, Any] = yield context.call_activity_with_retry(rec.FINISH_ACTIVITY, _retry(),
                                                                    {**params, "error": error})
    return result


@bp.activity_trigger(input_name="payload", activity=rec.DIFF_ACTIVITY)
def reconciliation_diff(payload: dict[str, Any]) -> dict[str, Any]:
    return rec.diff_account(_context(), payload)


@bp.activity_trigger(input_name="payload", activity=rec.HALT_ACTIVITY)
def reconciliation_halt(payload: dict[str, Any]) -> list[str]:
    return rec.halt_for_drifts(_context(), payload)


@bp.activity_trigger(input_name="payload", activity=rec.REPAIR_ACTIVITY)
def reconciliation_repair(payload: dict[str, Any]) -> dict[str, Any]:
    return rec.repair_drifts(_context(), payload)


@bp.activity_trigger(input_name="payload", activity=rec.FINISH_ACTIVITY)
def reconciliation_finish(payload: dict[str, Any]) -> dict[str, Any]:
    return rec.finish_run(_context(), payload)
