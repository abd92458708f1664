"""After an approval the next tick runs the activated version; after a rollback, the old one."""

from __future__ import annotations

from pathlib import Path

from shared.adapters.replay_market import DEMO_START
from shared.domain.strategy import SmaCrossParams
from shared.ports import Filter, OrderBy, Query
from shared.services import strategy_changes as changes
from shared.services.demo import DEMO_TENANT, PROFILES
from tests.support.replay_driver import ReplayDriver

SMA_PROFILE = PROFILES[1]


def last_decision_version(driver: ReplayDriver) -> int:
    query = Query(where=[Filter("symbol", "=", "BTCUSDT")], order_by=OrderBy("candleTime", descending=True), limit=1)
    [doc] = driver.store.container("decisions").query(query, partition_key=SMA_PROFILE.id).items
    return int(doc["strategyVersion"])


def test_ticks_follow_the_strategy_head(tmp_path: Path) -> None:
    driver = ReplayDriver(tmp_path, DEMO_START)
    try:
        driver.step()
        assert last_decision_version(driver) == 1
        now = driver.clock.now()
        proposal = changes.propose(driver.store, tenant_id=DEMO_TENANT, strategy_id=SMA_PROFILE.strategy_id,
                                   params=SmaCrossParams(fast=5, slow=20), source="human", actor="alice", now=now,
                                   request_id=None)
        driver.step()
        assert last_decision_version(driver) == 1  # proposed is not running
        for target in ("simulating", "awaiting-decision"):
            changes.advance(driver.store, SMA_PROFILE.strategy_id, proposal.version, target,
                            actor="system", now=now)
        changes.record_decision(driver.store, SMA_PROFILE.strategy_id, proposal.version, decision="approve",
                                decider="bob", reason="ok", now=now)
        changes.activate(driver.store, SMA_PROFILE.strategy_id, proposal.version, now=now)
        driver.step()
        assert last_decision_version(driver) == proposal.version
        changes.rollback(driver.store, DEMO_TENANT, SMA_PROFILE.strategy_id, actor="bob", reason="back", now=now,
                         request_id=None)
        driver.step()
        assert last_decision_version(driver) == 1
    finally:
        driver.close()
