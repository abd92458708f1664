"""Public product status: kill switch and maintenance, read from the ``controls`` container.

Fail closed: if the controls cannot be read, the answer says so and reports the product
as not trading, so no surface ever shows "all clear" on unknown state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.domain.controls import GLOBAL_SCOPE, HALT_ID, KILL_SWITCH_ID, MAINTENANCE_ID, PRODUCT_SCOPE, Control
from shared.ports import Container, NotFound, StoreError


def _flag(controls: Container, control_id: str, scope: str, now: datetime) -> dict[str, Any]:
    """A control's public view; one whose ``until`` has passed is no longer active."""
    try:
        control = Control.from_doc(controls.read(control_id, scope))
    except NotFound:
        return {"active": False}
    active = control.active and (control.until is None or control.until > now)
    return {
        "active": active,
        "reason": control.reason if active else None,
        "actor": control.actor if active else None,
        "since": control.since.isoformat() if active and control.since else None,
        "until": control.until.isoformat() if active and control.until else None,
    }


def unknown_status() -> dict[str, Any]:
    """What every surface shows when control state cannot be known: disabled."""
    return {
        "state": "unknown",
        "productDisabled": True,
        "maintenance": None,
        "tradingAllowed": False,
        "detail": "control state could not be read; treated as disabled",
    }


def product_status(controls: Container, now: datetime) -> tuple[bool, dict[str, Any]]:
    """Return (known, status). ``known`` is False when the controls could not be read
    (or a control document is malformed): then the product counts as disabled."""
    try:
        kill = _flag(controls, KILL_SWITCH_ID, PRODUCT_SCOPE, now)
        maintenance = _flag(controls, MAINTENANCE_ID, PRODUCT_SCOPE, now)
        halt = _flag(controls, HALT_ID, GLOBAL_SCOPE, now)
    except (StoreError, ValidationError):
        return False, unknown_status()
    state = "disabled" if kill["active"] else ("maintenance" if maintenance["active"] else "operational")
    return True, {
        "state": state,
        "productDisabled": kill["active"],
        "killSwitch": kill,
        "maintenance": maintenance,
        "globalHalt": halt,
        "tradingAllowed": not kill["active"] and not halt["active"],
    }
