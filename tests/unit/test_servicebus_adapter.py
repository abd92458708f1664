"""The Service Bus adapter against the SDK's own message types, behind a fake client.

There is no Service Bus stand-in (DESIGN §6), so the network is replaced at the
adapter's seam: ``ServiceBusBroker`` takes a ``ServiceBusClient``, and these tests hand
it a fake whose ``get_queue_sender`` / ``get_queue_receiver`` return recording fakes.
What crosses that seam is real SDK data: sends are checked on the real
``azure.servicebus.ServiceBusMessage`` the adapter built, and receives return real
``ServiceBusReceivedMessage`` objects decoded from a pyamqp ``Message`` plus the
transfer frame's delivery tag (the lock token), the way the SDK's pyamqp transport
builds them. Errors raised are the SDK's own exception classes.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    OperationTimeoutError,
    ServiceBusAuthenticationError,
    ServiceBusCommunicationError,
    ServiceBusConnectionError,
    SessionLockLostError,
)

from shared.adapters.servicebus_queue import ServiceBusBroker
from shared.config import load_settings
from shared.ports import MessageLockLost, OutgoingMessage, Queue, QueueBroker, QueueUnavailable
from shared.topology import ORDER_INTENTS, STRATEGY_TICKS

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# far in the future so the adapter's own lapsed-lock bookkeeping never drops them
LOCKED_UNTIL = datetime(2999, 1, 1, tzinfo=UTC)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def sdk_message(
    receiver: object,
    *,
    message_id: str = "m1",
    body: bytes = b'{"tick": 1}',
    prior_deliveries: int = 0,
    sequence_number: int = 42,
    session_id: str | None = None,
    locked_until: datetime | None = LOCKED_UNTIL,
    app_props: dict[str | bytes, Any] | None = None,
    peeked: bool = False,
) -> ServiceBusReceivedMessage:
    """A received message as the pyamqp transport decodes it off the wire."""
    annotations: dict[str | bytes, Any] = {
        b"x-opt-sequence-number": sequence_number,
        b"x-opt-enqueued-time": _ms(T0),
    }
    if locked_until is not None:
        annotations[b"x-opt-locked-until"] = _ms(locked_until)
    amqp = Message(
        header=Header(delivery_count=prior_deliveries),
        message_annotations=annotations,
        properties=Properties(
            message_id=message_id.encode(),
            correlation_id=b"req-7",
            content_type=b"application/json",
            group_id=session_id.encode() if session_id else None,
        ),
        application_properties=app_props if app_props is not None else {b"kind": b"tick", b"n": 3},
        data=[body],
    )
    if peeked:
        return ServiceBusReceivedMessage(amqp, receiver=receiver, is_peeked_message=True)
    frame = (0, 1, uuid.uuid4().bytes_le)  # (handle, delivery id, delivery tag = lock token)
    return ServiceBusReceivedMessage(amqp, receiver=receiver, frame=frame)  # type: ignore[arg-type]


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[ServiceBusMessage] = []
        self.error: BaseException | None = None
        self.closed = False

    def send_messages(self, message: ServiceBusMessage) -> None:
        if self.error:
            raise self.error
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


class FakeSession:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.locked_until_utc = T0 + timedelta(seconds=60)
        self.renewed_to = T0 + timedelta(seconds=120)

    def renew_lock(self) -> datetime:
        self.locked_until_utc = self.renewed_to
        return self.renewed_to


class FakeReceiver:
    def __init__(self, session: FakeSession | None = None) -> None:
        self.session = session
        self.batches: list[list[ServiceBusReceivedMessage]] = []
        self.peeked: list[ServiceBusReceivedMessage] = []
        self.calls: list[tuple[Any, ...]] = []
        self.error: BaseException | None = None
        self.closed = False

    def _call(self, *call: object) -> None:
        self.calls.append(call)
        if self.error:
            raise self.error

    def receive_messages(self, max_message_count: int = 1, max_wait_time: float | None = None):
        self._call("receive", max_message_count)
        return self.batches.pop(0) if self.batches else []

    def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        self._call("complete", message)

    def abandon_message(self, message: ServiceBusReceivedMessage) -> None:
        self._call("abandon", message)

    def dead_letter_message(self, message, reason=None, error_description=None) -> None:
        self._call("dead_letter", message, reason, error_description)

    def renew_message_lock(self, message: ServiceBusReceivedMessage) -> datetime:
        self._call("renew", message)
        return T0 + timedelta(seconds=90)

    def peek_messages(self, max_message_count: int = 1):
        self._call("peek", max_message_count)
        return self.peeked[:max_message_count]

    def close(self) -> None:
        self.closed = True


class FakeClient:
    """Stands in for ``ServiceBusClient``: hands out the fakes and records how."""

    def __init__(self) -> None:
        self.sender = FakeSender()
        self.receivers: list[FakeReceiver | BaseException] = []
        self.sender_requests: list[str] = []
        self.receiver_requests: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def get_queue_sender(self, queue_name: str, **kwargs) -> FakeSender:
        self.sender_requests.append(queue_name)
        return self.sender

    def get_queue_receiver(self, queue_name: str, **kwargs) -> FakeReceiver:
        self.receiver_requests.append((queue_name, kwargs))
        nxt = self.receivers.pop(0)
        if isinstance(nxt, BaseException):
            raise nxt
        return nxt

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def broker(client: FakeClient) -> ServiceBusBroker:
    return ServiceBusBroker(client, receive_wait_seconds=0.5)  # type: ignore[arg-type]


def _one(client: FakeClient, broker: ServiceBusBroker, **kw):
    receiver = FakeReceiver()
    receiver.batches.append([sdk_message(receiver, **kw)])
    client.receivers.append(receiver)
    [got] = broker.queue(STRATEGY_TICKS).receive()
    return receiver, got


# --------------------------------------------------------------------------- send


def test_send_builds_the_sdk_message_with_every_field(client: FakeClient, broker: ServiceBusBroker) -> None:
    due = T0 + timedelta(minutes=5)
    out = OutgoingMessage(
        body='{"intent": 1}', message_id="intent-1", session_id="acct-9",
        scheduled_enqueue_time=due, correlation_id="req-1", content_type="application/json",
        application_properties={"kind": "intent", "attempt": 2, "live": True},
    )
    broker.queue(ORDER_INTENTS).send(out)
    broker.queue(ORDER_INTENTS).send(replace(out, message_id="intent-2"))
    first, second = client.sender.sent
    assert isinstance(first, ServiceBusMessage)
    assert (first.message_id, first.session_id) == ("intent-1", "acct-9")
    assert first.scheduled_enqueue_time_utc == due
    assert (first.correlation_id, first.content_type) == ("req-1", "application/json")
    assert first.application_properties == {"kind": "intent", "attempt": 2, "live": True}
    assert b"".join(first.body) == b'{"intent": 1}'
    assert second.message_id == "intent-2"
    assert client.sender_requests == [ORDER_INTENTS]  # one sender, reused


def test_send_to_a_session_queue_needs_a_session_id(client: FakeClient, broker: ServiceBusBroker) -> None:
    with pytest.raises(ValueError):
        broker.queue(ORDER_INTENTS).send(OutgoingMessage(body="{}", message_id="x"))
    assert client.sender.sent == []


@pytest.mark.parametrize("error", [ServiceBusConnectionError(), ServiceBusAuthenticationError(),
                                   ServiceBusCommunicationError()])
def test_send_connection_errors_are_queue_unavailable(
    client: FakeClient, broker: ServiceBusBroker, error: Exception
) -> None:
    client.sender.error = error
    with pytest.raises(QueueUnavailable) as info:
        broker.queue(STRATEGY_TICKS).send(OutgoingMessage(body="{}", message_id="x"))
    assert info.value.__cause__ is error


def test_oversized_message_is_not_reported_as_an_outage(client: FakeClient, broker: ServiceBusBroker) -> None:
    client.sender.error = MessageSizeExceededError()
    with pytest.raises(MessageSizeExceededError):
        broker.queue(STRATEGY_TICKS).send(OutgoingMessage(body="{}", message_id="x"))


# --------------------------------------------------------------------------- receive


def test_receive_maps_the_sdk_message(client: FakeClient, broker: ServiceBusBroker) -> None:
    receiver, got = _one(client, broker, prior_deliveries=2, sequence_number=77)
    name, kwargs = client.receiver_requests[0]
    assert name == STRATEGY_TICKS
    assert kwargs["receive_mode"] == ServiceBusReceiveMode.PEEK_LOCK
    assert "session_id" not in kwargs
    assert receiver.calls == [("receive", 1)]
    assert (got.queue, got.message_id, got.body) == (STRATEGY_TICKS, "m1", '{"tick": 1}')
    assert got.delivery_count == 3  # SDK counts prior attempts; the port counts deliveries
    assert got.sequence_number == 77
    assert got.enqueued_time == T0
    assert got.locked_until == LOCKED_UNTIL
    assert (got.correlation_id, got.content_type, got.session_id) == ("req-7", "application/json", None)
    assert dict(got.application_properties) == {"kind": "tick", "n": 3}
    uuid.UUID(got.lock_token)  # a real lock token, taken from the delivery tag


def test_first_delivery_counts_as_one(client: FakeClient, broker: ServiceBusBroker) -> None:
    _receiver, got = _one(client, broker, prior_deliveries=0)
    assert got.delivery_count == 1


def test_receive_reuses_one_receiver_and_passes_the_batch_size(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    receiver = FakeReceiver()
    receiver.batches = [[sdk_message(receiver, message_id="a"), sdk_message(receiver, message_id="b")],
                        []]
    client.receivers.append(receiver)
    q = broker.queue(STRATEGY_TICKS)
    assert [m.message_id for m in q.receive(10)] == ["a", "b"]
    assert q.receive(10) == []
    assert receiver.calls == [("receive", 10), ("receive", 10)]
    assert len(client.receiver_requests) == 1


def test_receive_connection_error_is_queue_unavailable(client: FakeClient, broker: ServiceBusBroker) -> None:
    receiver = FakeReceiver()
    receiver.error = ServiceBusConnectionError()
    client.receivers.append(receiver)
    with pytest.raises(QueueUnavailable):
        broker.queue(STRATEGY_TICKS).receive()


# --------------------------------------------------------------------------- settle


@pytest.mark.parametrize(
    ("settle", "expected"),
    [
        (lambda q, m: q.complete(m), ("complete",)),
        (lambda q, m: q.abandon(m), ("abandon",)),
        (lambda q, m: q.dead_letter(m, "InvalidPayload", "not json"),
         ("dead_letter", "InvalidPayload", "not json")),
    ],
    ids=["complete", "abandon", "dead_letter"],
)
def test_settling_calls_the_receiver_with_the_sdk_message(
    client: FakeClient, broker: ServiceBusBroker, settle, expected
) -> None:
    receiver, got = _one(client, broker)
    settle(broker.queue(STRATEGY_TICKS), got)
    call = receiver.calls[-1]
    assert (call[0], *call[2:]) == expected
    assert isinstance(call[1], ServiceBusReceivedMessage)
    assert str(call[1].lock_token) == got.lock_token
    # settled here: a second settlement never reaches the SDK
    with pytest.raises(MessageLockLost):
        broker.queue(STRATEGY_TICKS).complete(got)
    assert len(receiver.calls) == 2


@pytest.mark.parametrize("error", [MessageLockLostError(), SessionLockLostError(),
                                   MessageAlreadySettled(action="complete")])
def test_sdk_lock_errors_are_message_lock_lost(
    client: FakeClient, broker: ServiceBusBroker, error: Exception
) -> None:
    receiver, got = _one(client, broker)
    receiver.error = error
    with pytest.raises(MessageLockLost) as info:
        broker.queue(STRATEGY_TICKS).complete(got)
    assert info.value.__cause__ is error


def test_settlement_connection_error_is_queue_unavailable(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    receiver, got = _one(client, broker)
    receiver.error = ServiceBusConnectionError()
    with pytest.raises(QueueUnavailable):
        broker.queue(STRATEGY_TICKS).abandon(got)


def test_renew_lock_uses_the_receiver_and_returns_the_new_expiry(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    receiver, got = _one(client, broker)
    renewed = broker.queue(STRATEGY_TICKS).renew_lock(got)
    assert receiver.calls[-1][0] == "renew"
    assert str(receiver.calls[-1][1].lock_token) == got.lock_token
    assert renewed.locked_until == T0 + timedelta(seconds=90)
    assert replace(renewed, locked_until=got.locked_until) == got


def test_a_lapsed_lock_is_forgotten_on_the_next_receive(client: FakeClient, broker: ServiceBusBroker) -> None:
    receiver, got = _one(client, broker, locked_until=T0)  # T0 is long past
    broker.queue(STRATEGY_TICKS).receive()
    with pytest.raises(MessageLockLost):
        broker.queue(STRATEGY_TICKS).complete(got)
    assert [c[0] for c in receiver.calls] == ["receive", "receive"]


# --------------------------------------------------------------------------- sessions


def test_session_receive_takes_one_message_per_session(client: FakeClient, broker: ServiceBusBroker) -> None:
    r_a, r_b = FakeReceiver(FakeSession("acct-a")), FakeReceiver(FakeSession("acct-b"))
    r_a.batches.append([sdk_message(r_a, message_id="a1", session_id="acct-a", locked_until=None)])
    r_b.batches.append([sdk_message(r_b, message_id="b1", session_id="acct-b", locked_until=None)])
    none_left = FakeReceiver()  # the SDK opens the session link on the first receive
    none_left.error = OperationTimeoutError(message="no session available")
    client.receivers += [r_a, r_b, none_left]
    got = broker.queue(ORDER_INTENTS).receive(5)
    assert [(m.message_id, m.session_id) for m in got] == [("a1", "acct-a"), ("b1", "acct-b")]
    assert all(kw["session_id"] is NEXT_AVAILABLE_SESSION for _, kw in client.receiver_requests)
    assert all(kw["receive_mode"] == ServiceBusReceiveMode.PEEK_LOCK for _, kw in client.receiver_requests)
    assert r_a.calls[0] == ("receive", 1) and r_b.calls[0] == ("receive", 1)
    assert none_left.closed
    assert r_a.session is not None and r_b.session is not None
    assert got[0].locked_until == r_a.session.locked_until_utc  # the session lock
    broker.queue(ORDER_INTENTS).complete(got[0])
    assert r_a.closed and not r_b.closed  # settling releases that session only
    renewed = broker.queue(ORDER_INTENTS).renew_lock(got[1])
    assert renewed.locked_until == r_b.session.renewed_to
    assert [c[0] for c in r_b.calls] == ["receive"]  # session lock renewed, not the message's


def test_session_receive_with_no_session_available_is_empty(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    empty = FakeReceiver(FakeSession("acct-a"))
    client.receivers.append(empty)
    assert broker.queue(ORDER_INTENTS).receive(3) == []
    assert empty.closed


def test_session_batch_takes_many_messages_of_one_session_on_one_receiver(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    r_a = FakeReceiver(FakeSession("acct-a"))
    r_a.batches.append([sdk_message(r_a, message_id=f"a{i}", session_id="acct-a", sequence_number=i,
                                    locked_until=None) for i in range(3)])
    client.receivers.append(r_a)
    q = broker.queue(ORDER_INTENTS)
    batch = q.receive_batch(32)
    assert [m.message_id for m in batch] == ["a0", "a1", "a2"]
    [(_, kwargs)] = client.receiver_requests  # one session receiver for the whole batch
    assert kwargs["session_id"] is NEXT_AVAILABLE_SESSION
    assert r_a.calls == [("receive", 32)]
    q.complete_batch(batch[:2])
    assert not r_a.closed  # a2 still holds the session
    q.complete_batch(batch[2:])
    assert r_a.closed
    assert [c[0] for c in r_a.calls] == ["receive", "complete", "complete", "complete"]


def test_complete_batch_completes_the_rest_and_then_reports_a_lost_lock(
    client: FakeClient, broker: ServiceBusBroker
) -> None:
    r_a = FakeReceiver(FakeSession("acct-a"))
    r_a.batches.append([sdk_message(r_a, message_id=f"a{i}", session_id="acct-a", locked_until=None)
                        for i in range(3)])
    client.receivers.append(r_a)
    q = broker.queue(ORDER_INTENTS)
    batch = q.receive_batch(3)
    q.abandon(batch[0])  # settled already: the adapter no longer holds its lock
    with pytest.raises(MessageLockLost, match="a0"):
        q.complete_batch(batch)
    assert [c[0] for c in r_a.calls] == ["receive", "abandon", "complete", "complete"]


def test_session_batch_with_no_session_available_is_empty(client: FakeClient, broker: ServiceBusBroker) -> None:
    none_left = FakeReceiver()
    none_left.error = OperationTimeoutError(message="no session available")
    client.receivers.append(none_left)
    assert broker.queue(ORDER_INTENTS).receive_batch(8) == []
    assert none_left.closed


# --------------------------------------------------------------------------- dead letters, broker


def test_dead_letters_peek_the_dead_letter_sub_queue(client: FakeClient, broker: ServiceBusBroker) -> None:
    dlq = FakeReceiver()
    dlq.peeked = [sdk_message(
        dlq, message_id="poison", prior_deliveries=4, peeked=True, locked_until=None,
        app_props={b"kind": b"tick", b"DeadLetterReason": b"MaxDeliveryCountExceeded",
                   b"DeadLetterErrorDescription": b"Message could not be consumed after 5 attempts"},
    )]
    client.receivers.append(dlq)
    [dl] = broker.queue(STRATEGY_TICKS).dead_letters(10)
    name, kwargs = client.receiver_requests[0]
    assert (name, kwargs["sub_queue"]) == (STRATEGY_TICKS, ServiceBusSubQueue.DEAD_LETTER)
    assert dlq.calls == [("peek", 10)] and dlq.closed
    assert dl.reason == "MaxDeliveryCountExceeded"
    assert dl.description == "Message could not be consumed after 5 attempts"
    assert (dl.message.message_id, dl.message.body) == ("poison", '{"tick": 1}')
    assert dl.message.delivery_count == 5
    assert dict(dl.message.application_properties) == {"kind": "tick"}
    assert dl.dead_lettered_at == T0


def test_ping_maps_an_unreachable_namespace(client: FakeClient, broker: ServiceBusBroker) -> None:
    client.receivers.append(ServiceBusCommunicationError())
    with pytest.raises(QueueUnavailable):
        broker.ping()
    ok = FakeReceiver()
    client.receivers.append(ok)
    broker.ping()
    assert ok.calls == [("peek", 1)]


def test_undeclared_queue_is_a_key_error(broker: ServiceBusBroker) -> None:
    assert isinstance(broker, QueueBroker)
    assert isinstance(broker.queue(ORDER_INTENTS), Queue)
    assert broker.queue(ORDER_INTENTS).spec.requires_session
    with pytest.raises(KeyError):
        broker.queue("strategy-tickz")


def test_close_closes_handlers_and_client(client: FakeClient, broker: ServiceBusBroker) -> None:
    receiver, _got = _one(client, broker)
    broker.queue(STRATEGY_TICKS).send(OutgoingMessage(body="{}", message_id="x"))
    broker.close()
    assert receiver.closed and client.sender.closed and client.closed


def test_from_settings_builds_a_real_client() -> None:
    base = load_settings({})
    by_key = ServiceBusBroker.from_settings(replace(
        base, servicebus_connection=(
            "Endpoint=sb://halyard-test.servicebus.windows.net/;"
            "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0"
        ),
    ))
    assert isinstance(by_key._client, ServiceBusClient)
    assert by_key._client.fully_qualified_namespace == "halyard-test.servicebus.windows.net"
    by_key.close()
    by_identity = ServiceBusBroker.from_settings(
        replace(base, servicebus_namespace="halyard-mi.servicebus.windows.net")
    )
    assert isinstance(by_identity._client, ServiceBusClient)
    assert type(by_identity._client._credential).__name__ == "DefaultAzureCredential"
    by_identity.close()
