"""The API's product gate: one store read per TTL, changes visible within it (at once after
an admin write here), ``until`` checked on every call, and unknown state never cached."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions import api_kit
from functions.api_kit import ApiRoute
from shared.adapters.sqlite_store import SqliteStore
from shared.auth.principal import Role
from shared.domain.controls import KILL_SWITCH_ID, MAINTENANCE_ID, PRODUCT_SCOPE
from shared.ports import StoreUnavailable
from shared.services.product_status import ProductGate

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Tick:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


def set_control(store: SqliteStore, control_id: str, active: bool, **extra: Any) -> None:
    kind = "kill-switch" if control_id == KILL_SWITCH_ID else "maintenance"
    store.container("controls").upsert({"id": control_id, "scope": PRODUCT_SCOPE, "kind": kind, "active": active,
                                        "reason": "drill", "actor": "ops", **extra})


def test_reads_the_store_once_per_ttl_and_sees_a_change_after_it(store: SqliteStore):
    tick = Tick()
    gate = ProductGate(ttl_seconds=1.0, monotonic=tick)
    controls = store.container("controls")
    for _ in range(20):
        assert gate.status(controls, NOW)["productDisabled"] is False
    assert gate.reads == 1
    set_control(store, KILL_SWITCH_ID, True)  # another instance flips the switch
    tick.now += 0.5
    assert gate.reads == 1
    tick.now += 0.5  # the TTL is over: read again
    assert gate.status(controls, NOW)["productDisabled"] is True
    assert gate.reads == 2


def test_invalidate_makes_the_next_call_read_the_change(store: SqliteStore):
    gate = ProductGate(ttl_seconds=5.0, monotonic=Tick())
    controls = store.container("controls")
    assert gate.status(controls, NOW)["maintenance"]["active"] is False
    set_control(store, MAINTENANCE_ID, True)
    gate.invalidate()
    assert gate.status(controls, NOW)["maintenance"]["active"] is True


def test_until_is_compared_with_the_current_time_on_every_call(store: SqliteStore):
    gate = ProductGate(ttl_seconds=5.0, monotonic=Tick())
    controls = store.container("controls")
    set_control(store, KILL_SWITCH_ID, True, until=(NOW + timedelta(minutes=1)).isoformat())
    assert gate.status(controls, NOW)["productDisabled"] is True
    assert gate.status(controls, NOW + timedelta(minutes=2))["productDisabled"] is False  # cooldown over
    assert gate.reads == 1


class FlakyControls:
    """The controls container, failing while ``down`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        if self.down:
            raise StoreUnavailable("cosmos down")
        result: dict[str, Any] = self.inner.read(id, partition_key)
        return result


def test_unreadable_state_is_disabled_and_never_cached_nor_replaced_by_an_older_answer(store: SqliteStore):
    tick = Tick()
    gate = ProductGate(ttl_seconds=1.0, monotonic=tick)
    controls = FlakyControls(store.container("controls"))
    assert gate.status(controls, NOW)["productDisabled"] is False  # type: ignore[arg-type]
    controls.down = True
    tick.now += 1.0  # the good answer is now too old: it must not be served
    status = gate.status(controls, NOW)  # type: ignore[arg-type]
    assert status["productDisabled"] is True and status["state"] == "unknown"
    assert gate.status(controls, NOW)["state"] == "unknown"  # type: ignore[arg-type]
    assert gate.reads == 3  # each failed call tried the store again
    controls.down = False
    assert gate.status(controls, NOW)["productDisabled"] is False  # type: ignore[arg-type]


def test_a_malformed_control_is_unknown(store: SqliteStore):
    store.container("controls").upsert({"id": KILL_SWITCH_ID, "scope": PRODUCT_SCOPE, "kind": "nonsense",
                                        "active": "maybe"})
    assert ProductGate().status(store.container("controls"), NOW)["productDisabled"] is True


def test_another_runtimes_container_is_not_served_the_cached_state(store: SqliteStore, tmp_path: Path):
    gate = ProductGate(ttl_seconds=5.0, monotonic=Tick())
    assert gate.status(store.container("controls"), NOW)["productDisabled"] is False
    other = SqliteStore(tmp_path / "other.sqlite")
    try:
        set_control(other, KILL_SWITCH_ID, True)
        assert gate.status(other.container("controls"), NOW)["productDisabled"] is True
    finally:
        other.close()


class BlockingControls:
    """Holds the first kill-switch read until released, to race a change against it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reading = threading.Event()
        self.release = threading.Event()
        self.blocked = False

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.inner.read(id, partition_key)
            return result
        finally:
            if id == KILL_SWITCH_ID and not self.blocked:
                self.blocked = True
                self.reading.set()
                self.release.wait(5)


def test_a_read_racing_a_change_cannot_outlive_the_invalidation(store: SqliteStore):
    gate = ProductGate(ttl_seconds=5.0, monotonic=Tick())
    controls = BlockingControls(store.container("controls"))
    before = threading.Thread(target=lambda: gate.status(controls, NOW))  # type: ignore[arg-type]
    before.start()
    assert controls.reading.wait(5)  # it read "no kill switch" and is about to cache it
    set_control(store, KILL_SWITCH_ID, True)
    invalidating = threading.Thread(target=gate.invalidate)
    invalidating.start()
    invalidating.join(0.2)  # it waits for the read in flight (without the lock it would be done already)
    controls.release.set()
    before.join(5)
    invalidating.join(5)
    assert gate.status(controls, NOW)["productDisabled"] is True  # type: ignore[arg-type]


def test_ttl_must_stay_within_seconds():
    with pytest.raises(ValueError):
        ProductGate(ttl_seconds=30)


def _route(writes: bool, tags: tuple[str, ...]) -> ApiRoute:
    return ApiRoute(name="x", method="PUT" if writes else "GET", route="x", summary="x", role=Role.ADMIN,
                    tenant_scoped=False, writes=writes, tags=tags)


def test_only_admin_writes_drop_the_api_gates_copy(store: SqliteStore):
    controls = store.container("controls")
    api_kit.PRODUCT_GATE.invalidate()
    api_kit.PRODUCT_GATE.status(controls, NOW)
    reads = api_kit.PRODUCT_GATE.reads
    api_kit._after_admin_write(_route(False, ("admin",)))
    api_kit._after_admin_write(_route(True, ("orders",)))
    api_kit.PRODUCT_GATE.status(controls, NOW)
    assert api_kit.PRODUCT_GATE.reads == reads
    api_kit._after_admin_write(_route(True, ("admin",)))
    api_kit.PRODUCT_GATE.status(controls, NOW)
    assert api_kit.PRODUCT_GATE.reads == reads + 1


def test_a_shared_signal_makes_other_processes_copies_stale_at_once(store: SqliteStore, tmp_path: Path):
    from devhost.change_signal import FileSignal

    here, there = FileSignal(tmp_path / "signal"), FileSignal(tmp_path / "signal")
    try:
        main, worker = ProductGate(ttl_seconds=5.0, monotonic=Tick()), ProductGate(ttl_seconds=5.0, monotonic=Tick())
        main.use_signal(here.read, here.bump)
        worker.use_signal(there.read, there.bump)
        controls = store.container("controls")
        assert worker.status(controls, NOW)["productDisabled"] is False
        assert worker.status(controls, NOW)["productDisabled"] is False and worker.reads == 1
        set_control(store, KILL_SWITCH_ID, True)
        main.invalidate()  # the admin write happened in the other process
        assert worker.status(controls, NOW)["productDisabled"] is True
        assert worker.reads == 2
    finally:
        here.close()
        there.close()
