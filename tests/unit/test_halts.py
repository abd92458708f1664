"""Halts at every scope block; unknown control state blocks too (fail closed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.controls import GLOBAL_SCOPE, HALT_ID, KILL_SWITCH_ID, PRODUCT_SCOPE, profile_scope, tenant_scope
from shared.ports import Container, StoreUnavailable
from shared.services.halts import check_halts

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def controls(tmp_path: Path):
    store = SqliteStore(tmp_path / "s.sqlite")
    yield store.container("controls")
    store.close()


def put(controls: Container, control_id: str, scope: str, **fields: Any) -> None:
    kind = "kill-switch" if control_id == KILL_SWITCH_ID else "halt"
    controls.upsert({"id": control_id, "scope": scope, "kind": kind, "active": True,
                     "reason": "test", "actor": "ops", **fields})


def test_nothing_set_allows_trading(controls):
    assert check_halts(controls, tenant_id="t1", profile_id="p1", now=NOW).halted is False


@pytest.mark.parametrize(("control_id", "scope"), [
    (KILL_SWITCH_ID, PRODUCT_SCOPE),
    (HALT_ID, GLOBAL_SCOPE),
    (HALT_ID, tenant_scope("t1")),
    (HALT_ID, profile_scope("p1")),
])
def test_every_scope_halts(controls, control_id, scope):
    put(controls, control_id, scope, reason=f"stop {scope}")
    state = check_halts(controls, tenant_id="t1", profile_id="p1", now=NOW)
    assert state.halted and state.scope == scope and state.reason == f"stop {scope}"


def test_other_tenants_and_profiles_are_not_halted(controls):
    put(controls, HALT_ID, tenant_scope("t2"))
    put(controls, HALT_ID, profile_scope("p2"))
    assert not check_halts(controls, tenant_id="t1", profile_id="p1", now=NOW).halted


def test_inactive_halt_and_ended_cooldown_do_not_block(controls):
    put(controls, HALT_ID, GLOBAL_SCOPE, active=False)
    put(controls, HALT_ID, profile_scope("p1"), automatic=True,
        until=(NOW - timedelta(seconds=1)).isoformat())
    assert not check_halts(controls, tenant_id="t1", profile_id="p1", now=NOW).halted
    put(controls, HALT_ID, profile_scope("p1"), automatic=True, until=(NOW + timedelta(minutes=5)).isoformat())
    state = check_halts(controls, tenant_id="t1", profile_id="p1", now=NOW)
    assert state.halted and state.automatic and state.until == NOW + timedelta(minutes=5)


def test_malformed_control_document_means_halted(controls):
    controls.upsert({"id": HALT_ID, "scope": GLOBAL_SCOPE, "active": "maybe"})
    state = check_halts(controls, tenant_id="t1", profile_id=None, now=NOW)
    assert state.halted and state.scope == "unknown"


def test_unreadable_store_means_halted():
    class Broken:
        def read(self, id: str, partition_key: str) -> dict[str, Any]:
            raise StoreUnavailable("down")

    state = check_halts(Broken(), tenant_id="t1", profile_id="p1", now=NOW)  # type: ignore[arg-type]
    assert state.halted and "unreadable" in state.reason
