"""Appending to and verifying a tenant's hash-chained audit trail in the ``audit`` container.

Concurrency: an event's id is its sequence number, so two writers racing for the same
position collide on ``create`` (Conflict) and the loser re-reads the head and retries.
The chain therefore stays linear without a lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.audit import AuditEvent
from shared.domain.audit_chain import chain_event, verify_chain
from shared.ports import Conflict, Container, OrderBy, Query

MAX_APPEND_ATTEMPTS = 20


def event_id(seq: int) -> str:
    return f"{seq:012d}"


def chain_head(audit: Container, tenant_id: str) -> AuditEvent | None:
    page = audit.query(Query(order_by=OrderBy("seq", descending=True), limit=1), partition_key=tenant_id)
    return AuditEvent.from_doc(page.items[0]) if page.items else None


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
) -> AuditEvent:
    for _ in range(MAX_APPEND_ATTEMPTS):
        head = chain_head(audit, tenant_id)
        seq = 1 if head is None else head.seq + 1
        event = chain_event(
            head, id=event_id(seq), tenant_id=tenant_id, action=action, actor=actor, target=target,
            details=details, request_id=request_id, at=at,
        )
        try:
            audit.create(event.to_doc())
            return event
        except Conflict:
            continue
    raise RuntimeError(f"audit chain of tenant {tenant_id} kept moving; giving up after {MAX_APPEND_ATTEMPTS}")


def read_chain(audit: Container, tenant_id: str) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    continuation = None
    while True:
        query = Query(order_by=OrderBy("seq"), limit=500, continuation=continuation)
        page = audit.query(query, partition_key=tenant_id)
        events.extend(AuditEvent.from_doc(doc) for doc in page.items)
        if page.continuation is None:
            return events
        continuation = page.continuation


def verify_tenant_chain(audit: Container, tenant_id: str) -> int | None:
    """Index of the first broken event in the tenant's trail, None when intact."""
    return verify_chain(read_chain(audit, tenant_id))
