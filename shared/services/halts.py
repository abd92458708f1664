"""Reading trading halts at every scope, failing closed.

Checked at the tick and again at execution, always read fresh (never cached), so there
is no stale answer to trust. Any doubt means halted: a store error or a malformed
control document. A halt whose ``until`` has passed no longer blocks (its cooldown ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from shared.domain.controls import (
    GLOBAL_SCOPE,
    HALT_ID,
    KILL_SWITCH_ID,
    PRODUCT_SCOPE,
    Control,
    profile_scope,
    tenant_scope,
)
from shared.ports import Container, NotFound, PortError


@dataclass(frozen=True)
class HaltState:
    halted: bool
    scope: str | None = None
    reason: str = ""
    actor: str = ""
    automatic: bool = False
    since: datetime | None = None
    until: datetime | None = None

    @property
    def summary(self) -> str:
        if not self.halted:
            return "trading allowed"
        who = "automatic" if self.automatic else (self.actor or "unknown actor")
        return f"halted at scope {self.scope}: {self.reason} ({who})"


ALLOWED = HaltState(halted=False)


def _read_control(controls: Container, control_id: str, scope: str) -> Control | None:
    try:
        return Control.from_doc(controls.read(control_id, scope))
    except NotFound:
        return None


def _active(control: Control | None, now: datetime) -> bool:
    if control is None or not control.active:
        return False
    return control.until is None or control.until > now


def _state(control: Control) -> HaltState:
    return HaltState(
        halted=True,
        scope=control.scope,
        reason=control.reason,
        actor=control.actor,
        automatic=control.automatic,
        since=control.since,
        until=control.until,
    )


def check_halts(controls: Container, *, tenant_id: str, profile_id: str | None, now: datetime) -> HaltState:
    """The first active stop among kill switch, global, tenant and profile halts."""
    lookups = [(KILL_SWITCH_ID, PRODUCT_SCOPE), (HALT_ID, GLOBAL_SCOPE), (HALT_ID, tenant_scope(tenant_id))]
    if profile_id:
        lookups.append((HALT_ID, profile_scope(profile_id)))
    try:
        for control_id, scope in lookups:
            control = _read_control(controls, control_id, scope)
            if _active(control, now):
                assert control is not None
                return _state(control)
    except (PortError, ValidationError) as exc:
        return HaltState(halted=True, scope="unknown", reason=f"control state unreadable ({type(exc).__name__})")
    return ALLOWED
