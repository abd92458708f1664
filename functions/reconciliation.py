"""Reconciliation entry points: the 5-minute scheduler (timer) and the admin API.

The timer starts ``reconcile_account`` for every account with the account's own
instance id, skipping an account whose run is still going (and the host refuses a
second start of a running id anyway), so one account never has two runs at once.
Operators list an account's runs (``GET /api/admin/reconciliation``) and start one
(``POST /api/admin/reconciliation/run``: audited, 202 with the instance id, 409 while
one runs). Accounts are the caller's tenant's only; another tenant's is "not found".
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from functions.pagination import Paged, PageQuery, decode_continuation, list_page, page_response
from functions.trading_api import paging_key, resolve_account
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.domain.reconciliation import ReconciliationRun
from shared.ports import Query
from shared.request_id import new_request_id
from shared.services import reconciliation as rec
from shared.services.audit import append_audit

bp = df.Blueprint()
log = logging.getLogger("halyard.reconciliation")

SCHEDULE = "0 */5 * * * *"  # NCRONTAB, seconds first: every 5 minutes
LIST_ROUTE = "admin_reconciliation_runs"
_RUNNING = ("Pending", "Running", "ContinuedAsNew", "Suspended")


class RunsQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="One of the tenant's accounts; required when the tenant has several.")


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    account_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="One of the tenant's accounts; required when the tenant has several.")


class RunStarted(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str = Field(description="The orchestration instance id (one per account).")
    account_id: str
    status: str = Field(description="Where the run will be listed.")


async def is_running(client: Any, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    runtime_status = getattr(status, "runtime_status", None) if status is not None else None
    return runtime_status is not None and runtime_status.value in _RUNNING


async def start_for_accounts(client: Any, accounts: list[str], request_id: str) -> dict[str, str]:
    """Start one run per account unless one is going; returns each account's outcome
    (``started``, ``running`` or ``failed``). One account's failure does not stop the rest."""
    outcomes: dict[str, str] = {}
    for account in accounts:
        instance_id = rec.instance_id(account)
        try:
            if await is_running(client, instance_id):
                outcomes[account] = "running"
                continue
            await client.start_new(rec.ORCHESTRATOR, instance_id,
                                   rec.run_input(account, "timer", rec.SCHEDULER_ACTOR, request_id))
            outcomes[account] = "started"
        except Exception:
            # A racing start (409) leaves the account covered; anything else is logged and
            # retried by the next firing in 5 minutes.
            running = False
            try:
                running = await is_running(client, instance_id)
            except Exception:
                log.exception("could not read the status of %s", instance_id)
            if not running:
                log.exception("could not start reconciliation of account %s", account)
            outcomes[account] = "running" if running else "failed"
    return outcomes


@bp.function_name("schedule_reconciliation")
@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def schedule_reconciliation(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    request_id = new_request_id()
    accounts = await asyncio.to_thread(rec.all_accounts, runtime().store)
    outcomes = await start_for_accounts(client, accounts, request_id)
    counts = {o: sum(1 for v in outcomes.values() if v == o) for o in ("started", "running", "failed")}
    log.info(json.dumps({"event": "reconciliation.scheduled", "requestId": request_id, **counts}))


def _runs_page(tenant_id: str, query: RunsQuery) -> dict[str, Any]:
    account = resolve_account(tenant_id, query.account_id)
    key = paging_key(runtime().settings)
    context = json.dumps({"partition": account}, separators=(",", ":"))
    if account is None:  # nothing to list; a foreign or edited token is still refused
        decode_continuation(query.continuation, key=key, tenant_id=tenant_id, route=LIST_ROUTE, context=context)
        return page_response([], None)
    orders = runtime().store.container("orders")

    def fetch(q: Query) -> tuple[list[Any], str | None]:
        page = orders.query(q, partition_key=account)
        return [ReconciliationRun.from_doc(d) for d in page.items], page.continuation

    return list_page(fetch, rec.runs_query(), query, key=key, tenant_id=tenant_id, route=LIST_ROUTE,
                     context=context)


@api_route(bp, name=LIST_ROUTE, method="GET", route="admin/reconciliation", role=Role.OPERATOR, query=RunsQuery,
           response=Paged[ReconciliationRun], tags=("admin",),
           summary="Reconciliation runs of one of the tenant's accounts, newest first: drifts, repairs, match ratio")
def list_runs(ctx: ApiContext) -> dict[str, Any]:
    return _runs_page(ctx.caller.tenant_id, ctx.query)


def _audit_request(tenant_id: str, account: str, actor: str, request_id: str) -> None:
    """Written before anything starts: no admin action without its audit event (if the
    trail cannot be written, the run is not started)."""
    rt = runtime()
    append_audit(rt.store.container("audit"), tenant_id=tenant_id, action="reconciliation.requested", actor=actor,
                 target=f"account:{account}", details={"instanceId": rec.instance_id(account)},
                 request_id=request_id, at=rt.clock.now())


def _already_running(account: str, instance_id: str) -> HttpProblem:
    return HttpProblem(409, "Reconciliation running",
                       f"A reconciliation of account {account} is still running; try again when it ends.",
                       instanceId=instance_id)


@api_route(bp, name="admin_reconciliation_run", method="POST", route="admin/reconciliation/run",
           role=Role.OPERATOR, request=RunStart, response=RunStarted, durable_client=True, tags=("admin",),
           success_status=202, summary="Start a reconciliation of one of the tenant's accounts (409 while one runs)")
async def start_run(ctx: ApiContext) -> ApiResponse:
    body: RunStart = ctx.body
    tenant, actor = ctx.caller.tenant_id, ctx.caller.user_id
    account = await asyncio.to_thread(resolve_account, tenant, body.account_id)
    if account is None:
        raise HttpProblem(404, "Not found", "This tenant has no account to reconcile.")
    instance_id = rec.instance_id(account)
    if await is_running(ctx.client, instance_id):
        raise _already_running(account, instance_id)
    await asyncio.to_thread(_audit_request, tenant, account, actor, ctx.request_id)
    try:
        await ctx.client.start_new(rec.ORCHESTRATOR, instance_id,
                                   rec.run_input(account, "operator", actor, ctx.request_id))
    except Exception:  # the SDK raises a bare Exception on 409: a run started meanwhile
        if await is_running(ctx.client, instance_id):
            raise _already_running(account, instance_id) from None
        raise
    location = f"/api/admin/reconciliation?accountId={quote(account, safe='')}"
    return ApiResponse(RunStarted(id=instance_id, account_id=account, status=location), status=202,
                       headers={"location": location})
