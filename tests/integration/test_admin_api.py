"""Operators change controls over the API, through the real devhost: roles, ETags, audit,
product status, and the next tick obeys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import STORE_FILE
from shared.ports import OrderBy, Query
from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess

OPERATOR = ("operator",)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    process = DevhostProcess(Path(tmp_path_factory.mktemp("admin")) / "data", extra_args=["--no-timers"]).start()
    yield process
    process.stop()


def put(host: DevhostProcess, path: str, body: Any, roles: tuple[str, ...] = OPERATOR, tenant: str = "demo",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    return host.request("PUT", path, body, headers={**host.auth(tenant=tenant, roles=roles), **(headers or {})})


def latest_decision(host: DevhostProcess, profile_id: str) -> dict[str, Any]:
    store = SqliteStore(host.data_dir / STORE_FILE)
    try:
        page = store.container("decisions").query(Query(order_by=OrderBy("candleTime", descending=True), limit=1),
                                                  partition_key=profile_id)
        return page.items[0]
    finally:
        store.close()


def tick(host: DevhostProcess) -> dict[str, Any]:
    """Fire the tick timer and wait for the seven-rule profile's newest decision."""
    profile = PROFILES[0].id
    before = latest_decision(host, profile)["id"] if _has_decision(host, profile) else None
    time.sleep(1.1)  # the replay shows one new hourly candle per real second: tick a new one
    status, _, _ = host.request("POST", "/admin/functions/schedule_strategy_ticks", {})
    assert status == 202
    decision: dict[str, Any] = host.wait_for(
        lambda: (d := latest_decision(host, profile) if _has_decision(host, profile) else None)
        and d["id"] != before and d)
    return decision


def _has_decision(host: DevhostProcess, profile_id: str) -> bool:
    store = SqliteStore(host.data_dir / STORE_FILE)
    try:
        return bool(store.container("decisions").query(Query(limit=1), partition_key=profile_id).items)
    finally:
        store.close()


def test_setting_a_control_needs_a_reason_and_the_right_role(host):
    status, _, body = put(host, "/api/admin/controls/global-halt", {"active": True})
    assert status == 422 and body["errors"][0]["field"] == "reason"
    status, _, body = put(host, "/api/admin/controls/global-halt", {"active": True, "reason": "x" * 5},
                          roles=("trader",))
    assert status == 403
    status, headers, _ = host.request("PUT", "/api/admin/controls/global-halt", {"active": True, "reason": "nope"})
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    status, _, _ = put(host, "/api/admin/controls/kill-switch", {"active": True, "reason": "operators cannot"})
    assert status == 403  # the kill switch is the admin's


def test_global_halt_shows_in_status_blocks_the_next_tick_and_clearing_resumes(host):
    status, headers, body = put(host, "/api/admin/controls/global-halt",
                                {"active": True, "reason": "exchange incident"},
                                headers={"x-request-id": "trace-halt-0001"})
    assert status == 200, body
    etag = headers["etag"]
    assert body["active"] is True and body["actor"] == "ops-1" and body["version"] == 1
    assert headers["x-request-id"] == "trace-halt-0001"

    status, _, product = host.request("GET", "/api/product/status")
    assert product["globalHalt"]["active"] is True and product["globalHalt"]["reason"] == "exchange incident"
    assert product["tradingAllowed"] is False

    decision = tick(host)
    assert decision["verdicts"][-1]["rule"] == "halt" and decision["verdicts"][-1]["outcome"] == "block"
    assert "exchange incident" in decision["verdicts"][-1]["reason"]
    assert decision["intentId"] is None

    status, _, body = put(host, "/api/admin/controls/global-halt", {"active": False})
    assert status == 428  # the control exists: say which version you replace
    status, _, body = put(host, "/api/admin/controls/global-halt", {"active": False}, headers={"if-match": '"stale"'})
    assert status == 412
    status, headers, body = put(host, "/api/admin/controls/global-halt", {"active": False}, headers={"if-match": etag})
    assert status == 200 and body["active"] is False and body["version"] == 2 and headers["etag"] != etag

    status, _, product = host.request("GET", "/api/product/status")
    assert product["globalHalt"]["active"] is False and product["tradingAllowed"] is True
    assert tick(host)["verdicts"][-1]["outcome"] == "pass"

    status, _, audit = host.request("GET", "/api/admin/audit?limit=10", headers=host.auth())
    assert status == 200
    actions = [(e["action"], e["requestId"]) for e in audit["items"]]
    assert ("control.halt.set", "trace-halt-0001") in actions and any(a == "control.halt.cleared" for a, _ in actions)


def test_profile_halts_are_tenant_scoped(host):
    profile = PROFILES[1].id
    status, _, body = put(host, f"/api/admin/controls/profiles/{profile}/halt",
                          {"active": True, "reason": "not yours"}, tenant="other-tenant")
    assert status == 404
    status, _, body = put(host, f"/api/admin/controls/profiles/{profile}/halt", {"active": True, "reason": "review"})
    assert status == 200 and body["scope"] == f"profile:{profile}"
    status, _, listed = host.request("GET", "/api/admin/controls", headers=host.auth())
    assert any(c["scope"] == f"profile:{profile}" and c["active"] for c in listed["items"])
    status, _, other = host.request("GET", "/api/admin/controls", headers=host.auth(tenant="other-tenant"))
    assert not any(c["scope"] == f"profile:{profile}" for c in other["items"])
    status, _, audit = host.request("GET", "/api/admin/audit", headers=host.auth(tenant="other-tenant"))
    assert status == 200 and audit["items"] == []  # tenant B sees none of tenant A's trail


def test_kill_switch_closes_everything_but_health_status_and_admin(host):
    admin = ("admin",)
    status, headers, body = put(host, "/api/admin/controls/kill-switch", {"active": True, "reason": "breach drill"},
                                roles=admin)
    assert status == 200
    try:
        status, _, product = host.request("GET", "/api/product/status")
        assert product["productDisabled"] is True and product["state"] == "disabled"
        assert host.request("GET", "/api/health")[0] == 200
        status, _, body = host.request("POST", "/api/diagnostics/probes", {"timeoutSeconds": 5}, headers=host.auth())
        assert status == 503 and body["title"] == "Product disabled"
        assert host.request("GET", "/api/admin/controls", headers=host.auth())[0] == 200
    finally:
        status, _, body = put(host, "/api/admin/controls/kill-switch", {"active": False}, roles=admin,
                              headers={"if-match": headers["etag"]})
        assert status == 200
    assert host.request("GET", "/api/product/status")[2]["productDisabled"] is False
