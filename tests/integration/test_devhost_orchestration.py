"""The diagnostic probe orchestration started and answered over HTTP through the devhost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.devhost_process import DevhostProcess


def probe_status(host: DevhostProcess, instance_id: str) -> dict[str, Any]:
    status, _, body = host.request("GET", f"/api/diagnostics/probes/{instance_id}", headers=host.auth())
    assert status == 200 and isinstance(body, dict), body
    return body


def start_probe(host: DevhostProcess, timeout_seconds: int) -> str:
    status, headers, body = host.request("POST", "/api/diagnostics/probes", {"timeoutSeconds": timeout_seconds},
                                         headers=host.auth())
    assert status == 202, body
    assert headers["location"] == f"/api/diagnostics/probes/{body['id']}"
    return str(body["id"])


def history(host: DevhostProcess, instance_id: str) -> list[dict[str, Any]]:
    """The instance's history as the Durable Functions status endpoint shows it."""
    status, _, body = host.request(
        "GET", f"/runtime/webhooks/durabletask/instances/{instance_id}?showHistory=true&taskHub=halyard"
               "&connection=Storage")
    assert status in (200, 202) and isinstance(body, dict), body
    return list(body.get("historyEvents") or [])


def wait_status(host: DevhostProcess, instance_id: str, wanted: str, timeout: float = 15) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = probe_status(host, instance_id)
        return body if body["runtimeStatus"] == wanted else None

    done: dict[str, Any] = host.wait_for(reached, timeout=timeout)
    return done


def test_probe_completes_when_acknowledged(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        instance_id = start_probe(host, 600)
        running = wait_status(host, instance_id, "Running")
        assert running["output"] is None
        host.wait_for(lambda: host.invocations("record_probe"))
        status, _, body = host.request("POST", f"/api/diagnostics/probes/{instance_id}/ack", {"by": "ops"},
                                       headers=host.auth())
        assert status == 202, body
        done = wait_status(host, instance_id, "Completed")
        assert done["output"]["outcome"] == "acknowledged"
        assert done["output"]["ack"]["by"] == "ops"
        assert done["output"]["record"]["recordId"] == f"probe:{instance_id}"
        status, _, body = host.request("POST", f"/api/diagnostics/probes/{instance_id}/ack", {}, headers=host.auth())
        assert status == 409 and body["status"] == 409
    finally:
        host.stop()


def test_probe_expires_when_its_timer_fires_first(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        instance_id = start_probe(host, 1)
        done = wait_status(host, instance_id, "Completed", timeout=20)
        assert done["output"]["outcome"] == "expired"
    finally:
        host.stop()


def test_bad_probe_requests_are_problems(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    try:
        auth = host.auth()
        status, headers, body = host.request("POST", "/api/diagnostics/probes", {"timeoutSeconds": "soon"},
                                             headers=auth)
        assert status == 422 and "timeoutSeconds" in body["detail"]
        assert body["errors"][0]["field"] == "timeoutSeconds"
        assert headers["content-type"].startswith("application/problem+json")
        status, _, body = host.request("POST", "/api/diagnostics/probes", b"{not json", headers=auth)
        assert status == 400 and body["title"] == "Malformed JSON"
        status, _, body = host.request("GET", "/api/diagnostics/probes/does-not-exist", headers=auth)
        assert status == 404 and body["requestId"]
        status, headers, body = host.request("POST", "/api/diagnostics/probes", {"timeoutSeconds": 5})
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        status, _, body = host.request("POST", "/api/diagnostics/probes", {"timeoutSeconds": 5},
                                       headers=host.auth(roles=("trader",)))
        assert status == 403 and "operator" in body["detail"]
    finally:
        host.stop()


def test_waiting_orchestration_survives_a_killed_devhost(tmp_path: Path):
    data = tmp_path / "data"
    first = DevhostProcess(data, extra_args=["--no-timers"]).start()
    try:
        instance_id = start_probe(first, 3600)
        wait_status(first, instance_id, "Running")
        # The activity's log line comes before its result is committed to the history (as
        # on the Functions host): a kill between the two may run it again after the restart,
        # which Durable Functions allows. This test is about a result that was recorded.
        first.wait_for(lambda: any(e["EventType"] == "TaskCompleted" for e in history(first, instance_id)))
    finally:
        first.kill()
    second = DevhostProcess(data, extra_args=["--no-timers"]).start()
    try:
        assert probe_status(second, instance_id)["runtimeStatus"] == "Running"
        status, _, _ = second.request("POST", f"/api/diagnostics/probes/{instance_id}/ack", {"by": "after-restart"},
                                      headers=second.auth())
        assert status == 202
        done = wait_status(second, instance_id, "Completed")
        assert done["output"]["outcome"] == "acknowledged"
        assert done["output"]["ack"]["by"] == "after-restart"
        assert second.invocations("record_probe") == []  # the activity result came from history
    finally:
        second.stop()
