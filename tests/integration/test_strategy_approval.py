"""The governed change workflow through the devhost: propose -> simulate -> gates -> an
operator decides (or the window closes) -> activate; rollback; four eyes; restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.services.demo import DEMO_TENANT
from tests.support.devhost_process import DevhostProcess

SMA = "demo-sma-cross"
#: The baseline's own parameters as a candidate: the gates compare equal results, so it
#: passes them whatever the market did, and the test is about the workflow, not the market.
SAME_AS_BASELINE = {"kind": "sma-cross", "fast": 10, "slow": 30}
#: Equal results pass "not worse than the baseline"; the market decides trade counts and
#: drawdowns, so those gates are off here (they have their own tests in the simulator's).
WORKFLOW_GATES = {"minReturnEdge": 0.0, "maxDrawdown": None, "minTrades": None}
#: A tuned candidate may do worse out of sample (the replay window moves with the clock).
NO_GATES = {"minReturnEdge": None, "maxDrawdown": None, "minTrades": None}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    h = DevhostProcess(Path(tmp_path_factory.mktemp("approval")) / "data", extra_args=["--no-timers"]).start()
    yield h
    h.stop()


def alice(h: DevhostProcess) -> dict[str, str]:
    return h.auth(user="alice", tenant=DEMO_TENANT, roles=("operator",))


def bob(h: DevhostProcess) -> dict[str, str]:
    return h.auth(user="bob", tenant=DEMO_TENANT, roles=("operator",))


def propose(h: DevhostProcess, window_seconds: int = 3600, params: dict[str, Any] | None = None) -> dict[str, Any]:
    status, _, body = h.request("POST", f"/api/v1/strategies/{SMA}/proposals",
                                {"params": params or SAME_AS_BASELINE, "note": "test", "gates": WORKFLOW_GATES,
                                 "decisionWindowSeconds": window_seconds}, headers=alice(h))
    assert status == 202, body
    return dict(body)


def proposal(h: DevhostProcess, version: int) -> dict[str, Any]:
    status, _, body = h.request("GET", f"/api/v1/strategies/{SMA}", headers=bob(h))
    assert status == 200, body
    [found] = [p for p in body["proposals"] if p["version"] == version]
    return dict(found)


def strategy(h: DevhostProcess) -> dict[str, Any]:
    status, _, body = h.request("GET", f"/api/v1/strategies/{SMA}", headers=bob(h))
    assert status == 200, body
    return dict(body)


def wait_status(h: DevhostProcess, version: int, wanted: str, timeout: float = 60) -> dict[str, Any]:
    return dict(h.wait_for(lambda: (p := proposal(h, version))["status"] == wanted and p, timeout=timeout))


def decide(h: DevhostProcess, version: int, decision: str, headers: dict[str, str]) -> tuple[int, Any]:
    status, _, body = h.request("POST", f"/api/v1/strategies/{SMA}/versions/{version}/{decision}",
                                {"reason": "checked the simulation"}, headers=headers)
    return status, body


def test_a_proposal_is_simulated_approved_by_another_operator_activated_and_rolled_back(host: DevhostProcess):
    before = strategy(host)["activeVersion"]
    version = propose(host)["version"]
    waiting = wait_status(host, version, "awaiting-decision")
    assert waiting["simulationRunId"] and waiting["verdict"]["passed"] is True
    status, body = decide(host, version, "approve", alice(host))
    assert status == 403 and "another operator" in body["detail"]  # four eyes
    assert proposal(host, version)["status"] == "awaiting-decision"
    status, body = decide(host, version, "approve", host.auth(user="tina", tenant=DEMO_TENANT, roles=("trader",)))
    assert status == 403  # approving is an operator's job
    status, body = decide(host, version, "approve", bob(host))
    assert status == 202, body
    done = wait_status(host, version, "activated")
    assert done["decidedBy"] == "bob"
    head = strategy(host)
    assert (head["activeVersion"], head["previousVersion"]) == (version, before)
    status, _, back = host.request("POST", f"/api/v1/strategies/{SMA}/rollback", {"reason": "worse live"},
                                   headers=bob(host))
    assert status == 200, back
    assert (back["activeVersion"], back["previousVersion"]) == (before, version)
    status, body = decide(host, version, "approve", bob(host))
    assert status == 409  # decided already


def test_a_rejected_proposal_never_runs(host: DevhostProcess):
    before = strategy(host)["activeVersion"]
    version = propose(host)["version"]
    wait_status(host, version, "awaiting-decision")
    status, body = decide(host, version, "reject", bob(host))
    assert status == 202, body
    wait_status(host, version, "rejected")
    assert strategy(host)["activeVersion"] == before


def test_an_expired_proposal_never_activates(host: DevhostProcess):
    before = strategy(host)["activeVersion"]
    version = propose(host, window_seconds=10)["version"]
    wait_status(host, version, "awaiting-decision")
    expired = wait_status(host, version, "expired", timeout=60)
    assert expired["history"][-1]["actor"] == "system:approval"
    status, _ = decide(host, version, "approve", bob(host))
    assert status == 409
    assert strategy(host)["activeVersion"] == before


def test_tenant_b_sees_and_decides_nothing_of_tenant_a(host: DevhostProcess):
    version = propose(host)["version"]
    mallory = host.auth(user="mallory", tenant="tenant-b", roles=("admin",))
    status, _, body = host.request("GET", "/api/v1/strategies", headers=mallory)
    assert status == 200 and body["items"] == []
    for method, path, payload in [("GET", f"/api/v1/strategies/{SMA}", None),
                                  ("POST", f"/api/v1/strategies/{SMA}/versions/{version}/approve", {"reason": "mine"}),
                                  ("POST", f"/api/v1/strategies/{SMA}/rollback", {"reason": "mine"}),
                                  ("POST", f"/api/v1/strategies/{SMA}/proposals", {"params": SAME_AS_BASELINE})]:
        status, _, body = host.request(method, path, payload, headers=mallory)
        assert status == 404, (path, status, body)


def test_an_approval_waiting_survives_a_devhost_restart(tmp_path: Path):
    data = tmp_path / "data"
    first = DevhostProcess(data, extra_args=["--no-timers"]).start()
    try:
        version = propose(first)["version"]
        wait_status(first, version, "awaiting-decision")
    finally:
        first.kill()
    second = DevhostProcess(data, extra_args=["--no-timers"]).start()
    try:
        assert proposal(second, version)["status"] == "awaiting-decision"
        status, body = decide(second, version, "approve", bob(second))
        assert status == 202, body
        wait_status(second, version, "activated")
        assert strategy(second)["activeVersion"] == version
    finally:
        second.stop()


def test_without_a_key_the_local_advisor_proposes_and_an_operator_approves(host: DevhostProcess):
    """No LLM key is configured in tests: the review falls back to the local advisor's
    bounded search with the simulator, records its suggestion, and its proposal runs the
    same workflow (simulation, gates, four eyes, activation)."""
    status, _, started = host.request("POST", f"/api/v1/strategies/{SMA}/review",
                                      {"note": "tune it", "gates": NO_GATES}, headers=alice(host))
    assert status == 202, started

    def proposal_of_review() -> dict[str, Any] | None:
        found = [p for p in strategy(host)["proposals"] if p["instanceId"] == started["instanceId"]]
        return found[0] if found and found[0]["status"] not in ("proposed", "simulating") else None

    made = host.wait_for(proposal_of_review, timeout=60)
    assert made["source"] == "local-advisor" and made["proposedBy"] == "alice"
    status, _, page = host.request("GET", f"/api/v1/ai-suggestions?strategyId={SMA}", headers=bob(host))
    assert status == 200
    [suggestion] = [s for s in page["items"] if s["id"] == made["suggestionId"]]
    assert suggestion["status"] == "accepted" and suggestion["model"] == "local-advisor"
    assert suggestion["proposedParams"] == made["params"] != SAME_AS_BASELINE
    assert made["status"] == "awaiting-decision", made["verdict"]  # the gates are off: the market cannot refuse
    status, body = decide(host, made["version"], "approve", bob(host))
    assert status == 202, body
    wait_status(host, made["version"], "activated")
    assert strategy(host)["activeVersion"] == made["version"]


def test_a_proposal_that_fails_its_gates_never_waits_for_a_decision(host: DevhostProcess):
    before = strategy(host)["activeVersion"]
    status, _, body = host.request("POST", f"/api/v1/strategies/{SMA}/proposals",
                                   {"params": SAME_AS_BASELINE, "gates": {"minTrades": 100000}}, headers=alice(host))
    assert status == 202, body
    refused = wait_status(host, body["version"], "rejected-by-gates")
    assert refused["verdict"]["passed"] is False and "100000" in refused["verdict"]["reasons"][0]
    status, _ = decide(host, body["version"], "approve", bob(host))
    assert status == 409
    assert strategy(host)["activeVersion"] == before
    status, _, run = host.request("GET", f"/api/v1/simulations/{refused['simulationRunId']}", headers=bob(host))
    assert status == 200 and run["status"] == "succeeded"
    assert run["result"]["report"]["verdict"] == "fail"
    assert run["result"]["candidate"]["outOfSample"]["equityCurve"]  # what the workbench draws
    mallory = host.auth(user="mallory", tenant="tenant-b", roles=("admin",))
    assert host.request("GET", f"/api/v1/simulations/{refused['simulationRunId']}", headers=mallory)[0] == 404


def test_a_simulation_run_reports_progress_and_its_result(host: DevhostProcess):
    status, _, run = host.request("POST", f"/api/v1/strategies/{SMA}/simulate", {"candidateVersion": 1},
                                  headers=alice(host))
    assert status == 202, run
    done = host.wait_for(lambda: (r := host.request("GET", f"/api/v1/simulations/{run['runId']}",
                                                    headers=bob(host))[2])["status"] == "succeeded" and r,
                         timeout=60)
    assert done["progress"]["percent"] == 100.0 and done["progress"]["barsTotal"] > 1000
    metrics = done["result"]["baseline"]["inSample"]["metrics"]
    assert {"netReturn", "maxDrawdown", "winRate", "sharpe", "tradeCount", "profitFactor", "exposure"} <= set(metrics)
    status, _, body = host.request("POST", f"/api/v1/strategies/{SMA}/simulate", {"candidateVersion": 999},
                                   headers=alice(host))
    assert status == 404, body
