"""Controls: kill switch, maintenance and trading halts at every scope.

Scopes are the ``controls`` container's partition key: ``product`` (kill switch,
maintenance), ``global``, ``tenant:<id>`` and ``profile:<id>`` (trading halts).
"""

from __future__ import annotations

from typing import Literal

from shared.domain.base import DomainModel, UtcDatetime

ControlKind = Literal["kill-switch", "maintenance", "halt"]

PRODUCT_SCOPE = "product"
GLOBAL_SCOPE = "global"
HALT_ID = "halt"
KILL_SWITCH_ID = "kill-switch"
MAINTENANCE_ID = "maintenance"


def tenant_scope(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def profile_scope(profile_id: str) -> str:
    return f"profile:{profile_id}"


class Control(DomainModel):
    id: str
    scope: str
    kind: ControlKind
    active: bool
    reason: str = ""
    actor: str = ""
    automatic: bool = False
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    version: int = 0
    request_id: str | None = None
