"""A poisoned order intent becomes one alert and one audit event, with its last error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import OutgoingMessage
from shared.services.audit import read_chain
from shared.services.dead_letters import alert_id, watch_dead_letters
from shared.services.failures import failure_of, record_failure
from shared.topology import ORDER_INTENTS, queue_spec

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_dead_letters_become_alerts_and_audit_events_once(tmp_path: Path):
    store = SqliteStore(tmp_path / "store.sqlite")
    broker = SqliteQueueBroker(tmp_path / "queue.sqlite", clock=ManualClock(NOW))
    queue = broker.queue(ORDER_INTENTS)
    body = json.dumps({"id": "i-poison", "tenantId": "tenant-a", "accountId": "acct"})
    queue.send(OutgoingMessage(body=body, message_id="i-poison", session_id="acct",
                               application_properties={"requestId": "req-poison-01"}))
    for attempt in range(1, queue_spec(ORDER_INTENTS).max_delivery_count + 1):
        [msg] = queue.receive(1)
        record_failure(store.container("failures"), queue=ORDER_INTENTS, message_id=msg.message_id,
                       delivery_count=attempt, error="ValidationError: qty must be positive", now=NOW)
        queue.abandon(msg)
    assert queue.dead_letters() and queue.receive(1) == []

    assert watch_dead_letters(store, broker, NOW) == 1
    assert watch_dead_letters(store, broker, NOW) == 0  # once
    alert = failure_of(store.container("failures"), queue="alerts", message_id=alert_id(ORDER_INTENTS, "i-poison"))
    assert alert is not None and alert["tenantId"] == "tenant-a"
    assert alert["lastError"].startswith("ValidationError") and alert["reason"] == "MaxDeliveryCountExceeded"
    [event] = read_chain(store.container("audit"), "tenant-a")
    assert event.action == "queue.dead-lettered" and event.request_id == "req-poison-01"
    broker.close()
    store.close()
