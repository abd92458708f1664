"""The first thread through every trigger kind, served by the real devhost process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import QUEUE_FILE, STORE_FILE
from shared.domain.controls import KILL_SWITCH_ID, PRODUCT_SCOPE
from shared.product import product_info
from shared.services.failures import failure_of
from shared.topology import HEARTBEATS, queue_spec
from tests.support.devhost_process import DevhostProcess


@pytest.fixture
def devhost(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--no-timers"]).start()
    yield host
    host.stop()


def heartbeat_count(host: DevhostProcess) -> int:
    status, _, body = host.request("GET", "/api/health")
    assert status == 200
    return int((body["heartbeat"] or {}).get("count", 0))


def test_health_reports_dependencies_mode_and_version(devhost):
    status, headers, body = devhost.request("GET", "/api/health", headers={"x-request-id": "req-abcdef123"})
    assert status == 200
    assert headers["x-request-id"] == "req-abcdef123"
    assert headers["content-type"].startswith("application/json")
    assert body["status"] == "healthy"
    assert body["mode"] == "embedded"
    assert body["version"] == product_info().version
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is True


def test_malformed_request_id_is_replaced_and_echoed(devhost):
    status, headers, _ = devhost.request("GET", "/api/health", headers={"x-request-id": "bad id!"})
    assert status == 200
    assert headers["x-request-id"] != "bad id!"
    assert len(headers["x-request-id"]) == 32


def test_unknown_route_is_problem_json_with_request_id(devhost):
    status, headers, body = devhost.request("GET", "/api/nope", headers={"x-request-id": "trace-00000001"})
    assert status == 404
    assert headers["content-type"].startswith("application/problem+json")
    assert body["status"] == 404 and body["requestId"] == "trace-00000001"
    status, _, body = devhost.request("DELETE", "/api/health")
    assert status == 405 and body["status"] == 405


def test_product_status_follows_the_kill_switch(devhost):
    status, _, body = devhost.request("GET", "/api/product/status")
    assert status == 200 and body["state"] == "operational" and body["productDisabled"] is False
    store = SqliteStore(devhost.data_dir / STORE_FILE)
    store.container("controls").upsert({"id": KILL_SWITCH_ID, "scope": PRODUCT_SCOPE, "kind": "kill-switch",
                                        "active": True,
                                        "reason": "exchange outage", "actor": "ops@example.com"})
    store.close()
    status, _, body = devhost.request("GET", "/api/product/status")
    assert status == 200
    assert body["state"] == "disabled" and body["productDisabled"] is True
    assert body["killSwitch"]["reason"] == "exchange outage"


def test_timer_enqueues_and_queue_function_consumes(devhost):
    assert heartbeat_count(devhost) == 0
    status, _, body = devhost.request("POST", "/admin/functions/emit_heartbeat", {})
    assert status == 202 and body["outcome"] == "succeeded"
    devhost.wait_for(lambda: heartbeat_count(devhost) == 1)
    # The heartbeat is stored inside the function; its invocation line follows its return
    # and reaches our reader thread a moment later.
    devhost.wait_for(lambda: devhost.invocations("record_heartbeat"))
    assert [r["outcome"] for r in devhost.invocations("record_heartbeat")] == ["succeeded"]
    assert devhost.invocations("emit_heartbeat")[0]["trigger"] == "timer"


def test_poisoned_message_is_dead_lettered_with_its_error(devhost):
    status, _, _ = devhost.request("POST", "/admin/functions/record_heartbeat",
                                   {"input": "this is not a heartbeat", "messageId": "poison-1"})
    assert status == 202
    broker = SqliteQueueBroker(devhost.data_dir / QUEUE_FILE)
    letters = devhost.wait_for(lambda: broker.queue(HEARTBEATS).dead_letters())
    assert len(letters) == 1
    letter = letters[0]
    assert letter.message.message_id == "poison-1"
    assert letter.message.body == "this is not a heartbeat"
    assert letter.reason == "MaxDeliveryCountExceeded"
    max_deliveries = queue_spec(HEARTBEATS).max_delivery_count
    attempts = devhost.invocations("record_heartbeat")
    assert len(attempts) == max_deliveries
    assert attempts[-1]["outcome"] == "failed, dead-lettered by the queue"
    assert all("JSONDecodeError" in a["error"] for a in attempts)
    # why it failed is recorded by the function itself, per delivery (portable to Azure)
    store = SqliteStore(devhost.data_dir / STORE_FILE)
    record = failure_of(store.container("failures"), queue=HEARTBEATS, message_id="poison-1")
    store.close()
    assert record is not None
    assert [a["deliveryCount"] for a in record["attempts"]] == list(range(1, max_deliveries + 1))
    assert record["lastError"].startswith("JSONDecodeError")
    status, _, listed = devhost.request("GET", f"/admin/queues/{HEARTBEATS}/deadletters")
    assert status == 200 and listed[0]["messageId"] == "poison-1"
    broker.close()


def test_duplicate_message_id_is_delivered_once(devhost):
    beat = json.dumps({"kind": "heartbeat", "scheduledFor": "2024-01-01T00:00:00+00:00"})
    for _ in range(3):
        status, _, _ = devhost.request("POST", "/admin/functions/record_heartbeat",
                                       {"input": beat, "messageId": "beat-dup"})
        assert status == 202
    devhost.wait_for(lambda: heartbeat_count(devhost) >= 1)
    other = json.dumps({"kind": "heartbeat", "scheduledFor": "2024-01-01T00:01:00+00:00"})
    devhost.request("POST", "/admin/functions/record_heartbeat", {"input": other, "messageId": "beat-other"})
    devhost.wait_for(lambda: heartbeat_count(devhost) >= 2)
    assert heartbeat_count(devhost) == 2
    assert len(devhost.invocations("record_heartbeat")) == 2


def test_timers_fire_on_their_schedule_faster_with_speed(tmp_path: Path):
    host = DevhostProcess(tmp_path / "data", extra_args=["--timer-speed", "120"]).start()
    try:
        host.wait_for(lambda: len(host.invocations("emit_heartbeat")) >= 3, timeout=10)
        host.wait_for(lambda: heartbeat_count(host) >= 1)
    finally:
        host.stop()


def test_a_second_devhost_on_the_same_data_directory_is_refused(devhost):
    second = DevhostProcess(devhost.data_dir, extra_args=["--no-timers"])
    with pytest.raises(RuntimeError, match="another devhost is using the data directory"):
        second.start(timeout=20)

