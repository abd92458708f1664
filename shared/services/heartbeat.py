"""Scheduler heartbeat: a timer enqueues a beat, a queue consumer records it.

Why: it exercises timer → queue → consumer → store end to end every minute, so
``/api/health`` can show that the scheduling and messaging path is alive, not just
that the dependencies answer.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.ports import Container, OutgoingMessage, Queue
from shared.services.optimistic import update_document

SYSTEM_SCOPE = "system"
HEARTBEAT_ID = "heartbeat"


def beat_message(now: datetime, source: str) -> OutgoingMessage:
    """One message per scheduled minute; the id makes a double-fired timer harmless."""
    minute = now.replace(second=0, microsecond=0)
    body = {"kind": "heartbeat", "scheduledFor": minute.isoformat(), "source": source}
    return OutgoingMessage(
        body=json.dumps(body),
        message_id=f"heartbeat:{minute.strftime('%Y%m%dT%H%MZ')}",
    )


def emit_heartbeat(queue: Queue, now: datetime, source: str) -> OutgoingMessage:
    message = beat_message(now, source)
    queue.send(message)
    return message


def parse_beat(body: str) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("kind") != "heartbeat" or "scheduledFor" not in data:
        raise ValueError("not a heartbeat message")
    return data


def record_heartbeat(controls: Container, body: str, now: datetime) -> dict[str, Any]:
    """Count the beat on the heartbeat document (optimistic concurrency, see ``optimistic``)."""
    beat = parse_beat(body)

    def build(current: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": HEARTBEAT_ID,
            "scope": SYSTEM_SCOPE,
            "kind": "heartbeat",
            "lastAt": now.isoformat(),
            "lastScheduledFor": beat["scheduledFor"],
            "count": (current or {}).get("count", 0) + 1,
        }

    return update_document(controls, HEARTBEAT_ID, SYSTEM_SCOPE, build)
