"""Ports: the interfaces the core talks to, and the typed errors every adapter raises.

Why one module: services depend on these shapes only, so the embedded adapters (SQLite)
and the cloud adapters (Cosmos DB, Service Bus) are interchangeable, and one contract
suite per port (``tests/contract/``) pins the behaviour every implementation must share.

Nothing here imports Azure or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from shared.domain.market import Candle, Instrument, Ticker
from shared.domain.trading import OrderStatus, OrderType, Side

# --------------------------------------------------------------------------- errors


class PortError(Exception):
    """Base of every error an adapter raises on purpose."""


class StoreError(PortError):
    """Base of the Store errors."""


class NotFound(StoreError):
    """The item (or container) does not exist (HTTP 404 in Cosmos terms)."""


class Conflict(StoreError):
    """An item with that id already exists in that partition (HTTP 409)."""


class PreconditionFailed(StoreError):
    """The etag given with ``if_match`` is no longer the item's etag (HTTP 412)."""


class BatchFailed(StoreError):
    """A transactional batch was rolled back; ``index`` is the operation that failed."""

    def __init__(self, message: str, *, index: int, cause: StoreError | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.cause = cause


class InvalidQuery(StoreError):
    """The query or operation is malformed (unknown operator, bad field path, ...)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or answered with a server error."""


class QueueError(PortError):
    """Base of the Queue errors."""


class MessageLockLost(QueueError):
    """The peek-lock expired or the message was already settled: it will be redelivered."""


class QueueUnavailable(QueueError):
    """The broker cannot be reached."""


class ExchangeError(PortError):
    """Base of the exchange errors; ``code`` is the exchange's own code when it gave one."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(ExchangeError):
    """The exchange refused the order for a reason that a retry will not change."""


class InsufficientBalance(OrderRejected):
    """Not enough balance for the order."""


class AlreadySubmitted(ExchangeError):
    """An order with this client order id exists already: it was submitted, not failed."""


class UnknownOrder(ExchangeError):
    """No order with that id on the exchange."""


class RateLimited(ExchangeError):
    """Too many requests; ``retry_after`` seconds until the limit resets (if known)."""

    def __init__(self, message: str, *, code: int | str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """Network failure, server error, or the circuit breaker is open: try again later."""


class MarketDataError(PortError):
    """Market data could not be fetched or is malformed."""


# --------------------------------------------------------------------------- store

FilterOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "startswith", "exists"]


@dataclass(frozen=True)
class Filter:
    """One condition on an item field; ``field`` is a dotted path (``"halt.scope"``).

    ``in`` takes a sequence; ``exists`` takes ``True`` (field present) or ``False``.
    """

    field: str
    op: FilterOp
    value: Any = None


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A portable query: conjunction of filters, optional single-field order, page size.

    ``continuation`` is the opaque token of a previous ``Page``; ``limit`` is the page
    size (None: everything in one page).
    """

    where: Sequence[Filter] = ()
    order_by: OrderBy | None = None
    limit: int | None = None
    continuation: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of results. A page may hold fewer than ``limit`` items and still carry a
    continuation (Cosmos does this); only ``continuation is None`` means "no more".
    Tokens are opaque and only valid for the adapter and query that produced them."""

    items: list[dict[str, Any]]
    continuation: str | None = None


PatchKind = Literal["set", "add", "replace", "remove", "incr"]


@dataclass(frozen=True)
class PatchOp:
    """Cosmos-style partial update; ``path`` is a JSON pointer (``"/status"``)."""

    op: PatchKind
    path: str
    value: Any = None


BatchKind = Literal["create", "upsert", "replace", "delete", "patch"]


@dataclass(frozen=True)
class BatchOp:
    """One operation of a transactional batch; all share the batch's partition key.

    ``item`` for create/upsert/replace; ``id`` for delete/patch; ``patch`` for patch;
    ``if_match`` for replace/delete/patch/upsert.
    """

    kind: BatchKind
    item: dict[str, Any] | None = None
    id: str | None = None
    patch: Sequence[PatchOp] = ()
    if_match: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """A container and its partition key path (``"/tenantId"``)."""

    name: str
    partition_key_path: str

    @property
    def partition_key_field(self) -> str:
        return self.partition_key_path.lstrip("/").replace("/", ".")


@runtime_checkable
class Container(Protocol):
    """Items are JSON objects with a string ``id`` and the partition key field.

    Every returned item carries ``_etag`` (opaque string, changes on every write) and
    ``_ts`` (epoch seconds of the last write); no other system property. An item with
    an integer ``ttl`` (seconds) disappears that long after its last write.
    """

    spec: ContainerSpec

    def create(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Insert; ``Conflict`` if the id exists in that partition."""
        ...

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        """``NotFound`` if absent (or expired)."""
        ...

    def upsert(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """Create or replace. With ``if_match`` it is a conditional replace: a missing item
        or a stale etag raises ``PreconditionFailed``, and nothing is ever created."""
        ...

    def replace(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """``NotFound`` if absent, ``PreconditionFailed`` if ``if_match`` is stale."""
        ...

    def delete(self, id: str, partition_key: str, *, if_match: str | None = None) -> None:
        ...

    def patch(
        self,
        id: str,
        partition_key: str,
        ops: Sequence[PatchOp],
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        ...

    def query(self, query: Query, *, partition_key: str | None = None) -> Page:
        """Within one partition if ``partition_key`` is given, else across partitions."""
        ...

    def batch(self, partition_key: str, ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
        """All or nothing inside one partition; ``BatchFailed`` names the failing op.

        Returns one entry per op (the written item, or ``{}`` for a delete).
        """
        ...


@runtime_checkable
class Store(Protocol):
    def container(self, name: str) -> Container:
        """``NotFound`` for a container that was not declared."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""
        ...

    def unit_of_work(self) -> AbstractContextManager[bool]:
        """Group the writes of a block (this thread's) into one commit, where the adapter can;
        the value is whether it did (``with store.unit_of_work() as atomic:``).

        SQLite (True): the outermost unit is one transaction holding the write lock for its
        whole duration (keep it short: no network calls inside); reads inside see its
        writes; nothing is durable before it ends, then everything is. A unit inside a unit
        is a savepoint: an exception leaving it undoes its writes only, and propagates.
        Cosmos DB (False): a no-op; every write (or transactional batch) commits on its own.

        So a unit is a throughput tool (one commit, one fsync, for many writes). Code must
        be correct without it, as on Cosmos; when ``atomic`` it may skip steps that only
        exist to survive a crash *between* commits, since inside the unit there is none.
        """
        ...

    def close(self) -> None:
        ...


# --------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class QueueSpec:
    """A queue and the broker-side settings the code relies on (mirrored in Bicep)."""

    name: str
    lock_duration_seconds: float = 60.0
    max_delivery_count: int = 10
    duplicate_detection_window_seconds: float = 600.0
    requires_session: bool = False


@dataclass(frozen=True)
class OutgoingMessage:
    """``message_id`` is the idempotency key: the broker drops a repeat inside the window."""

    body: str
    message_id: str
    session_id: str | None = None
    scheduled_enqueue_time: datetime | None = None
    correlation_id: str | None = None
    content_type: str = "application/json"
    application_properties: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedMessage:
    """A peek-locked message; settle it with the queue that returned it.

    ``delivery_count`` counts this delivery: 1 on the first delivery (Service Bus's own
    meaning; the Python SDK reports earlier attempts, so its adapter adds one).
    """

    queue: str
    message_id: str
    body: str
    lock_token: str
    delivery_count: int
    enqueued_time: datetime
    locked_until: datetime
    sequence_number: int
    session_id: str | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    application_properties: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadLetter:
    """A message moved to the dead-letter sub-queue, with why.

    On a peeked dead letter ``message.lock_token``/``locked_until`` mean nothing; Service
    Bus records no dead-letter time, so its adapter reports the enqueued time there.
    """

    message: ReceivedMessage
    reason: str
    description: str
    dead_lettered_at: datetime


@runtime_checkable
class Queue(Protocol):
    spec: QueueSpec

    def send(self, message: OutgoingMessage) -> None:
        """Enqueue; a message id already sent within the window is silently dropped.

        A session queue refuses a message without ``session_id`` (``ValueError``).
        """
        ...

    def receive(self, max_messages: int = 1) -> list[ReceivedMessage]:
        """Peek-lock up to ``max_messages`` visible messages (scheduled ones only when due).

        With sessions, messages of one session come in send order and a session's next
        message is not handed out while an earlier one is locked.
        """
        ...

    def receive_batch(self, max_messages: int) -> list[ReceivedMessage]:
        """Peek-lock a batch the way a ``cardinality="many"`` Functions trigger gets one.

        On a session queue: up to ``max_messages`` messages of *one* session (the next
        with a visible message and none locked), in send order, all locked together; the
        session hands out nothing else until they are settled. On other queues: as
        ``receive``.
        """
        ...

    def complete(self, message: ReceivedMessage) -> None:
        """Remove it; ``MessageLockLost`` if the lock expired or it was settled."""
        ...

    def complete_batch(self, messages: Sequence[ReceivedMessage]) -> None:
        """Complete every message of a batch (one broker round trip where possible).

        All or nothing where the broker allows it (SQLite); ``MessageLockLost`` names the
        first one whose lock was lost. Service Bus settles them one by one.
        """
        ...

    def abandon(self, message: ReceivedMessage) -> None:
        """Release the lock now; past ``max_delivery_count`` it is dead-lettered."""
        ...

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str = "") -> None:
        ...

    def renew_lock(self, message: ReceivedMessage) -> ReceivedMessage:
        ...

    def dead_letters(self, max_messages: int = 100) -> list[DeadLetter]:
        """Peek the dead-letter sub-queue (oldest first) without removing anything."""
        ...


@runtime_checkable
class QueueBroker(Protocol):
    def queue(self, name: str) -> Queue:
        """``KeyError`` for a queue that was not declared."""
        ...

    def ping(self) -> None:
        """Raise ``QueueUnavailable`` unless the broker answers."""
        ...

    def close(self) -> None:
        ...


# --------------------------------------------------------------------------- exchange


@dataclass(frozen=True)
class OrderRequest:
    """What we send; ``client_order_id`` is the intent id (idempotency key)."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class ExchangeOrder:
    """The exchange's view of an order, its status already mapped to ours."""

    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    created_at: datetime
    updated_at: datetime
    reject_reason: str | None = None


@dataclass(frozen=True)
class ExchangeFill:
    exchange_fill_id: str
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Literal["maker", "taker"]
    at: datetime


@runtime_checkable
class Exchange(Protocol):
    """Spot trading on one account. Every call raises only ``ExchangeError`` subclasses."""

    name: str

    def submit(self, request: OrderRequest) -> ExchangeOrder:
        """Place the order; ``AlreadySubmitted`` if the client order id was used before."""
        ...

    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """The order by client order id (open or in history), None if the exchange has none."""
        ...

    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        ...

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        ...

    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        ...

    def executions(
        self, symbol: str | None = None, since: datetime | None = None, *, client_order_id: str | None = None
    ) -> list[ExchangeFill]:
        """Fills, oldest first; ``client_order_id`` narrows them to one order (Bybit
        ``orderLinkId``), so recording an order never reads the account's whole history."""
        ...

    def balances(self) -> dict[str, Decimal]:
        """Total balance per asset."""
        ...


@runtime_checkable
class MarketData(Protocol):
    """Instruments, closed candles (oldest first) and tickers."""

    def instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        ...

    def candles(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 200,
    ) -> list[Candle]:
        ...

    def tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        ...


# --------------------------------------------------------------------------- clock


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


# --------------------------------------------------------------------------- llm


class LlmError(PortError):
    """Base of the Llm errors. Messages never carry the API key (adapters redact)."""


class LlmUnavailable(LlmError):
    """Network failure, server error, malformed envelope, or the circuit is open: try later."""


class LlmTimeout(LlmError):
    """No answer within the call's time budget (the whole budget, retries included)."""


class LlmRateLimited(LlmError):
    """HTTP 429 that the bounded retry could not wait out; ``retry_after`` seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LlmRequestRejected(LlmError):
    """The endpoint refused the request itself (bad key, unknown model, no credits, a
    schema it cannot enforce): a retry will not help, configuration must change."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LlmReply:
    """One chat completion's answer, as received (nothing parsed or validated yet).

    ``text`` is the assistant message's content ("" when there is none, e.g. a refusal);
    ``model`` is the model that answered (a router may name a more specific one than
    ``requested_model``); token counts are the endpoint's own ``usage`` (None if absent).
    """

    text: str
    model: str
    requested_model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    response_id: str | None = None
    attempts: int = 1


@runtime_checkable
class Llm(Protocol):
    """A chat model behind an OpenAI-compatible endpoint, asked for one JSON answer.

    ``model`` is the configured model id and ``provider`` the endpoint's host: both are
    recorded with every suggestion, even when the call fails. Never holds the key in
    either. Every call raises only ``LlmError`` subclasses.
    """

    model: str
    provider: str

    def complete_json(
        self,
        system: str,
        user: str,
        schema: Mapping[str, Any],
        *,
        schema_name: str,
        timeout_s: float | None = None,
        max_tokens: int | None = None,
    ) -> LlmReply:
        """Ask for an answer constrained to ``schema`` (``response_format`` json_schema,
        strict). ``timeout_s`` bounds the whole call, retries and waits included (None:
        the adapter's configured budget). The reply is returned as received: the caller
        validates it, because an endpoint may ignore the schema."""
        ...
