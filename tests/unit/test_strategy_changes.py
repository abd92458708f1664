"""Strategy heads and proposals: the lifecycle table, four eyes, activation and rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.strategy import SevenRuleParams, SmaCrossParams
from shared.domain.strategy_changes import ChangeProposal, IllegalProposalTransition, SelfApproval, can_move, move
from shared.ports import Conflict, Query
from shared.services import strategy_changes as changes
from shared.services.audit import verify_tenant_chain
from shared.services.demo import DEMO_TENANT, seed_demo
from shared.services.strategies import load_version

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
SMA = "demo-sma-cross"


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "store.sqlite")
    seed_demo(s, NOW)
    return s


def _propose(store: SqliteStore, fast: int = 12, actor: str = "alice") -> ChangeProposal:
    return changes.propose(store, tenant_id=DEMO_TENANT, strategy_id=SMA, params=SmaCrossParams(fast=fast, slow=30),
                           source="human", actor=actor, now=NOW, request_id="req-1", note="faster")


def _to_awaiting(store: SqliteStore, version: int) -> None:
    changes.advance(store, SMA, version, "simulating", actor="system", now=NOW)
    changes.advance(store, SMA, version, "awaiting-decision", actor="system", now=NOW, verdict={"passed": True})


def test_the_demo_seeds_heads_owned_by_the_demo_tenant(store: SqliteStore) -> None:
    heads = changes.list_strategies(store, DEMO_TENANT)
    assert [h.strategy_id for h in heads] == ["demo-seven-rule", "demo-sma-cross"]
    assert all(h.active_version == 1 and h.previous_version is None for h in heads)
    assert changes.list_strategies(store, "tenant-b") == []
    with pytest.raises(changes.StrategyNotFound):
        changes.require_strategy(store, "tenant-b", SMA)


def test_a_proposal_reserves_the_next_version_and_writes_it(store: SqliteStore) -> None:
    first, second = _propose(store, 12), _propose(store, 14)
    assert (first.version, second.version) == (2, 3)
    assert first.base_version == 1 and first.status == "proposed"
    assert load_version(store, SMA, 3).params == SmaCrossParams(fast=14, slow=30)
    head = changes.require_strategy(store, DEMO_TENANT, SMA)
    assert head.latest_version == 3 and head.active_version == 1  # proposing runs nothing
    assert changes.running_version(store, SMA, 99) == 1
    actions = [d["action"] for d in store.container("audit").query(Query(), partition_key=DEMO_TENANT).items
               if d.get("action", "").startswith("strategy.")]
    assert actions == ["strategy.proposed", "strategy.proposed"]


def test_a_proposal_of_another_kind_is_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="seven-rule proposal"):
        changes.propose(store, tenant_id=DEMO_TENANT, strategy_id=SMA, params=SevenRuleParams(), source="human",
                        actor="alice", now=NOW, request_id=None)


def test_another_tenant_cannot_propose(store: SqliteStore) -> None:
    with pytest.raises(changes.StrategyNotFound):
        changes.propose(store, tenant_id="tenant-b", strategy_id=SMA, params=SmaCrossParams(fast=5, slow=30),
                        source="human", actor="mallory", now=NOW, request_id=None)


def test_the_lifecycle_table_refuses_shortcuts() -> None:
    assert can_move("proposed", "simulating") and not can_move("proposed", "approved")
    assert not can_move("expired", "approved") and not can_move("rejected", "activated")
    assert not can_move("awaiting-decision", "activated")  # approval comes first


def test_the_proposer_cannot_decide_and_only_approved_proposals_activate(store: SqliteStore) -> None:
    p = _propose(store)
    with pytest.raises(changes.ProposalNotPending):
        changes.require_pending_decision(store, DEMO_TENANT, SMA, p.version, "bob")  # still "proposed"
    _to_awaiting(store, p.version)
    with pytest.raises(SelfApproval):
        changes.require_pending_decision(store, DEMO_TENANT, SMA, p.version, "alice")
    with pytest.raises(SelfApproval):
        changes.record_decision(store, SMA, p.version, decision="approve", decider="alice", reason="mine", now=NOW)
    with pytest.raises(changes.ProposalNotPending):
        changes.activate(store, SMA, p.version, now=NOW)
    changes.record_decision(store, SMA, p.version, decision="approve", decider="bob", reason="looks good", now=NOW)
    head = changes.activate(store, SMA, p.version, now=NOW)
    assert (head.active_version, head.previous_version) == (2, 1)
    assert changes.activate(store, SMA, p.version, now=NOW) == head  # a replayed activity changes nothing
    proposal, _ = changes.read_proposal(store, SMA, p.version)
    assert proposal.status == "activated" and proposal.decided_by == "bob"
    assert [s.status for s in proposal.history] == ["proposed", "simulating", "awaiting-decision", "approved",
                                                     "activated"]
    assert changes.running_version(store, SMA, 1) == 2


def test_rejected_and_expired_proposals_never_activate(store: SqliteStore) -> None:
    rejected, expired = _propose(store, 12), _propose(store, 14)
    for p in (rejected, expired):
        _to_awaiting(store, p.version)
    changes.record_decision(store, SMA, rejected.version, decision="reject", decider="bob", reason="no", now=NOW)
    changes.advance(store, SMA, expired.version, "expired", actor="system", now=NOW + timedelta(days=1))
    for p in (rejected, expired):
        with pytest.raises(changes.ProposalNotPending):
            changes.activate(store, SMA, p.version, now=NOW)
        with pytest.raises(IllegalProposalTransition):
            changes.advance(store, SMA, p.version, "approved", actor="bob", now=NOW)
    assert changes.require_strategy(store, DEMO_TENANT, SMA).active_version == 1


def test_rollback_is_one_step_and_reversible(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="no previous version"):
        changes.rollback(store, DEMO_TENANT, SMA, actor="bob", reason="x", now=NOW, request_id=None)
    p = _propose(store)
    _to_awaiting(store, p.version)
    changes.record_decision(store, SMA, p.version, decision="approve", decider="bob", reason="ok", now=NOW)
    changes.activate(store, SMA, p.version, now=NOW)
    back = changes.rollback(store, DEMO_TENANT, SMA, actor="carol", reason="worse live", now=NOW, request_id="r")
    assert (back.active_version, back.previous_version) == (1, 2)
    again = changes.rollback(store, DEMO_TENANT, SMA, actor="carol", reason="undo", now=NOW, request_id="r")
    assert (again.active_version, again.previous_version) == (2, 1)
    with pytest.raises(changes.StrategyNotFound):
        changes.rollback(store, "tenant-b", SMA, actor="mallory", reason="x", now=NOW, request_id=None)
    assert verify_tenant_chain(store.container("audit"), DEMO_TENANT) is None


def test_move_records_the_step() -> None:
    p = ChangeProposal(
        id="proposal:000002", strategy_id=SMA, tenant_id=DEMO_TENANT, version=2, base_version=1,
        params=SmaCrossParams(), source="ai", proposed_by="alice", proposed_at=NOW, expires_at=NOW,
        instance_id="x")
    moved = move(p, "simulating", at=NOW, actor="system", detail="run r1", simulation_run_id="r1")
    assert moved.status == "simulating" and moved.simulation_run_id == "r1"
    assert moved.history[-1].detail == "run r1" and p.history == []


def test_a_tenant_creates_its_own_strategy_once(store: SqliteStore) -> None:
    head = changes.create_strategy(store, tenant_id="tenant-b", strategy_id="s-b1", name="B's cross",
                                   params=SmaCrossParams(fast=5, slow=20), actor="bea", now=NOW, request_id="r")
    assert (head.active_version, head.latest_version, head.tenant_id) == (1, 1, "tenant-b")
    assert load_version(store, "s-b1", 1).params == SmaCrossParams(fast=5, slow=20)
    assert [h.strategy_id for h in changes.list_strategies(store, "tenant-b")] == ["s-b1"]
    with pytest.raises(Conflict):
        changes.create_strategy(store, tenant_id=DEMO_TENANT, strategy_id="s-b1", name="taken",
                                params=SmaCrossParams(), actor="alice", now=NOW, request_id=None)
    assert changes.require_strategy(store, "tenant-b", "s-b1").name == "B's cross"
