"""Hash-chained audit events, one chain per tenant.

Why a chain: the audit trail is the answer to "who halted trading, and why". Each event
carries the hash of the one before it and a hash over its own canonical content, so an
edited, removed or reordered event breaks the chain at a definite place, which
:func:`verify_chain` reports.

Why our own canonical JSON: the hash must be the same on every run and machine and
after a round trip through the store. Keys are sorted, there is no whitespace, Decimals
are their exact string, datetimes are UTC ISO-8601 with ``Z`` (as pydantic writes them).
:func:`chain_event` stores ``details`` already in that JSON form, so reading an event back
from Cosmos or SQLite yields the very values that were hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from shared.domain.audit import AuditEvent
from shared.domain.base import UtcDatetime

GENESIS_HASH: Final = "0" * 64
"""The ``prev_hash`` of a tenant's first event (seq 1)."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot audit a non-finite decimal: {value}")
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("audit datetimes must be timezone-aware")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


#: ``json.dumps`` with these options builds this very encoder on every call; built once
#: (it keeps no state between calls: ``encode`` sets up its own circular-reference check).
_CANONICAL = json.JSONEncoder(
    default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(payload: Any) -> bytes:
    """Stable UTF-8 JSON: sorted keys, no whitespace, no NaN, Decimals and datetimes as
    strings. Equal payloads give equal bytes on every run."""
    return _CANONICAL.encode(payload).encode("utf-8")


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    plain = _plain(details)
    if plain is not _NOT_PLAIN:
        out: dict[str, Any] = plain
        return out
    out = json.loads(canonical_json(details))
    return out


_NOT_PLAIN: Any = object()
_PLAIN_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> Any:
    """What ``json.loads(canonical_json(value))`` gives, built directly, for values that are
    JSON already (dicts with str keys, lists, str, int, bool, None, exact types only): the
    same content with keys sorted. ``_NOT_PLAIN`` for anything else (Decimals, datetimes,
    floats, enums, ...), which takes the round trip. Every order's audit event needs this."""
    kind = type(value)
    if kind is dict:
        keys = list(value)
        if not all(type(key) is str for key in keys):
            return _NOT_PLAIN
        keys.sort()
        out: dict[str, Any] = {}
        for key in keys:
            item = _plain(value[key])
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            out[key] = item
        return out
    if kind is list:
        items = [_plain(item) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    if kind in _PLAIN_SCALARS:
        return value
    return _NOT_PLAIN


def event_hash(
    *,
    id: str,
    tenant_id: str,
    seq: int,
    action: str,
    actor: str,
    target: str,
    details: dict[str, Any],
    request_id: str | None,
    at: datetime,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) over every field of the event except the hash itself."""
    fields = {
        "id": id, "tenantId": tenant_id, "seq": seq, "action": action, "actor": actor, "target": target,
        "details": details, "requestId": request_id, "at": at, "prevHash": prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def _hash_of(event: AuditEvent) -> str:
    return event_hash(
        id=event.id, tenant_id=event.tenant_id, seq=event.seq, action=event.action, actor=event.actor,
        target=event.target, details=event.details, request_id=event.request_id, at=event.at,
        prev_hash=event.prev_hash,
    )


def chain_event(
    prev: AuditEvent | None,
    *,
    id: str,
    tenant_id: str,
    action: str,
    actor: str,
    target: str,
    details: dict[str, Any],
    request_id: str | None,
    at: UtcDatetime,
) -> AuditEvent:
    """The next event of a tenant's chain: ``seq = prev.seq + 1`` (1 for the first),
    ``prev_hash = prev.hash`` (:data:`GENESIS_HASH` for the first), and its own hash.
    Appending to another tenant's chain raises ``ValueError``."""
    if prev is not None and prev.tenant_id != tenant_id:
        raise ValueError(f"event for tenant {tenant_id} cannot follow tenant {prev.tenant_id}'s chain")
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    clean = _jsonable(details)
    fields: dict[str, Any] = {
        "id": id, "tenant_id": tenant_id, "seq": seq, "action": action, "actor": actor, "target": target,
        "details": clean, "request_id": request_id, "at": at, "prev_hash": prev_hash,
    }
    if _validated_as_given(fields):  # the hash of the fields is the hash of the validated event
        digest = event_hash(id=id, tenant_id=tenant_id, seq=seq, action=action, actor=actor, target=target,
                            details=clean, request_id=request_id, at=at, prev_hash=prev_hash)
        return AuditEvent.model_validate({**fields, "hash": digest})
    draft = AuditEvent.model_validate({**fields, "hash": ""})
    return draft.model_copy(update={"hash": _hash_of(draft)})


def _validated_as_given(fields: dict[str, Any]) -> bool:
    """Whether validating ``fields`` as an ``AuditEvent`` keeps every value as it is: plain
    strings, an int seq, a UTC datetime. Then the event's hash can be taken before the one
    validation, instead of validating a draft and copying it with its hash."""
    return (
        all(type(fields[name]) is str for name in ("id", "tenant_id", "action", "actor", "target", "prev_hash"))
        and (fields["request_id"] is None or type(fields["request_id"]) is str)
        and type(fields["seq"]) is int
        and type(fields["at"]) is datetime and fields["at"].tzinfo is UTC
    )


def verify_chain(events: Sequence[AuditEvent], *, anchor: AuditEvent | None = None) -> int | None:
    """The index of the first event that breaks the chain, or ``None`` if it is intact.

    ``events`` are in ``seq`` order starting at seq 1, or just after ``anchor`` (an event
    already trusted) when verifying a page. An event breaks the chain if its own hash does
    not match its content (edited), or its ``prev_hash``/``seq``/tenant do not follow the
    event before it (one removed, inserted or moved before it). Cutting events off the end
    leaves a valid shorter chain: detecting that needs the expected head (latest seq and
    hash) kept elsewhere, e.g. on the tenant's record."""
    prev = anchor
    for index, event in enumerate(events):
        expected_prev = GENESIS_HASH if prev is None else prev.hash
        expected_seq = 1 if prev is None else prev.seq + 1
        if (
            event.hash != _hash_of(event)
            or event.prev_hash != expected_prev
            or event.seq != expected_seq
            or (prev is not None and event.tenant_id != prev.tenant_id)
        ):
            return index
        prev = event
    return None
