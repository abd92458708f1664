"""Operators change controls: kill switch, maintenance and halts at every scope.

Every change is conditional on the etag the operator last saw (``If-Match``), so two
operators cannot silently overwrite each other; creating a control that does not exist
yet needs no etag. Every change is audited with actor, reason and request id, and bumps
the control's version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.controls import (
    GLOBAL_SCOPE,
    HALT_ID,
    KILL_SWITCH_ID,
    MAINTENANCE_ID,
    PRODUCT_SCOPE,
    Control,
    ControlKind,
    profile_scope,
    tenant_scope,
)
from shared.ports import NotFound, PreconditionFailed, Store
from shared.services.audit import append_audit
from shared.services.events import GLOBAL_STREAM, publish, tenant_stream

log = logging.getLogger("halyard.controls")


class PreconditionRequired(Exception):
    """428: the control exists, so the change must say which version it replaces."""


@dataclass(frozen=True)
class ControlTarget:
    control_id: str
    scope: str
    kind: ControlKind


def kill_switch() -> ControlTarget:
    return ControlTarget(KILL_SWITCH_ID, PRODUCT_SCOPE, "kill-switch")


def maintenance() -> ControlTarget:
    return ControlTarget(MAINTENANCE_ID, PRODUCT_SCOPE, "maintenance")


def global_halt() -> ControlTarget:
    return ControlTarget(HALT_ID, GLOBAL_SCOPE, "halt")


def tenant_halt(tenant_id: str) -> ControlTarget:
    return ControlTarget(HALT_ID, tenant_scope(tenant_id), "halt")


def profile_halt(profile_id: str) -> ControlTarget:
    return ControlTarget(HALT_ID, profile_scope(profile_id), "halt")


def read_control(store: Store, target: ControlTarget) -> tuple[Control | None, str | None]:
    try:
        doc = store.container("controls").read(target.control_id, target.scope)
    except NotFound:
        return None, None
    return Control.from_doc(doc), str(doc["_etag"])


def set_control(
    store: Store,
    target: ControlTarget,
    *,
    active: bool,
    reason: str,
    until: datetime | None,
    actor: str,
    audit_tenant: str,
    request_id: str | None,
    if_match: str | None,
    now: datetime,
) -> tuple[Control, str]:
    """Apply the change under ``if_match``; returns the stored control and its new etag."""
    current, _ = read_control(store, target)
    if current is not None and if_match is None:
        raise PreconditionRequired(f"{target.scope}/{target.control_id} exists: send If-Match with its ETag")
    if current is None and if_match not in (None, "*"):
        raise PreconditionFailed(f"{target.scope}/{target.control_id} does not exist")
    since = current.since if current is not None and current.active and active else (now if active else None)
    control = Control(id=target.control_id, scope=target.scope, kind=target.kind, active=active, reason=reason,
                      actor=actor, automatic=False, since=since, until=until if active else None,
                      version=(current.version + 1) if current is not None else 1, request_id=request_id)
    controls = store.container("controls")
    saved = controls.create(control.to_doc()) if current is None else controls.replace(control.to_doc(),
                                                                                        if_match=if_match)
    append_audit(store.container("audit"), tenant_id=audit_tenant,
                 action=f"control.{target.kind}.{'set' if active else 'cleared'}", actor=actor,
                 target=f"{target.scope}/{target.control_id}",
                 details={"reason": reason, "until": until.isoformat() if until else None,
                          "version": control.version, "previousActive": current.active if current else False},
                 request_id=request_id, at=now)
    etag = str(saved["_etag"])
    # Every surface learns of the change within seconds through the event feed: product
    # and global controls on the global stream, tenant and profile halts on the tenant's.
    stream = GLOBAL_STREAM if target.scope in (PRODUCT_SCOPE, GLOBAL_SCOPE) else (
        target.scope if target.scope.startswith("tenant:") else tenant_stream(audit_tenant))
    try:
        publish(store, stream, "control.changed", control_view(control, etag), now, request_id)
    except Exception:  # the control is written and audited; a lost notification must not undo that
        log.exception("could not publish control.changed for %s/%s", target.scope, target.control_id)
    return control, etag


def visible_controls(store: Store, tenant_id: str, profile_ids: list[str]) -> list[tuple[Control, str]]:
    """Product, global, the caller's tenant and its profiles' controls (with etags)."""
    targets = [kill_switch(), maintenance(), global_halt(), tenant_halt(tenant_id)]
    targets += [profile_halt(p) for p in profile_ids]
    found: list[tuple[Control, str]] = []
    for target in targets:
        control, etag = read_control(store, target)
        if control is not None and etag is not None:
            found.append((control, etag))
    return found


def control_view(control: Control, etag: str) -> dict[str, Any]:
    return {**control.to_doc(), "etag": etag}
