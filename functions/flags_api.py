"""Admin API for feature flags: list them, switch one (ETag / If-Match like controls).

Flags live in ``controls`` (partition ``flags``, id = flag name, ``enabled``), where
``GET /api/feature-flags`` reads them for every surface. Why If-Match: two admins
switching the same flag must not silently overwrite each other; creating a flag that
does not exist yet needs none. Every switch is audited and published on the ``global``
event stream, so open dashboards and phones pick it up within seconds.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.ports import NotFound, OrderBy, PreconditionFailed, Query
from shared.services.audit import append_audit
from shared.services.events import GLOBAL_STREAM, publish

bp = func.Blueprint()
log = logging.getLogger("halyard.flags")

FLAG_SCOPE: Final = "flags"
FLAG_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class FlagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in doc.items() if not k.startswith("_")}, "etag": doc["_etag"]}


@api_route(bp, name="admin_list_feature_flags", tenant_scoped=False,
           method="GET", route="admin/feature-flags", role=Role.OPERATOR,
           tags=("admin",), summary="Stored feature flags, with ETags")
def list_flags(ctx: ApiContext) -> dict[str, Any]:
    page = runtime().store.container("controls").query(Query(order_by=OrderBy("id"), limit=500),
                                                       partition_key=FLAG_SCOPE)
    return {"items": [_view(d) for d in page.items]}


@api_route(bp, name="admin_set_feature_flag", tenant_scoped=False,
           method="PUT", route="admin/feature-flags/{name}", role=Role.ADMIN,
           request=FlagChange, tags=("admin",), summary="Switch a feature flag on or off (If-Match when it exists)")
def set_flag(ctx: ApiContext) -> ApiResponse:
    name = ctx.route_params["name"]
    if not re.match(FLAG_NAME, name):
        raise HttpProblem(422, "Validation failed", "Invalid flag name", errors=[
            {"field": "name", "message": "1-64 of letters, digits, '_', '.', '-'"}])
    body: FlagChange = ctx.body
    rt = runtime()
    now = rt.clock.now()
    controls = rt.store.container("controls")
    if_match = (ctx.req.headers.get("if-match") or "").strip() or None
    try:
        current: dict[str, Any] | None = controls.read(name, FLAG_SCOPE)
    except NotFound:
        current = None
    if current is not None and if_match is None:
        raise HttpProblem(428, "Precondition required", f"flag {name} exists: send If-Match with its ETag")
    if current is None and if_match not in (None, "*"):
        raise PreconditionFailed(f"flag {name} does not exist")
    version = int(current.get("version") or 0) + 1 if current else 1
    doc = {"id": name, "scope": FLAG_SCOPE, "kind": "feature-flag", "enabled": body.enabled,
           "actor": ctx.caller.user_id, "updatedAt": now.isoformat(), "version": version,
           "requestId": ctx.request_id}
    saved = controls.create(doc) if current is None else controls.replace(doc, if_match=if_match)  # stale -> 412
    append_audit(rt.store.container("audit"), tenant_id=ctx.caller.tenant_id,
                 action=f"flag.{'enabled' if body.enabled else 'disabled'}", actor=ctx.caller.user_id,
                 target=f"{FLAG_SCOPE}/{name}",
                 details={"version": version, "previous": current.get("enabled") if current else None},
                 request_id=ctx.request_id, at=now)
    view = _view(saved)
    try:
        publish(rt.store, GLOBAL_STREAM, "flags.changed", view, now, ctx.request_id)
    except Exception:  # the flag is stored and audited; a lost notification must not undo that
        log.exception("could not publish flags.changed for %s", name)
    return ApiResponse(view, headers={"etag": saved["_etag"]})
