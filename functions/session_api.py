"""Session API: who am I, which tabs are on, and the clients' telemetry.

Why here and not in the clients: the backend is the only authority, so the caller's
identity is read back from the verified token (never from client state), feature flags
live in the ``controls`` container next to the other switches operators flip, and client
telemetry goes into the same structured logs as everything else, tagged with the request
id and the user, so one trace shows what the user did and what the server answered.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Final

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, ApiResponse, api_route
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.ports import Query

bp = func.Blueprint()
log = logging.getLogger("halyard.telemetry")

FLAG_SCOPE: Final = "flags"
#: The dashboard's and the mobile app's tabs; each is on unless a stored flag turns it off.
DEFAULT_FLAGS: Final[dict[str, bool]] = {
    name: True for name in ("markets", "charts", "orders", "positions", "decisions", "strategies", "admin")}
MAX_EVENTS: Final = 50
MAX_EVENT_BYTES: Final = 4096
MAX_PROPS: Final = 32

EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
PropKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
PropValue = Annotated[str, StringConstraints(max_length=512)] | bool | int | float | None


class Me(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    user_id: str
    tenant_id: str
    display_name: str
    role: str = Field(description="The highest role held (what the role hierarchy grants).")
    roles: list[str]


class FeatureFlags(BaseModel):
    flags: dict[str, bool] = Field(description="Flag name -> enabled; the known tabs are always present.")


class ClientEvent(BaseModel):
    """One client event. ``props`` is flat (scalars only) and bounded, so a buggy or hostile
    client cannot turn the log into a data store."""

    model_config = ConfigDict(extra="forbid")

    name: EventName
    at: AwareDatetime
    props: dict[PropKey, PropValue] = Field(default_factory=dict, max_length=MAX_PROPS)

    @model_validator(mode="after")
    def _bounded(self) -> ClientEvent:
        if len(json.dumps(self.model_dump(mode="json"), separators=(",", ":"))) > MAX_EVENT_BYTES:
            raise ValueError(f"an event must be at most {MAX_EVENT_BYTES} bytes as JSON")
        return self


class TelemetryBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ClientEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class TelemetryAccepted(BaseModel):
    accepted: int


@api_route(bp, name="session_me", method="GET", route="me", role=Role.VIEWER, response=Me, tags=("session",),
           summary="The caller as the token says: user, tenant, roles and display name")
def me(ctx: ApiContext) -> Me:
    caller = ctx.caller
    roles = sorted(caller.roles)
    return Me(user_id=caller.user_id, tenant_id=caller.tenant_id, display_name=caller.display_name or caller.user_id,
              role=caller.role.label, roles=[r.label for r in roles])


def stored_flags() -> dict[str, bool]:
    """Flags from ``controls`` (partition ``flags``, id = flag name, ``enabled``); a doc
    whose ``enabled`` is not a boolean is ignored rather than guessed at."""
    page = runtime().store.container("controls").query(Query(limit=500), partition_key=FLAG_SCOPE)
    return {str(d["id"]): d["enabled"] for d in page.items if isinstance(d.get("enabled"), bool)}


@api_route(bp, name="session_feature_flags", method="GET", route="feature-flags", role=Role.VIEWER,
           response=FeatureFlags, tags=("session",),
           summary="Feature flags: the known tabs (on by default) and any flag an operator stored")
def feature_flags(ctx: ApiContext) -> FeatureFlags:
    return FeatureFlags(flags={**DEFAULT_FLAGS, **stored_flags()})


@api_route(bp, name="session_controls", method="GET", route="v1/controls", role=Role.VIEWER, tags=("session",),
           summary="The controls that gate the caller's surfaces: kill switch, maintenance, global, own tenant "
                   "and own profiles' halts (reason, actor, since, until)")
def visible_controls(ctx: ApiContext) -> dict[str, Any]:
    """What every surface needs at launch to show its banners; later changes come from
    the event feed. Any role may read it: the admin list needs operator."""
    from shared.services import controls_admin as ca
    from shared.services.tenancy import tenant_profiles

    store = runtime().store
    profile_ids = [p.id for p in tenant_profiles(store, ctx.caller.tenant_id)]
    found = ca.visible_controls(store, ctx.caller.tenant_id, profile_ids)
    return {"items": [{k: v for k, v in c.to_doc().items() if k != "requestId"} for c, _ in found]}


@api_route(bp, name="session_telemetry", method="POST", route="telemetry", role=Role.VIEWER, writes=False,
           request=TelemetryBatch, response=TelemetryAccepted, success_status=202, tags=("session",),
           summary="Client telemetry (at most 50 events of 4 KB): logged with the request id, never stored")
def telemetry(ctx: ApiContext) -> ApiResponse:
    batch: TelemetryBatch = ctx.body
    caller = ctx.caller
    for event in batch.events:
        record: dict[str, Any] = {"event": "client.telemetry", "requestId": ctx.request_id,
                                  "userId": caller.user_id, "tenantId": caller.tenant_id,
                                  **event.model_dump(mode="json")}
        log.info(json.dumps(record, separators=(",", ":")))
    return ApiResponse(TelemetryAccepted(accepted=len(batch.events)), status=202)
