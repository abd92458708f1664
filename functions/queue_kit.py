"""The wrappers every Service Bus entry point uses: run the handler, record why it failed.

A failure is recorded (best effort) and re-raised, so the host abandons the message (a
batch trigger: the whole batch) and Service Bus redelivers it, dead-lettering it after
the max delivery count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import azure.functions as func

from shared.bootstrap import runtime
from shared.services.batches import BatchStopped
from shared.services.failures import describe_error, record_failure
from shared.topology import queue_spec

log = logging.getLogger("halyard.queue")


def consume(msg: func.ServiceBusMessage, queue: str, handler: Callable[[str], None]) -> None:
    body = msg.get_body().decode("utf-8")
    try:
        handler(body)
    except Exception as exc:
        _record(msg, queue, exc)
        raise


def consume_batch(msgs: Sequence[func.ServiceBusMessage], queue: str,
                  handler: Callable[[list[str], list[bool]], None]) -> None:
    """A ``cardinality="many"`` trigger: the handler gets the bodies in order and, for each,
    whether this is its last delivery (``shared.services.batches``). When it stops
    (``BatchStopped``) each failure is recorded against its own message; any other error
    against every message, as none was handled."""
    bodies = [m.get_body().decode("utf-8") for m in msgs]
    limit = queue_spec(queue).max_delivery_count
    last = [int(getattr(m, "delivery_count", 0) or 0) >= limit for m in msgs]
    try:
        handler(bodies, last)
    except BatchStopped as stopped:
        for index, cause in sorted(stopped.failures.items()):
            if 0 <= index < len(msgs) and isinstance(cause, Exception):
                _record(msgs[index], queue, cause)
        raise
    except Exception as exc:
        for msg in msgs:
            _record(msg, queue, exc)
        raise


def _record(msg: func.ServiceBusMessage, queue: str, exc: Exception) -> None:
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
