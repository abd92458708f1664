"""Admin API: controls at every scope (with ETag / If-Match) and the audit trail."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.ports import Filter, NotFound, OrderBy, PreconditionFailed, Query
from shared.services import controls_admin as ca

bp = func.Blueprint()


class ControlChange(BaseModel):
    """Set or clear a control. Setting one needs a reason; ``until`` ends it automatically."""

    model_config = ConfigDict(extra="forbid")

    active: bool
    reason: str = Field(default="", max_length=500, validate_default=True)
    until: AwareDatetime | None = None

    @field_validator("reason")
    @classmethod
    def _reason_when_setting(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("active") and len(value.strip()) < 3:
            raise ValueError("a reason of at least 3 characters is required to set a control")
        return value.strip()


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    continuation: str | None = Field(default=None, max_length=2000)


def _if_match(ctx: ApiContext) -> str | None:
    value = ctx.req.headers.get("if-match")
    return value.strip() if value else None


def _change(ctx: ApiContext, target: ca.ControlTarget) -> ApiResponse:
    rt = runtime()
    now = rt.clock.now()
    body: ControlChange = ctx.body
    if body.until is not None and body.until <= now:
        raise HttpProblem(422, "Validation failed", "Invalid body: until", errors=[
            {"field": "until", "message": "must be in the future"}])
    try:
        control, etag = ca.set_control(
            rt.store, target, active=body.active, reason=body.reason, until=body.until,
            actor=ctx.caller.user_id, audit_tenant=ctx.caller.tenant_id, request_id=ctx.request_id,
            if_match=_if_match(ctx), now=now)
    except ca.PreconditionRequired as exc:
        raise HttpProblem(428, "Precondition required", str(exc)) from None
    except PreconditionFailed:
        raise HttpProblem(412, "Precondition failed",
                          "The control changed since you read it; read it again and retry.") from None
    return ApiResponse(ca.control_view(control, etag), headers={"etag": etag})


@api_route(bp, name="admin_set_kill_switch", tenant_scoped=False,
           method="PUT", route="admin/controls/kill-switch", role=Role.ADMIN,
           request=ControlChange, tags=("admin",),
           extra_statuses=(428,), summary="Set or clear the product kill switch")
def set_kill_switch(ctx: ApiContext) -> ApiResponse:
    return _change(ctx, ca.kill_switch())


@api_route(bp, name="admin_set_maintenance", tenant_scoped=False,
           method="PUT", route="admin/controls/maintenance", role=Role.ADMIN,
           request=ControlChange, tags=("admin",),
           extra_statuses=(428,), summary="Set or clear maintenance (surfaces read-only)")
def set_maintenance(ctx: ApiContext) -> ApiResponse:
    return _change(ctx, ca.maintenance())


@api_route(bp, name="admin_set_global_halt", tenant_scoped=False,
           method="PUT", route="admin/controls/global-halt", role=Role.OPERATOR,
           request=ControlChange, tags=("admin",),
           extra_statuses=(428,), summary="Halt or resume all trading")
def set_global_halt(ctx: ApiContext) -> ApiResponse:
    return _change(ctx, ca.global_halt())


@api_route(bp, name="admin_set_tenant_halt", method="PUT", route="admin/controls/tenant-halt", role=Role.OPERATOR,
           request=ControlChange, tags=("admin",),
           extra_statuses=(428,), summary="Halt or resume trading for the caller's tenant")
def set_tenant_halt(ctx: ApiContext) -> ApiResponse:
    return _change(ctx, ca.tenant_halt(ctx.caller.tenant_id))


@api_route(bp, name="admin_set_profile_halt", method="PUT", route="admin/controls/profiles/{profileId}/halt",
           role=Role.OPERATOR, request=ControlChange, tags=("admin",),
           extra_statuses=(428,),
           summary="Halt or resume one of the caller's tenant's profiles")
def set_profile_halt(ctx: ApiContext) -> ApiResponse:
    profile_id = ctx.route_params["profileId"]
    try:
        runtime().store.container("profiles").read(profile_id, ctx.caller.tenant_id)  # the tenant's own only
    except NotFound:
        raise HttpProblem(404, "Not found", f"No profile {profile_id!r} in your tenant.") from None
    return _change(ctx, ca.profile_halt(profile_id))


def _tenant_profile_ids(tenant_id: str) -> list[str]:
    docs = runtime().store.container("profiles").query(
        Query(where=[Filter("kind", "=", "profile")], limit=500), partition_key=tenant_id).items
    return [str(d["id"]) for d in docs]


@api_route(bp, name="admin_list_controls", method="GET", route="admin/controls", role=Role.OPERATOR,
           tags=("admin",), summary="Product, global, tenant and profile controls visible to the caller, with ETags")
def list_controls(ctx: ApiContext) -> dict[str, Any]:
    found = ca.visible_controls(runtime().store, ctx.caller.tenant_id, _tenant_profile_ids(ctx.caller.tenant_id))
    return {"items": [ca.control_view(c, etag) for c, etag in found]}


@api_route(bp, name="admin_audit", method="GET", route="admin/audit", role=Role.OPERATOR, query=AuditQuery,
           tags=("admin",), summary="The caller's tenant's audit trail, newest first")
def audit(ctx: ApiContext) -> dict[str, Any]:
    query: AuditQuery = ctx.query
    page = runtime().store.container("audit").query(
        Query(where=[Filter("seq", "exists", True)], order_by=OrderBy("seq", descending=True), limit=query.limit,
              continuation=query.continuation), partition_key=ctx.caller.tenant_id)
    items = [{k: v for k, v in doc.items() if not k.startswith("_")} for doc in page.items]
    return {"items": items, "continuation": page.continuation}

