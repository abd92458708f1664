"""The Queue port on Azure Service Bus (``azure-servicebus``, sync ``ServiceBusClient``).

Why so thin: the semantics the code relies on are the broker's own. Duplicate
detection (window), max delivery count, lock duration and sessions are properties of
the Service Bus *queue entity*, set by infra (``infra/bicep``) from the same
``QueueSpec`` values in ``shared.topology``; this adapter does not enforce them, it only
maps shapes and errors. The embedded ``SqliteQueueBroker`` reproduces the same
behaviour locally, and the contract suite pins it.

Why it keeps SDK objects around: settling (complete, abandon, dead-letter, renew) must
go through the receiver that received the message, with the SDK message itself. The
port's ``ReceivedMessage`` is a plain frozen dataclass, so each queue keeps a map from
lock token to (receiver, SDK message) until the message is settled or its lock lapses.

Sessions: each session message is received on its own ``NEXT_AVAILABLE_SESSION``
receiver, one message per session at a time (the port's rule: a session's next
message is not handed out while an earlier one is locked). That receiver holds the
session lock and is closed once its message is settled, releasing the session.
``receive_batch`` takes several messages of one session on one such receiver.

Threads: SDK handlers are not thread-safe, so each queue serialises its SDK calls; a
``receive`` waiting for messages (up to ``receive_wait_seconds``) delays settlements on
the same queue by as much.

Tests replace the network by passing a fake client whose ``get_queue_sender`` and
``get_queue_receiver`` return fakes (``tests/unit/test_servicebus_adapter.py``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.amqp import AmqpMessageBodyType
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageNotFoundError,
    MessageSizeExceededError,
    OperationTimeoutError,
    ServiceBusError,
    SessionLockLostError,
)

from shared.ports import (
    DeadLetter,
    MessageLockLost,
    OutgoingMessage,
    QueueSpec,
    QueueUnavailable,
    ReceivedMessage,
)
from shared.topology import QUEUES

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusReceiver, ServiceBusSender

    from shared.config import Settings

_DLQ_PROPERTIES = ("DeadLetterReason", "DeadLetterErrorDescription")  # set by the broker
_LOCK_LOST = (
    MessageLockLostError, SessionLockLostError, MessageAlreadySettled, MessageNotFoundError
)


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Translate SDK errors into the port's: lock lost, or broker unavailable.

    ``MessageSizeExceededError`` is a caller bug (a ``ValueError``) and passes through.
    """
    try:
        yield
    except _LOCK_LOST as exc:
        raise MessageLockLost(f"{what}: {exc}") from exc
    except MessageSizeExceededError:
        raise
    except (ServiceBusError, ClientAuthenticationError) as exc:
        raise QueueUnavailable(f"{what}: {exc}") from exc


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _body_text(message: ServiceBusReceivedMessage) -> str:
    body = message.body
    if message.body_type == AmqpMessageBodyType.DATA:
        return b"".join(body).decode("utf-8")
    if isinstance(body, bytes | str):
        return _text(body)
    return json.dumps(body, default=_text)


def _properties(raw: Mapping[Any, Any] | None) -> dict[str, str | int | float | bool]:
    """AMQP hands back bytes keys and string values as bytes; the port speaks str."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in (raw or {}).items():
        out[_text(key)] = value if isinstance(value, bool | int | float | str) else _text(value)
    return out


@dataclass
class _Held:
    receiver: ServiceBusReceiver
    message: ServiceBusReceivedMessage
    locked_until: datetime


class ServiceBusQueue:
    """One Service Bus queue; implements ``shared.ports.Queue``."""

    def __init__(self, client: ServiceBusClient, spec: QueueSpec, *, wait_seconds: float) -> None:
        self.spec = spec
        self._client = client
        self._wait = wait_seconds
        self._mutex = threading.RLock()  # SDK handlers are not thread-safe
        self._sender: ServiceBusSender | None = None
        self._receiver: ServiceBusReceiver | None = None
        self._held: dict[str, _Held] = {}

    def send(self, message: OutgoingMessage) -> None:
        """Send; the broker drops a repeated message id inside its duplicate window."""
        if self.spec.requires_session and not message.session_id:
            raise ValueError(f"queue {self.spec.name!r} requires a session_id")
        props: dict[str | bytes, Any] = {k: v for k, v in message.application_properties.items()}
        sdk_message = ServiceBusMessage(
            message.body,
            message_id=message.message_id,
            session_id=message.session_id,
            scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            application_properties=props or None,
        )
        with self._mutex, _mapped(f"send to {self.spec.name}"):
            if self._sender is None:
                self._sender = self._client.get_queue_sender(self.spec.name)
            self._sender.send_messages(sdk_message)

    def receive(self, max_messages: int = 1) -> list[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        with self._mutex, _mapped(f"receive from {self.spec.name}"):
            self._forget_lapsed()
            if self.spec.requires_session:
                return self._receive_sessions(max_messages)
            if self._receiver is None:
                self._receiver = self._client.get_queue_receiver(
                    self.spec.name,
                    receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                    max_wait_time=self._wait,
                )
            got = self._receiver.receive_messages(
                max_message_count=max_messages, max_wait_time=self._wait
            )
            return [self._hold(self._receiver, m) for m in got]

    def receive_batch(self, max_messages: int) -> list[ReceivedMessage]:
        """On a session queue: up to ``max_messages`` of the next available session, on one
        session receiver (as the Functions host's batch trigger does); else ``receive``."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if not self.spec.requires_session:
            return self.receive(max_messages)
        with self._mutex, _mapped(f"receive a batch from {self.spec.name}"):
            self._forget_lapsed()
            receiver = self._client.get_queue_receiver(
                self.spec.name,
                session_id=NEXT_AVAILABLE_SESSION,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                max_wait_time=self._wait,
            )
            try:
                got = receiver.receive_messages(max_message_count=max_messages, max_wait_time=self._wait)
            except OperationTimeoutError:  # no unlocked session has messages
                got = []
            if not got:
                self._close_quietly(receiver)
            return [self._hold(receiver, m) for m in got]

    def _receive_sessions(self, max_messages: int) -> list[ReceivedMessage]:
        out: list[ReceivedMessage] = []
        while len(out) < max_messages:
            receiver = self._client.get_queue_receiver(
                self.spec.name,
                session_id=NEXT_AVAILABLE_SESSION,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                max_wait_time=self._wait,
            )
            try:
                got = receiver.receive_messages(max_message_count=1, max_wait_time=self._wait)
            except OperationTimeoutError:  # no unlocked session has messages
                got = []
            if not got:
                self._close_quietly(receiver)
                break
            out.append(self._hold(receiver, got[0]))
        return out

    def _hold(
        self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage
    ) -> ReceivedMessage:
        locked_until = message.locked_until_utc
        session = getattr(receiver, "session", None)
        if locked_until is None and session is not None:
            locked_until = session.locked_until_utc
        if locked_until is None:
            locked_until = datetime.now(UTC) + timedelta(seconds=self.spec.lock_duration_seconds)
        mapped = ReceivedMessage(
            queue=self.spec.name,
            message_id=_text(message.message_id),
            body=_body_text(message),
            lock_token=str(message.lock_token),
            # the SDK exposes the AMQP header count (prior attempts, 0 on first
            # delivery); the port counts deliveries like Service Bus itself (first = 1)
            delivery_count=(message.delivery_count or 0) + 1,
            enqueued_time=message.enqueued_time_utc or datetime.now(UTC),
            locked_until=locked_until,
            sequence_number=message.sequence_number or 0,
            session_id=message.session_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            application_properties=_properties(message.application_properties),
        )
        self._held[mapped.lock_token] = _Held(receiver, message, locked_until)
        return mapped

    def _take(self, message: ReceivedMessage) -> _Held:
        held = self._held.get(message.lock_token)
        if held is None:
            raise MessageLockLost(
                f"{self.spec.name}: message {message.message_id!r} was settled or its lock lapsed"
            )
        return held

    def _settle(self, message: ReceivedMessage, what: str, action: str, **kwargs: str) -> None:
        with self._mutex:
            held = self._take(message)
            try:
                with _mapped(f"{what} on {self.spec.name}"):
                    getattr(held.receiver, action)(held.message, **kwargs)
            finally:
                # settled, or its lock is gone: either way this token is done
                self._release(message.lock_token)

    def complete(self, message: ReceivedMessage) -> None:
        self._settle(message, "complete", "complete_message")

    def complete_batch(self, messages: Sequence[ReceivedMessage]) -> None:
        """Service Bus has no batch settlement: complete each; the first lost lock is
        raised once the others are done (they stay completed)."""
        lost: MessageLockLost | None = None
        for message in messages:
            try:
                self.complete(message)
            except MessageLockLost as exc:
                lost = lost or exc
        if lost is not None:
            raise lost

    def abandon(self, message: ReceivedMessage) -> None:
        """Release now; the broker dead-letters it once ``max_delivery_count`` is used."""
        self._settle(message, "abandon", "abandon_message")

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str = "") -> None:
        self._settle(
            message, "dead-letter", "dead_letter_message",
            reason=reason, error_description=description,
        )

    def renew_lock(self, message: ReceivedMessage) -> ReceivedMessage:
        """Renew the message lock, or for a session message the session lock."""
        with self._mutex, _mapped(f"renew lock on {self.spec.name}"):
            held = self._take(message)
            session = getattr(held.receiver, "session", None)
            renew = session.renew_lock if session is not None else None
            until = renew() if renew else held.receiver.renew_message_lock(held.message)
            held.locked_until = until
            return replace(message, locked_until=until)

    def dead_letters(self, max_messages: int = 100) -> list[DeadLetter]:
        """Peek the dead-letter sub-queue; Service Bus keeps no dead-letter timestamp,
        so ``dead_lettered_at`` is the entry's enqueued time there."""
        with self._mutex, _mapped(f"peek dead letters of {self.spec.name}"):
            receiver = self._client.get_queue_receiver(
                self.spec.name, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=self._wait
            )
            try:
                peeked = receiver.peek_messages(max_message_count=max_messages)
            finally:
                self._close_quietly(receiver)
        out = []
        for m in peeked:
            when = m.enqueued_time_utc or datetime.now(UTC)
            props = _properties(m.application_properties)
            for key in _DLQ_PROPERTIES:
                props.pop(key, None)
            out.append(
                DeadLetter(
                    message=ReceivedMessage(
                        queue=self.spec.name,
                        message_id=_text(m.message_id),
                        body=_body_text(m),
                        lock_token="",
                        delivery_count=(m.delivery_count or 0) + 1,
                        enqueued_time=when,
                        locked_until=when,
                        sequence_number=m.sequence_number or 0,
                        session_id=m.session_id,
                        correlation_id=m.correlation_id,
                        content_type=m.content_type,
                        application_properties=props,
                    ),
                    reason=m.dead_letter_reason or "",
                    description=m.dead_letter_error_description or "",
                    dead_lettered_at=when,
                )
            )
        return out

    def _release(self, token: str) -> None:
        """Drop a token; a session receiver with nothing left in hand is closed."""
        held = self._held.pop(token, None)
        if held is None or held.receiver is self._receiver:
            return
        if not any(h.receiver is held.receiver for h in self._held.values()):
            self._close_quietly(held.receiver)

    def _forget_lapsed(self) -> None:
        now = datetime.now(UTC)
        for token in [t for t, h in self._held.items() if h.locked_until <= now]:
            self._release(token)

    @staticmethod
    def _close_quietly(handler: Any) -> None:
        with contextlib.suppress(Exception):  # closing a broken link must not mask the cause
            handler.close()

    def close(self) -> None:
        with self._mutex:
            for token in list(self._held):
                self._release(token)
            for handler in (self._sender, self._receiver):
                if handler is not None:
                    self._close_quietly(handler)
            self._sender = self._receiver = None


class ServiceBusBroker:
    """All declared queues on one ``ServiceBusClient``; implements ``QueueBroker``."""

    def __init__(
        self,
        client: ServiceBusClient,
        queues: Sequence[QueueSpec] = QUEUES,
        *,
        receive_wait_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._queues = {
            s.name: ServiceBusQueue(client, s, wait_seconds=receive_wait_seconds) for s in queues
        }

    @classmethod
    def from_settings(
        cls, settings: Settings, queues: Sequence[QueueSpec] = QUEUES
    ) -> ServiceBusBroker:
        """Connection string if configured, else the namespace with the managed identity."""
        if settings.servicebus_connection:
            client = ServiceBusClient.from_connection_string(settings.servicebus_connection)
        elif settings.servicebus_namespace:
            from azure.identity import DefaultAzureCredential

            client = ServiceBusClient(
                fully_qualified_namespace=settings.servicebus_namespace,
                credential=DefaultAzureCredential(),
            )
        else:
            from shared.config import ConfigError

            raise ConfigError("Service Bus needs a connection string or a namespace")
        return cls(client, queues)

    def queue(self, name: str) -> ServiceBusQueue:
        try:
            return self._queues[name]
        except KeyError:
            raise KeyError(f"queue {name!r} is not declared") from None

    def ping(self) -> None:
        """Peek one dead letter of the first queue: a round trip that moves nothing."""
        for queue in self._queues.values():
            queue.dead_letters(1)
            return

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()
        with contextlib.suppress(Exception):
            self._client.close()
