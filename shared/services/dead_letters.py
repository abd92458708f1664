"""The dead-letter watcher: a poisoned message becomes an alert and an audit event.

Service Bus (and the embedded queue) park a message in the dead-letter sub-queue after
its max delivery count. Nothing is lost there, but nobody looks either; this turns each
new dead letter into one ``alert`` document (with the last recorded error, see
``failures``) and one audit event for the tenant the message belongs to, exactly once
(the alert's id is derived from the queue and message id).
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from shared.ports import Conflict, DeadLetter, QueueBroker, Store
from shared.services.audit import AlreadyAppended, append_audit
from shared.services.failures import failure_of
from shared.topology import QUEUES

SYSTEM_TENANT = "system"
WATCHER = "system:dead-letter-watcher"


def _tenant_of(letter: DeadLetter) -> str:
    try:
        body = json.loads(letter.message.body)
    except ValueError:
        return SYSTEM_TENANT
    tenant = body.get("tenantId") if isinstance(body, dict) else None
    return str(tenant) if tenant else SYSTEM_TENANT


def alert_id(queue: str, message_id: str) -> str:
    return f"dead-letter:{queue}:{message_id}"


def watch_dead_letters(store: Store, broker: QueueBroker, now: datetime, max_per_queue: int = 100) -> int:
    """Alert on dead letters not alerted yet; returns how many alerts were raised."""
    raised = 0
    failures = store.container("failures")
    for spec in QUEUES:
        for letter in broker.queue(spec.name).dead_letters(max_per_queue):
            message_id = letter.message.message_id
            failure = failure_of(failures, queue=spec.name, message_id=message_id)
            tenant = _tenant_of(letter)
            alert: dict[str, Any] = {
                "id": alert_id(spec.name, message_id), "queue": "alerts", "kind": "alert", "severity": "error",
                "tenantId": tenant, "source": spec.name, "messageId": message_id, "reason": letter.reason,
                "description": letter.description, "lastError": (failure or {}).get("lastError"),
                "deliveryCount": letter.message.delivery_count, "deadLetteredAt": letter.dead_lettered_at.isoformat(),
                "raisedAt": now.isoformat(),
            }
            if failure_of(failures, queue="alerts", message_id=alert["id"]) is not None:
                continue  # alerted before
            # The audit event first (idempotent by its id), then the alert: a crash in
            # between is finished by the next pass, and neither is ever written twice.
            with contextlib.suppress(AlreadyAppended):
                append_audit(store.container("audit"), tenant_id=tenant, action="queue.dead-lettered", actor=WATCHER,
                             target=f"{spec.name}/{message_id}", details={"reason": letter.reason,
                                                                          "lastError": alert["lastError"]},
                             request_id=str(letter.message.application_properties.get("requestId") or "") or None,
                             at=now, event_id=f"audit:{alert['id']}")
            try:
                failures.create(alert)  # partition "alerts" of the failures container
            except Conflict:
                continue  # another watcher raised it meanwhile
            raised += 1
    return raised
