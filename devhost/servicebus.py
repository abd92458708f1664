"""Feeds Service Bus triggered functions from the embedded queue, with the host's semantics.

Peek-lock receive; while the function runs its lock is renewed (the host's
``maxAutoLockRenewalDuration``, 5 minutes); success completes the message
(``autoCompleteMessages``); a raise abandons it, and the queue itself dead-letters it
after the max delivery count (``MaxDeliveryCountExceeded``), exactly as Service Bus does.
Why it failed is the function's own business to record (``functions/queue_kit.py``).

Batch triggers (``cardinality="many"``) get what the host's batch receive loop gives:
on a session queue, up to ``maxMessageBatchSize`` (host.json) messages of one session,
in order, as a list; success completes all of them, a raise abandons all of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from azure.functions.servicebus import ServiceBusMessage

from devhost.invocations import call_user_function, log_invocation
from devhost.registry import FunctionSpec
from shared.ports import MessageLockLost, OutgoingMessage, Queue, QueueBroker, ReceivedMessage

log = logging.getLogger("devhost.servicebus")

MAX_ERROR_DESCRIPTION = 1024
MAX_AUTO_LOCK_RENEWAL_SECONDS = 300.0
HOST_JSON = Path(__file__).resolve().parents[1] / "host.json"
DEFAULT_MAX_MESSAGE_BATCH_SIZE = 1000  # the Service Bus extension's default


def host_batch_size(path: Path = HOST_JSON) -> int:
    """``extensions.serviceBus.maxMessageBatchSize`` from host.json, as the host reads it."""
    try:
        settings = json.loads(path.read_text())["extensions"]["serviceBus"]
        size = int(settings.get("maxMessageBatchSize", DEFAULT_MAX_MESSAGE_BATCH_SIZE))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_MESSAGE_BATCH_SIZE
    return max(1, size)


def to_function_message(msg: ReceivedMessage) -> ServiceBusMessage:
    props: dict[str, object] = dict(msg.application_properties)
    return ServiceBusMessage(
        body=msg.body.encode("utf-8"),
        application_properties=props,
        user_properties=props,
        content_type=msg.content_type,
        correlation_id=msg.correlation_id,
        delivery_count=msg.delivery_count,
        enqueued_time_utc=msg.enqueued_time,
        locked_until=msg.locked_until,
        lock_token=msg.lock_token,
        message_id=msg.message_id,
        sequence_number=msg.sequence_number,
        session_id=msg.session_id,
    )


def request_id_of(msg: ReceivedMessage) -> str | None:
    value = msg.application_properties.get("requestId")
    return str(value) if value is not None else msg.correlation_id


class QueuePump:
    """One pump per Service Bus function: receives, invokes, settles."""

    def __init__(
        self,
        spec: FunctionSpec,
        broker: QueueBroker,
        *,
        concurrency: int = 4,
        idle_sleep: float = 0.05,
        max_batch: int | None = None,
    ) -> None:
        """``concurrency``: invocations at once (messages, or batches for a batch trigger);
        ``max_batch``: a batch trigger's batch size (default: host.json's)."""
        assert spec.queue_name is not None
        self.spec = spec
        self.queue: Queue = broker.queue(spec.queue_name)
        self.concurrency = concurrency
        self.idle_sleep = idle_sleep
        self.max_batch = max_batch if max_batch is not None else host_batch_size()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pump:{self.spec.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        sleep = self.idle_sleep
        while True:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                work = await loop.run_in_executor(None, self._receive, free)
            except Exception:
                log.exception("receive from %s failed", self.spec.queue_name)
                work = []
            if not work:
                await asyncio.sleep(sleep)
                sleep = min(sleep * 2, 0.2)
                continue
            sleep = self.idle_sleep
            for messages in work:
                task = asyncio.create_task(self._handle(messages))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    def _receive(self, invocations: int) -> list[list[ReceivedMessage]]:
        """Up to ``invocations`` invocations' worth of messages: one each, or one batch each."""
        if not self.spec.many:
            return [[msg] for msg in self.queue.receive(invocations)]
        batches: list[list[ReceivedMessage]] = []
        while len(batches) < invocations and (batch := self.queue.receive_batch(self.max_batch)):
            batches.append(batch)
        return batches

    async def _handle(self, messages: list[ReceivedMessage]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        request_id = request_id_of(messages[0])
        holder = list(messages)
        renewer = asyncio.create_task(self._keep_locked(holder))
        argument: object = [to_function_message(m) for m in messages] if self.spec.many \
            else to_function_message(messages[0])
        try:
            await call_user_function(self.spec.user_function, {self.spec.trigger_arg: argument})
        except Exception as exc:
            renewer.cancel()
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_DESCRIPTION]
            last = all(m.delivery_count >= self.queue.spec.max_delivery_count for m in messages)
            outcome = "failed, dead-lettered by the queue" if last else "failed, will retry"
            log_invocation(self.spec.name, "serviceBus", started, outcome, request_id, error)
            for held in holder:  # a failed batch is abandoned whole, as the host does
                await loop.run_in_executor(None, self._abandon, held)
            return
        finally:
            renewer.cancel()
        try:
            if self.spec.many:
                await loop.run_in_executor(None, self.queue.complete_batch, holder)
            else:
                await loop.run_in_executor(None, self.queue.complete, holder[0])
        except MessageLockLost:
            log_invocation(self.spec.name, "serviceBus", started, "lock lost, will redeliver", request_id)
            return
        log_invocation(self.spec.name, "serviceBus", started, "succeeded", request_id)

    async def _keep_locked(self, holder: list[ReceivedMessage]) -> None:
        """Renew the locks at half their duration while the function runs, up to 5 minutes."""
        loop = asyncio.get_running_loop()
        interval = self.queue.spec.lock_duration_seconds / 2
        deadline = loop.time() + MAX_AUTO_LOCK_RENEWAL_SECONDS
        while loop.time() + interval < deadline:
            await asyncio.sleep(interval)
            try:
                for i, held in enumerate(holder):
                    holder[i] = await loop.run_in_executor(None, self.queue.renew_lock, held)
            except MessageLockLost:
                return

    def _abandon(self, msg: ReceivedMessage) -> None:
        try:
            self.queue.abandon(msg)
        except MessageLockLost:
            log.warning("lock on %s lost before settling; the broker will redeliver it", msg.message_id)

    async def inject(self, body: str, message_id: str) -> None:
        """Send a message to this function's queue (the admin endpoint's 'run now')."""
        await asyncio.get_running_loop().run_in_executor(
            None, self.queue.send, OutgoingMessage(body=body, message_id=message_id)
        )

