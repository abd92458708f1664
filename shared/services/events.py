"""The event feed: what changed, per stream, for surfaces that long-poll ``/api/v1/events``.

Streams are the ``events`` container's partition key: ``global`` (product-wide: kill
switch, maintenance, global halt, feature flags) and ``tenant:<id>`` (that tenant's
halts, orders, ...). A caller reads ``global`` plus their own tenant's stream, nothing
else, so tenant isolation is a matter of which partitions are queried.

Why a per-stream sequence number, and why it is linearised like the audit chain: a
client's cursor says "I have seen up to seq N of stream S", which only works if seqs
are gap-free and never reused. Each stream has one head document; a publish creates the
event *and* moves the head under its etag in one transactional batch, so two publishers
racing for the same seq cannot both win (the loser re-reads and retries), and an event
with seq N+1 can never be visible before the one with seq N.

Events expire after 7 days (``ttl``); the head never does, so seqs keep counting. The
feed is a notification channel, not the record: a client that was away re-reads the
resources it shows (the records themselves, and the audit trail, are authoritative).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.ports import BatchFailed, BatchOp, Conflict, Filter, NotFound, OrderBy, PreconditionFailed, Query, Store

CONTAINER: Final = "events"
GLOBAL_STREAM: Final = "global"
TENANT_PREFIX: Final = "tenant:"
HEAD_ID: Final = "head"
EVENT_TTL_SECONDS: Final = 7 * 24 * 3600
MAX_PUBLISH_ATTEMPTS: Final = 100
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 500
MAX_CURSOR_LENGTH: Final = 2048
POLL_INTERVAL_SECONDS: Final = 0.2


class InvalidCursor(ValueError):
    """The cursor is not one this feed issued (or was edited): the API answers 400."""


def tenant_stream(tenant_id: str) -> str:
    return TENANT_PREFIX + tenant_id


def caller_streams(tenant_id: str) -> list[str]:
    """What one caller may read: the product-wide stream and their own tenant's."""
    return [GLOBAL_STREAM, tenant_stream(tenant_id)]


def _check_stream(stream: str) -> None:
    if stream != GLOBAL_STREAM and not (stream.startswith(TENANT_PREFIX) and len(stream) > len(TENANT_PREFIX)):
        raise ValueError(f"unknown event stream {stream!r}: use 'global' or 'tenant:<id>'")


def event_doc_id(seq: int) -> str:
    return f"event:{seq:012d}"


def event_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The event as clients see it (no store internals, no ttl)."""
    return {"id": f"{doc['stream']}:{doc['seq']}", "stream": doc["stream"], "seq": doc["seq"], "type": doc["type"],
            "data": doc.get("data") or {}, "at": doc["at"], "requestId": doc.get("requestId")}


def publish(store: Store, stream: str, type: str, data: Mapping[str, Any], at: datetime,
            request_id: str | None) -> dict[str, Any]:
    """Append one event with the stream's next seq; returns its client view.

    Retries when another publisher took the seq (the event id conflicts or the head's
    etag moved); a short random pause spreads out publishers that keep colliding."""
    _check_stream(stream)
    events = store.container(CONTAINER)
    for attempt in range(MAX_PUBLISH_ATTEMPTS):
        try:
            head: dict[str, Any] | None = events.read(HEAD_ID, stream)
        except NotFound:
            head = None
        seq = (int(head["seq"]) if head else 0) + 1
        doc = {"id": event_doc_id(seq), "kind": "event", "stream": stream, "seq": seq, "type": type,
               "data": dict(data), "at": at.isoformat(), "requestId": request_id, "ttl": EVENT_TTL_SECONDS}
        new_head = {"id": HEAD_ID, "kind": "head", "stream": stream, "seq": seq, "at": doc["at"]}
        move = BatchOp("replace", item=new_head, if_match=head["_etag"]) if head else BatchOp("create", item=new_head)
        try:
            events.batch(stream, [BatchOp("create", item=doc), move])
            return event_view(doc)
        except BatchFailed as exc:
            if not isinstance(exc.cause, (Conflict, PreconditionFailed, NotFound)):
                raise
        if attempt >= 3:
            time.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
    raise RuntimeError(f"event stream {stream} kept moving; gave up after {MAX_PUBLISH_ATTEMPTS} attempts")


# ------------------------------------------------------------------ cursors


def encode_cursor(positions: Mapping[str, int]) -> str:
    raw = json.dumps(dict(sorted(positions.items())), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, streams: Iterable[str]) -> dict[str, int]:
    """Per-stream seqs for ``streams`` (0 where the cursor says nothing). Positions of
    other streams (a cursor from another tenant's feed) are dropped, never read."""
    positions = dict.fromkeys(streams, 0)
    if cursor is None:
        return positions
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("the cursor is empty or too long")
    try:
        parsed = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("the cursor is not one this feed issued") from exc
    if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and type(v) is int and v >= 0 for k, v in parsed.items()):
        raise InvalidCursor("the cursor is not one this feed issued")
    for stream in positions:
        positions[stream] = parsed.get(stream, 0)
    return positions


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    cursor: str


def head_seqs(store: Store, streams: Iterable[str]) -> dict[str, int]:
    """The last seq of each stream (0 for a stream nothing was published to); point
    reads only, so a long-poll can check cheaply whether anything happened."""
    events = store.container(CONTAINER)
    heads: dict[str, int] = {}
    for stream in streams:
        _check_stream(stream)
        try:
            heads[stream] = int(events.read(HEAD_ID, stream)["seq"])
        except NotFound:
            heads[stream] = 0
    return heads


def head_cursor(store: Store, streams: Iterable[str]) -> str:
    """A cursor at the current end of every stream: "from now on"."""
    return encode_cursor(head_seqs(store, streams))


def _stream_after(store: Store, stream: str, after: int, limit: int) -> list[dict[str, Any]]:
    query = Query(where=[Filter("kind", "=", "event"), Filter("seq", ">", after)], order_by=OrderBy("seq"),
                  limit=limit)
    return store.container(CONTAINER).query(query, partition_key=stream).items


def _merge_key(doc: Mapping[str, Any]) -> tuple[datetime, str, int]:
    return datetime.fromisoformat(str(doc["at"])), str(doc["stream"]), int(doc["seq"])


def read_after(store: Store, streams: Iterable[str], cursor: str | None, limit: int = DEFAULT_LIMIT) -> FeedPage:
    """Events after ``cursor`` across ``streams``, oldest first, and the next cursor.

    The merge keeps each stream in seq order whatever the publishers' clocks say (a
    k-way merge never reorders one input), so a page cut at ``limit`` only ever leaves
    out a *suffix* of each stream and the cursor, advanced per stream to what was
    returned, never skips an event. Ties between streams break by stream name."""
    streams = list(streams)
    for stream in streams:
        _check_stream(stream)
    limit = max(1, min(limit, MAX_LIMIT))
    positions = decode_cursor(cursor, streams)
    per_stream = [_stream_after(store, s, positions[s], limit) for s in streams]
    merged = list(heapq.merge(*per_stream, key=_merge_key))[:limit]
    for doc in merged:
        positions[doc["stream"]] = max(positions[doc["stream"]], int(doc["seq"]))
    return FeedPage([event_view(d) for d in merged], encode_cursor(positions))


def wait_for_events(store: Store, streams: Iterable[str], cursor: str, limit: int, wait_seconds: float, *,
                    interval: float = POLL_INTERVAL_SECONDS, sleep: Callable[[float], None] = time.sleep,
                    monotonic: Callable[[], float] = time.monotonic) -> FeedPage:
    """Long-poll: the events after ``cursor`` as soon as there are any, else, once
    ``wait_seconds`` have passed, an empty page with the same cursor. Between polls only
    the heads are read (point reads), the query runs when a head has moved."""
    streams = list(streams)
    positions = decode_cursor(cursor, streams)  # a malformed cursor fails before any waiting
    deadline = monotonic() + max(0.0, wait_seconds)
    while True:
        heads = head_seqs(store, streams)
        moved = {s: heads[s] for s in streams if heads[s] > positions[s]}
        if moved:
            page = read_after(store, streams, cursor, limit)
            # Nothing to read although a head moved: those events expired (ttl), so skip
            # past them rather than wait on events that will never come back.
            return page if page.items else FeedPage([], encode_cursor({**positions, **moved}))
        remaining = deadline - monotonic()
        if remaining <= 0:
            return FeedPage([], cursor)
        sleep(min(interval, remaining))
