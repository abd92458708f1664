"""Why a queue message failed, recorded by the consuming function itself.

Service Bus dead-letters a message after its max delivery count with a generic reason
(``MaxDeliveryCountExceeded``); the exception never reaches the dead-letter queue. So
each failed delivery records its error here, keyed by queue and message id, and the
dead-letter watcher and operators can say why a poisoned message failed, on Azure and on
the devhost alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.ports import Container, NotFound
from shared.services.optimistic import update_document

MAX_ERROR_CHARS = 1024
MAX_ATTEMPTS_KEPT = 20
RETENTION_SECONDS = 14 * 24 * 3600


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def record_failure(
    failures: Container,
    *,
    queue: str,
    message_id: str,
    delivery_count: int,
    error: str,
    now: datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    attempt = {"deliveryCount": delivery_count, "at": now.isoformat(), "error": error[:MAX_ERROR_CHARS]}

    def build(current: dict[str, Any] | None) -> dict[str, Any]:
        earlier = list(current.get("attempts", [])) if current else []
        return {
            "id": message_id,
            "queue": queue,
            "messageId": message_id,
            "requestId": request_id,
            "attempts": [*earlier[-(MAX_ATTEMPTS_KEPT - 1):], attempt],
            "lastError": attempt["error"],
            "lastDeliveryCount": delivery_count,
            "ttl": RETENTION_SECONDS,
        }

    return update_document(failures, message_id, queue, build)


def failure_of(failures: Container, *, queue: str, message_id: str) -> dict[str, Any] | None:
    try:
        return failures.read(message_id, queue)
    except NotFound:
        return None
