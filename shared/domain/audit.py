"""Audit events: append-only and hash-chained per tenant, so a removed or edited event
breaks the chain and is detected."""

from __future__ import annotations

from typing import Any

from shared.domain.base import DomainModel, UtcDatetime


class AuditEvent(DomainModel):
    id: str
    tenant_id: str
    seq: int
    action: str
    actor: str
    target: str
    details: dict[str, Any] = {}
    request_id: str | None = None
    at: UtcDatetime
    prev_hash: str
    hash: str
