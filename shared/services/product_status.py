"""Public product status: kill switch and maintenance, read from the ``controls`` container.

Fail closed: if the controls cannot be read, the answer says so and reports the product
as not trading, so no surface ever shows "all clear" on unknown state.
"""

from __future__ import annotations

from typing import Any

from shared.domain.controls import KILL_SWITCH_ID, MAINTENANCE_ID, PRODUCT_SCOPE
from shared.ports import Container, NotFound, StoreError


def _flag(controls: Container, control_id: str) -> dict[str, Any]:
    try:
        doc = controls.read(control_id, PRODUCT_SCOPE)
    except NotFound:
        return {"active": False}
    return {
        "active": bool(doc.get("active", False)),
        "reason": doc.get("reason"),
        "actor": doc.get("actor"),
        "since": doc.get("since"),
        "until": doc.get("until"),
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


def product_status(controls: Container) -> tuple[bool, dict[str, Any]]:
    """Return (known, status). ``known`` is False when the controls could not be read."""
    try:
        kill = _flag(controls, KILL_SWITCH_ID)
        maintenance = _flag(controls, MAINTENANCE_ID)
    except StoreError:
        return False, unknown_status()
    state = "disabled" if kill["active"] else ("maintenance" if maintenance["active"] else "operational")
    return True, {
        "state": state,
        "productDisabled": kill["active"],
        "killSwitch": kill,
        "maintenance": maintenance,
        "tradingAllowed": not kill["active"],
    }
