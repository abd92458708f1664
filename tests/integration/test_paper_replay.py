"""A full paper-trading replay over the shipped real candles, then the books are checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.replay_market import DEMO_START
from shared.domain.controls import GLOBAL_SCOPE, HALT_ID
from shared.domain.ledger import balance
from shared.domain.trading import LedgerEntry
from shared.ports import Filter, Query, StoreUnavailable
from shared.services.audit import verify_tenant_chain
from shared.services.demo import DEMO_TENANT, PROFILES
from shared.services.listing import all_items
from shared.services.ticks import run_tick
from tests.support.replay_driver import ReplayDriver

HOURS = 400


def all_docs(driver: ReplayDriver, container: str, partition: str, *filters: Filter) -> list[dict[str, Any]]:
    return list(all_items(driver.store.container(container), Query(where=list(filters), limit=500), partition))


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayDriver]:
    driver = ReplayDriver(Path(tmp_path_factory.mktemp("replay")), DEMO_START)
    driver.run(HOURS)
    yield driver
    driver.close()


def test_the_replay_trades(replay):
    assert replay.ticks == HOURS * len(PROFILES)
    assert replay.outcomes.get("executed", 0) >= 4, replay.outcomes


def test_every_tick_has_a_decision_with_all_verdicts(replay):
    for profile in PROFILES:
        decisions = all_docs(replay, "decisions", profile.id)
        assert len(decisions) == HOURS
        expected = 1 if profile.strategy_id == "demo-sma-cross" else 7
        for decision in decisions:
            rules = [v["rule"] for v in decision["verdicts"]]
            assert rules[-1] == "halt"
            if decision["blockedBy"] != "data-integrity":
                assert len(rules) >= expected + 1, rules
            assert len(decision["candlesHash"]) == 64


def test_a_blocked_trade_names_the_rule_that_blocked_it(replay):
    decisions = all_docs(replay, "decisions", PROFILES[0].id, Filter("action", "=", "blocked"))
    assert decisions, "the 7-rule profile never blocked a trade in the replay"
    for decision in decisions:
        blocking = [v for v in decision["verdicts"] if v["outcome"] == "block"]
        assert decision["blockedBy"] in [v["rule"] for v in blocking]
        assert all(v["reason"] for v in blocking)


def test_ledger_equals_sum_of_entries_and_cash_plus_positions_at_cost(replay):
    for profile in PROFILES:
        entries = [LedgerEntry.from_doc(d) for d in all_docs(replay, "ledger", profile.account_id)]
        positions = all_docs(replay, "orders", profile.account_id, Filter("kind", "=", "position"))
        at_cost = sum((Decimal(p["qty"]) * Decimal(p["avgCost"]) for p in positions), Decimal(0))
        assert balance(entries) == replay.cash(profile.account_id) + at_cost, profile.id
        assert any(e.kind == "fee" for e in entries)  # trades were booked, not just the deposit


def test_the_audit_trail_is_intact(replay):
    assert verify_tenant_chain(replay.store.container("audit"), DEMO_TENANT) is None


def test_a_global_halt_blocks_the_next_tick_and_clearing_it_resumes(tmp_path: Path):
    driver = ReplayDriver(tmp_path, DEMO_START)
    try:
        driver.store.container("controls").upsert({"id": HALT_ID, "scope": GLOBAL_SCOPE, "kind": "halt",
                                                   "active": True, "reason": "maintenance window", "actor": "op"})
        driver.run(120)
        for profile in PROFILES:
            decisions = all_docs(driver, "decisions", profile.id)
            assert all(d["verdicts"][-1]["outcome"] == "block" for d in decisions)
            assert all(d["action"] != "buy" and d["action"] != "sell" for d in decisions)
            assert all(d["intentId"] is None for d in decisions)
        assert driver.intents == 0
        driver.store.container("controls").upsert({"id": HALT_ID, "scope": GLOBAL_SCOPE, "kind": "halt",
                                                   "active": False, "reason": "", "actor": "op"})
        driver.step(timedelta(hours=1))
        latest = all_docs(driver, "decisions", PROFILES[0].id, Filter("verdicts", "exists", True))
        assert any(d["verdicts"][-1]["outcome"] == "pass" for d in latest)
    finally:
        driver.close()


@pytest.mark.parametrize(("control_id", "scope"), [
    ("kill-switch", "product"), (HALT_ID, GLOBAL_SCOPE), (HALT_ID, "tenant:demo"),
    (HALT_ID, f"profile:{PROFILES[1].id}"),
])
def test_every_halt_scope_blocks_new_orders_at_the_tick(tmp_path: Path, control_id: str, scope: str):
    driver = ReplayDriver(tmp_path, DEMO_START)
    try:
        kind = "kill-switch" if control_id == "kill-switch" else "halt"
        driver.store.container("controls").upsert({"id": control_id, "scope": scope, "kind": kind, "active": True,
                                                   "reason": f"stop {scope}", "actor": "op"})
        driver.run(80)  # the SMA-cross profile signals within these bars when nothing stops it
        decisions = all_docs(driver, "decisions", PROFILES[1].id)
        halted = [d for d in decisions if d["blockedBy"] == "halt"]
        assert halted, "no signal was blocked by the halt"
        assert all(d["intentId"] is None for d in decisions)
        assert all(f"stop {scope}" in d["verdicts"][-1]["reason"] for d in decisions)
        assert all_docs(driver, "orders", PROFILES[1].account_id, Filter("kind", "=", "order")) == []
        if scope.startswith("profile:"):  # the other profile is not halted and keeps trading
            assert all_docs(driver, "orders", PROFILES[0].account_id, Filter("kind", "=", "order"))
        else:
            assert driver.intents == 0
    finally:
        driver.close()


def test_unreadable_controls_block_new_orders_at_the_tick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    driver = ReplayDriver(tmp_path, DEMO_START)
    try:
        controls = driver.store.container("controls")

        def unreadable(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("controls unreadable")

        monkeypatch.setattr(controls, "read", unreadable)
        driver.run(80)
        decisions = all_docs(driver, "decisions", PROFILES[1].id)
        assert any(d["blockedBy"] == "halt" for d in decisions)
        assert all(d["intentId"] is None for d in decisions)
        assert driver.intents == 0
    finally:
        driver.close()


def test_a_redelivered_tick_keeps_its_decision_and_orders_nothing_new(tmp_path: Path):
    driver = ReplayDriver(tmp_path, DEMO_START)
    try:
        driver.run(120)
        traded = all_docs(driver, "decisions", PROFILES[1].id, Filter("action", "=", "buy"))
        assert traded, "no buy decision to redeliver"
        first = traded[0]
        orders_before = all_docs(driver, "orders", PROFILES[1].account_id, Filter("kind", "=", "order"))
        body = json.dumps({"profileId": first["profileId"], "tenantId": first["tenantId"], "symbol": first["symbol"],
                           "candleTime": first["candleTime"]})
        again = run_tick(body, driver.tick_context)
        assert again is not None and again.action == "buy" and again.intent_id == first["intentId"]
        stored = driver.store.container("decisions").read(first["id"], first["profileId"])
        assert stored["_etag"] == first["_etag"]  # not rewritten
        driver.step(timedelta(seconds=1))  # drain: the re-sent intent is a duplicate
        assert all_docs(driver, "orders", PROFILES[1].account_id, Filter("kind", "=", "order")) == orders_before
    finally:
        driver.close()
