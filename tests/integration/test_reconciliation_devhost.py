"""Reconciliation through the devhost: an operator starts a run over HTTP, the durable
runtime drives ``reconcile_account`` to completion, and the run is listed by the API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from shared.services.demo import PROFILES
from tests.support.devhost_process import DevhostProcess

ACCOUNT = PROFILES[0].account_id
REQUEST_ID = "req-devhost-reconcile-1"


def latest_run(host: DevhostProcess) -> dict[str, Any] | None:
    status, _, body = host.request("GET", f"/api/admin/reconciliation?accountId={ACCOUNT}&limit=5",
                                   headers=host.auth())
    assert status == 200, body
    items = body["items"]
    return items[0] if items and items[0]["finishedAt"] else None


def test_an_operator_run_completes_and_is_listed(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        trader = host.auth(user="alice", roles=("trader",))
        status, _, body = host.request("POST", "/api/v1/orders/intents", {
            "accountId": ACCOUNT, "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001",
            "clientRequestId": "reconcile-devhost-1"}, headers=trader)
        assert status == 202, body
        order_id = body["orderId"]

        def filled() -> bool:
            code, _, order = host.request("GET", f"/api/v1/orders/{order_id}", headers=trader)
            return code == 200 and order["status"] == "filled"

        host.wait_for(filled, timeout=30)
        time.sleep(3)  # replay time runs an hour per second: the order is past the settle time

        status, headers, body = host.request("POST", "/api/admin/reconciliation/run", {"accountId": ACCOUNT},
                                             headers={**host.auth(), "x-request-id": REQUEST_ID})
        assert status == 202, body
        assert body == {"id": f"reconcile-{ACCOUNT}", "accountId": ACCOUNT,
                        "status": f"/api/admin/reconciliation?accountId={ACCOUNT}"}
        assert headers["location"] == body["status"] and headers["x-request-id"] == REQUEST_ID

        run = host.wait_for(lambda: latest_run(host), timeout=30)
        assert run["status"] == "clean" and run["matchRatio"] == 1.0, run
        assert run["counts"]["orders"] >= 1 and run["counts"]["fills"] >= 1 and run["counts"]["balances"] == 2
        assert (run["trigger"], run["actor"], run["requestId"]) == ("operator", "ops-1", REQUEST_ID)
        assert run["instanceId"] == body["id"] and run["accountId"] == ACCOUNT
        assert host.invocations("reconciliation_diff") and host.invocations("reconciliation_finish")

        status, _, durable = host.request("GET", f"/runtime/webhooks/durabletask/instances/{body['id']}")
        assert status == 200 and durable["runtimeStatus"] == "Completed"
        assert durable["output"]["status"] == "clean"

        status, _, audit = host.request("GET", "/api/admin/audit?limit=50", headers=host.auth())
        assert status == 200
        requested = [e for e in audit["items"] if e["action"] == "reconciliation.requested"]
        assert requested and requested[0]["requestId"] == REQUEST_ID and requested[0]["actor"] == "ops-1"
    finally:
        host.stop()


def test_bad_requests_are_problems(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        path = "/api/admin/reconciliation/run"
        status, _, body = host.request("POST", path, {"accountId": ACCOUNT}, headers=host.auth(roles=("trader",)))
        assert status == 403 and "operator" in body["detail"]
        status, _, body = host.request("POST", path, {"accountId": ACCOUNT},
                                       headers=host.auth(user="mallory", tenant="tenant-b"))
        assert status == 404 and body["requestId"]  # another tenant's account does not exist for them
        status, headers, body = host.request("POST", path, {}, headers=host.auth())
        assert status == 422 and body["errors"][0]["field"] == "accountId"  # the demo tenant has two accounts
        assert headers["content-type"].startswith("application/problem+json")
        status, _, body = host.request("POST", path, {"accountId": ACCOUNT, "extra": 1}, headers=host.auth())
        assert status == 422
        status, _, body = host.request("GET", "/api/admin/reconciliation?accountId=nope", headers=host.auth())
        assert status == 404
        status, _, body = host.request("GET", f"/api/admin/reconciliation?accountId={ACCOUNT}&continuation=forged",
                                       headers=host.auth())
        assert status == 400
        status, _, body = host.request("GET", f"/api/admin/reconciliation?accountId={ACCOUNT}", headers=host.auth())
        assert status == 200 and body == {"items": [], "continuation": None}
    finally:
        host.stop()


def test_the_timer_reconciles_every_demo_account(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        status, _, body = host.request("POST", "/admin/functions/schedule_reconciliation", {})
        assert status == 202 and body["outcome"] == "succeeded", body
        for account in sorted({p.account_id for p in PROFILES}):
            def listed(account: str = account) -> Any:
                code, _, page = host.request("GET", f"/api/admin/reconciliation?accountId={account}",
                                             headers=host.auth())
                return code == 200 and page["items"] and page["items"][0]["finishedAt"] and page["items"][0]

            run = host.wait_for(listed, timeout=30)
            assert run["trigger"] == "timer" and run["status"] == "clean"
    finally:
        host.stop()
