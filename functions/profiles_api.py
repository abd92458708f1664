"""Strategy profiles: CRUD under ``/api/v1/profiles`` for the caller's tenant.

Why If-Match on every change: a dashboard and a phone (or two traders) may edit the
same profile; a write conditional on the ETag the editor read cannot silently undo the
other's change (412, read again). The tenant comes from the token and the id from the
route, so neither can be moved by a body.

Why accounts are checked across tenants: which tenant owns an account is derived from
its profiles (``shared.services.tenancy``), so a profile naming another tenant's account
would hand that account's orders to its author. Such a write is refused, and the first
profile naming an account claims it for its tenant for good (a deleted profile does not
free its account's history for someone else).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.domain.market import Interval
from shared.domain.profiles import Profile, RiskLimits
from shared.ports import Filter, NotFound, OrderBy, PreconditionFailed, Query, Store
from shared.services.audit import append_audit
from shared.services.events import publish, tenant_stream
from shared.services.listing import all_items
from shared.services.strategies import StrategyVersionNotFound, load_version
from shared.services.strategy_changes import strategy_owner
from shared.services.tenancy import AccountTaken, claim_account

bp = func.Blueprint()
log = logging.getLogger("halyard.profiles")


class ProfileWrite(BaseModel):
    """What a trader sets; ``id`` and ``tenantId`` are not theirs to choose."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    account_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str = Field(min_length=1, max_length=200)
    exchange: Literal["paper", "bybit"] = "paper"
    mode: Literal["paper", "live"] = "paper"
    symbols: list[str] = Field(min_length=1, max_length=50)
    interval: Interval = "1m"
    strategy_id: str = Field(min_length=1, max_length=128)
    strategy_version: int = Field(ge=1)
    risk: RiskLimits = RiskLimits()
    enabled: bool = True


class ProfileReplace(ProfileWrite):
    """A full replacement. Read-only fields a client echoes back from a GET are accepted
    and ignored, except ``id`` and ``tenantId``, which must not change."""

    id: str | None = None
    tenant_id: str | None = None
    kind: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str | None = None


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in doc.items() if not k.startswith("_")}, "etag": doc["_etag"]}


def _if_match(ctx: ApiContext) -> str:
    value = (ctx.req.headers.get("if-match") or "").strip()
    if not value:
        raise HttpProblem(428, "Precondition required", "Send If-Match with the profile's ETag (read it first).")
    return value


def _invalid(field: str, message: str) -> HttpProblem:
    return HttpProblem(422, "Validation failed", f"Invalid body: {field}",
                       errors=[{"field": field, "message": message}])


def _build(store: Store, body: ProfileWrite, profile_id: str, tenant_id: str, created_at: datetime | None,
           now: datetime) -> Profile:
    """The profile to store, after the checks a schema cannot make."""
    if strategy_owner(store, body.strategy_id) not in (None, tenant_id):  # another tenant's: not there for this one
        raise _invalid("strategyId", f"no strategy {body.strategy_id!r}")
    try:
        load_version(store, body.strategy_id, body.strategy_version)
    except StrategyVersionNotFound:
        raise _invalid("strategyVersion", f"strategy {body.strategy_id!r} has no version {body.strategy_version}") \
            from None
    sharing = store.container("profiles").query(
        Query(where=[Filter("kind", "=", "profile"), Filter("accountId", "=", body.account_id)])).items
    if any(d["tenantId"] != tenant_id for d in sharing):
        raise _invalid("accountId", "this account is not available to your tenant")
    if any(d["exchange"] != body.exchange for d in sharing if d["id"] != profile_id):
        raise _invalid("exchange", "the account's other profiles trade on another exchange")
    fields = body.model_dump(include=set(ProfileWrite.model_fields))
    try:
        profile = Profile(id=profile_id, tenant_id=tenant_id, created_at=created_at or now, updated_at=now, **fields)
    except ValidationError as exc:  # the domain's own rules (unique symbols, ...)
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        raise HttpProblem(422, "Validation failed", "Invalid body: " + ", ".join(e["field"] for e in errors),
                          errors=errors) from None
    try:  # last: a body refused for any other reason claims nothing
        claim_account(store, tenant_id, body.account_id, now)
    except AccountTaken:
        raise _invalid("accountId", "this account is not available to your tenant") from None
    return profile


def _read_profile(store: Store, profile_id: str, tenant_id: str) -> dict[str, Any]:
    """The tenant's profile document, or ``NotFound`` (404) for anything else in its partition."""
    doc = store.container("profiles").read(profile_id, tenant_id)
    if doc.get("kind") != "profile":
        raise NotFound(f"no profile {profile_id!r}")
    return doc


def _record(ctx: ApiContext, action: str, profile_id: str, details: dict[str, Any], now: datetime) -> None:
    """Audit (the record of who changed what) and notify the tenant's surfaces."""
    store = runtime().store
    append_audit(store.container("audit"), tenant_id=ctx.caller.tenant_id, action=action, actor=ctx.caller.user_id,
                 target=f"profile:{profile_id}", details=details, request_id=ctx.request_id, at=now)
    try:
        publish(store, tenant_stream(ctx.caller.tenant_id), "profile.changed",
                {"profileId": profile_id, "action": action}, now, ctx.request_id)
    except Exception:
        log.exception("could not publish profile.changed for %s", profile_id)


@api_route(bp, name="profiles_list", method="GET", route="v1/profiles", role=Role.VIEWER, tags=("profiles",),
           summary="The caller's tenant's strategy profiles")
def list_profiles(ctx: ApiContext) -> dict[str, Any]:
    query = Query(where=[Filter("kind", "=", "profile")], order_by=OrderBy("id"), limit=200)
    profiles = runtime().store.container("profiles")
    return {"items": [_view(d) for d in all_items(profiles, query, ctx.caller.tenant_id)]}


@api_route(bp, name="profiles_create", method="POST", route="v1/profiles", role=Role.TRADER, request=ProfileWrite,
           tags=("profiles",), success_status=201, summary="Create a profile in the caller's tenant")
def create_profile(ctx: ApiContext) -> ApiResponse:
    rt = runtime()
    now = rt.clock.now()
    profile = _build(rt.store, ctx.body, f"p-{uuid.uuid4().hex}", ctx.caller.tenant_id, None, now)
    saved = rt.store.container("profiles").create(profile.to_doc())
    _record(ctx, "profile.created", profile.id, {"profile": profile.to_doc()}, now)
    return ApiResponse(_view(saved), status=201,
                       headers={"etag": saved["_etag"], "location": f"/api/v1/profiles/{profile.id}"})


@api_route(bp, name="profiles_get", method="GET", route="v1/profiles/{profileId}", role=Role.VIEWER,
           tags=("profiles",), summary="One of the caller's tenant's profiles, with its ETag")
def get_profile(ctx: ApiContext) -> ApiResponse:
    doc = _read_profile(runtime().store, ctx.route_params["profileId"], ctx.caller.tenant_id)
    return ApiResponse(_view(doc), headers={"etag": doc["_etag"]})


@api_route(bp, name="profiles_replace", method="PUT", route="v1/profiles/{profileId}", role=Role.TRADER,
           request=ProfileReplace, tags=("profiles",), summary="Replace a profile (If-Match required)")
def replace_profile(ctx: ApiContext) -> ApiResponse:
    rt = runtime()
    body: ProfileReplace = ctx.body
    profile_id, tenant_id = ctx.route_params["profileId"], ctx.caller.tenant_id
    current_doc = _read_profile(rt.store, profile_id, tenant_id)
    current = Profile.from_doc(current_doc)
    etag = _if_match(ctx)
    if current_doc["_etag"] != etag:  # before anything is claimed for a write that cannot land
        raise PreconditionFailed(f"profile {profile_id!r} changed since it was read")
    if body.id not in (None, profile_id):
        raise _invalid("id", "a profile's id cannot change")
    if body.tenant_id not in (None, tenant_id):
        raise _invalid("tenantId", "a profile's tenant cannot change")
    now = rt.clock.now()
    profile = _build(rt.store, body, profile_id, tenant_id, current.created_at, now)
    saved = rt.store.container("profiles").replace(profile.to_doc(), if_match=etag)  # stale -> 412
    _record(ctx, "profile.updated", profile_id, {"before": current.to_doc(), "after": profile.to_doc()}, now)
    return ApiResponse(_view(saved), headers={"etag": saved["_etag"]})


@api_route(bp, name="profiles_delete", method="DELETE", route="v1/profiles/{profileId}", role=Role.TRADER,
           tags=("profiles",), success_status=204, summary="Delete a profile (If-Match required)")
def delete_profile(ctx: ApiContext) -> ApiResponse:
    rt = runtime()
    profile_id, tenant_id = ctx.route_params["profileId"], ctx.caller.tenant_id
    current = Profile.from_doc(_read_profile(rt.store, profile_id, tenant_id))
    rt.store.container("profiles").delete(profile_id, tenant_id, if_match=_if_match(ctx))  # stale -> 412
    now = rt.clock.now()
    try:  # an account named only by profiles older than claims: keep it with its tenant now
        claim_account(rt.store, tenant_id, current.account_id, now)
    except AccountTaken:
        log.warning("profile %s named account %s, which another tenant has claimed", profile_id, current.account_id)
    _record(ctx, "profile.deleted", profile_id, {"profile": current.to_doc()}, now)
    return ApiResponse(None, status=204)
