"""The embedded store as the runtime builds it: the write limit's leases in a file of
their own, so an API write's limiter never waits for order execution's unit of work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.routed_store import RoutedStore
from shared.adapters.sqlite_store import SqliteStore
from shared.auth.principal import Principal, Role
from shared.bootstrap import OWN_FILES, STORE_FILE, build_runtime
from shared.config import load_settings
from shared.ports import NotFound, StoreUnavailable
from shared.product import product_info
from shared.services.rate_limit import RateLimiter, bucket_id


def test_containers_are_served_by_their_own_store(tmp_path: Path):
    main, side = SqliteStore(tmp_path / "main.sqlite"), SqliteStore(tmp_path / "side.sqlite")
    store = RoutedStore(main, {"leases": side})
    store.container("leases").upsert({"id": "k", "tokens": 1})
    store.container("controls").upsert({"id": "c", "scope": "global"})
    assert side.container("leases").read("k", "k")["tokens"] == 1
    with pytest.raises(NotFound):
        main.container("leases").read("k", "k")
    assert main.container("controls").read("c", "global")["id"] == "c"
    store.ping()
    store.close()
    with pytest.raises(StoreUnavailable):
        side.ping()  # closed with the routed store
    with pytest.raises(StoreUnavailable):
        main.ping()


def test_a_unit_of_work_is_the_default_stores_and_routed_writes_commit_alone(tmp_path: Path):
    main, side = SqliteStore(tmp_path / "main.sqlite"), SqliteStore(tmp_path / "side.sqlite")
    store = RoutedStore(main, {"leases": side})
    with pytest.raises(RuntimeError), store.unit_of_work() as atomic:
        assert atomic
        store.container("controls").upsert({"id": "c", "scope": "global"})
        store.container("leases").upsert({"id": "k", "tokens": 1})
        raise RuntimeError("undo the unit")
    with pytest.raises(NotFound):
        main.container("controls").read("c", "global")  # rolled back with the unit
    assert side.container("leases").read("k", "k")["tokens"] == 1  # committed on its own
    store.close()


def test_the_runtime_keeps_leases_out_of_the_trading_file(tmp_path: Path):
    rt = build_runtime(load_settings({product_info().env_var_prefix + "DATA_DIR": str(tmp_path)}))
    try:
        rt.store.container("leases").upsert({"id": "k", "tokens": 2})
        rt.store.container("profiles").upsert({"id": "p", "tenantId": "t", "kind": "profile"})
        assert (tmp_path / OWN_FILES["leases"]).exists()
        trading = SqliteStore(tmp_path / STORE_FILE)
        with pytest.raises(NotFound):
            trading.container("leases").read("k", "k")
        assert trading.container("profiles").read("p", "t")["kind"] == "profile"
        trading.close()
    finally:
        rt.store.close()
        rt.broker.close()


def test_the_write_limiter_does_not_wait_for_a_unit_of_work_holding_the_trading_file(tmp_path: Path):
    trading = SqliteStore(tmp_path / STORE_FILE)
    store = RoutedStore(trading, {"leases": SqliteStore(tmp_path / OWN_FILES["leases"])})
    clock = ManualClock()
    limit = RateLimiter(lambda: store, lambda: clock)
    holding, release = threading.Event(), threading.Event()

    def execution_batch() -> None:  # what the execution function does: one unit for many intents
        with store.unit_of_work():
            store.container("orders").upsert({"id": "o", "accountId": "a"})
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=execution_batch)
    worker.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        trader = Principal(user_id="ann", tenant_id="t1", roles=frozenset({Role.TRADER}))
        assert limit(trader) is None
        assert time.monotonic() - started < 1.0  # in one file it waited for the whole unit
        assert store.container("leases").read(bucket_id("ann"), bucket_id("ann"))["tokens"] < 30
    finally:
        release.set()
        worker.join(10)
    store.close()
