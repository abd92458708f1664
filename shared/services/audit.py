"""Appending to and verifying a tenant's hash-chained audit trail in the ``audit`` container.

Each tenant partition holds its events and one head document (the last seq and hash).
An append is one transactional batch: create the event and move the head under its
etag. Two writers racing for the same position cannot both win (the head's etag), and
an event with a caller-chosen id (e.g. derived from an outbox entry) cannot be appended
twice (its id conflicts), so projections are exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.audit import AuditEvent
from shared.domain.audit_chain import chain_event, verify_chain
from shared.ports import BatchFailed, BatchOp, Conflict, Container, Filter, NotFound, OrderBy, PreconditionFailed, Query
from shared.services.listing import all_items

MAX_APPEND_ATTEMPTS = 50
HEAD_ID = "chain-head"


class AlreadyAppended(Exception):
    """An event with this id is already in the chain (the append happened before)."""


#: (tenant, head etag) -> the head's event, parsed: an append reads the head, and parsing
#: the event it holds again and again costs more than the rest of the read. An etag
#: names one version of one document for good, so an entry can never be stale.
_PARSED_HEADS: dict[tuple[str, str], AuditEvent] = {}
_PARSED_HEADS_MAX = 1024


def _head(audit: Container, tenant_id: str) -> tuple[AuditEvent | None, str | None]:
    try:
        head = audit.read(HEAD_ID, tenant_id)
    except NotFound:
        return None, None
    etag: str = head["_etag"]
    event = _PARSED_HEADS.get((tenant_id, etag))
    if event is None:
        event = AuditEvent.from_doc(head["event"])
        _remember(tenant_id, etag, event)
    return event, etag


def _remember(tenant_id: str, etag: str, event: AuditEvent) -> None:
    if len(_PARSED_HEADS) >= _PARSED_HEADS_MAX:
        _PARSED_HEADS.clear()  # a cache of what is cheap to rebuild: no eviction order needed
    _PARSED_HEADS[(tenant_id, etag)] = event


def append_audit(
    audit: Container,
    *,
    tenant_id: str,
    action: str,
    actor: str,
    target: str,
    details: dict[str, Any],
    request_id: str | None,
    at: datetime,
    event_id: str | None = None,
) -> AuditEvent:
    """Append one event; with ``event_id`` a repeat raises ``AlreadyAppended``."""
    for _ in range(MAX_APPEND_ATTEMPTS):
        prev, etag = _head(audit, tenant_id)
        seq = 1 if prev is None else prev.seq + 1
        event = chain_event(prev, id=event_id or f"event:{seq:012d}", tenant_id=tenant_id, action=action,
                            actor=actor, target=target, details=details, request_id=request_id, at=at)
        event_doc = event.to_doc()
        head = {"id": HEAD_ID, "tenantId": tenant_id, "event": event_doc}
        move_head = BatchOp("replace", item=head, if_match=etag) if etag else BatchOp("create", item=head)
        try:
            _, moved = audit.batch(tenant_id, [BatchOp("create", item=event_doc), move_head])
            if isinstance(moved.get("_etag"), str):
                _remember(tenant_id, moved["_etag"], event)
            return event
        except BatchFailed as exc:
            if exc.index == 0 and isinstance(exc.cause, Conflict):
                if event_id is not None:
                    raise AlreadyAppended(event_id) from None
                continue  # a racer took this seq's default id
            if isinstance(exc.cause, (PreconditionFailed, Conflict)):
                continue  # the head moved: re-read and retry
            raise
    raise RuntimeError(f"audit chain of tenant {tenant_id} kept moving; giving up after {MAX_APPEND_ATTEMPTS}")


def read_chain(audit: Container, tenant_id: str) -> list[AuditEvent]:
    query = Query(where=[Filter("seq", "exists", True)], order_by=OrderBy("seq"), limit=500)
    return [AuditEvent.from_doc(doc) for doc in all_items(audit, query, tenant_id)]


def verify_tenant_chain(audit: Container, tenant_id: str) -> int | None:
    """Index of the first broken event in the tenant's trail, None when intact; events
    cut off the end are caught by comparing with the head document."""
    events = read_chain(audit, tenant_id)
    broken = verify_chain(events)
    if broken is not None:
        return broken
    head, _ = _head(audit, tenant_id)
    if head is not None and (not events or events[-1].hash != head.hash):
        return len(events)
    return None
