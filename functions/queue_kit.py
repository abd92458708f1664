"""The wrapper every Service Bus entry point uses: run the handler, record why it failed.

A failure is recorded (best effort) and re-raised, so the host abandons the message and
Service Bus redelivers it, dead-lettering it after the max delivery count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from shared.bootstrap import runtime
from shared.services.failures import describe_error, record_failure

log = logging.getLogger("halyard.queue")


def consume(msg: func.ServiceBusMessage, queue: str, handler: Callable[[str], None]) -> None:
    body = msg.get_body().decode("utf-8")
    try:
        handler(body)
    except Exception as exc:
        message_id = getattr(msg, "message_id", None) or "unknown"
        delivery_count = int(getattr(msg, "delivery_count", 0) or 0)
        request_id = (getattr(msg, "application_properties", None) or {}).get("requestId")
        try:
            rt = runtime()
            record_failure(
                rt.store.container("failures"),
                queue=queue,
                message_id=message_id,
                delivery_count=delivery_count,
                error=describe_error(exc),
                now=rt.clock.now(),
                request_id=request_id,
            )
        except Exception:  # recording must never hide the original failure
            log.exception("could not record the failure of message %s on %s", message_id, queue)
        raise
