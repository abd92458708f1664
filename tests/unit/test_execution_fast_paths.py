"""The execution path's shortcuts give exactly what the general code gives.

Why: ``transition`` copies the order instead of dumping and re-validating it, and
``chain_event`` builds an event's JSON-safe details and hash without a JSON round trip,
when the values are already what validation would keep. Stored documents and audit
hashes must not change by a byte, so each shortcut is compared with the slow path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from shared.domain import audit_chain, orders
from shared.domain.audit import AuditEvent
from shared.domain.trading import Order, OrderIntent, OrderStatus, OrderType, Side

NOW = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PLUS_TWO = datetime(2024, 1, 2, 5, tzinfo=timezone(timedelta(hours=2)))  # not UTC: the slow path


def _order() -> Order:
    intent = OrderIntent(id="i-1", tenant_id="t", account_id="a", profile_id=None, symbol="BTCUSDT",
                         side=Side.BUY, type=OrderType.MARKET, qty=Decimal("0.0010"), source="manual",
                         created_at=NOW)
    return orders.new_order_from_intent(intent, "paper", NOW)


def _slow_transition(order: Order, to: Any, at: Any, **changes: Any) -> Order:
    doc = order.model_dump()
    doc.update(changes)
    doc.update(status=to, updated_at=at)
    moved = Order.model_validate(doc)
    orders._check_quantities(moved)
    return moved


@pytest.mark.parametrize("at", [NOW + timedelta(seconds=1), PLUS_TWO])
@pytest.mark.parametrize("changes", [
    {},
    {"exchange_order_id": "P1"},
    {"filled_qty": Decimal("0.0010"), "avg_fill_price": Decimal("100.50"), "fees": Decimal("1E-5")},
    {"filled_qty": Decimal("0.0010"), "avg_fill_price": None, "fees": Decimal("0")},
    {"reject_reason": "no"},
    {"fees": 1},
    {"filled_qty": "0.0010", "avg_fill_price": "100.5"},
])
@pytest.mark.parametrize("to", [OrderStatus.NEW, OrderStatus.FILLED, OrderStatus.REJECTED, "filled"])
def test_transition_matches_a_validated_round_trip(to: Any, at: datetime, changes: dict[str, Any]) -> None:
    order = _order()
    try:
        expected: Order | str = _slow_transition(order, to, at, **changes)
    except Exception as exc:  # the same refusal either way
        expected = type(exc).__name__
    try:
        got: Order | str = orders.transition(order, to, at, **changes)
    except Exception as exc:
        got = type(exc).__name__
    assert got == expected
    if isinstance(got, Order) and isinstance(expected, Order):
        assert got.model_dump_json() == expected.model_dump_json()
        assert json.dumps(got.to_doc()) == json.dumps(expected.to_doc())


def _slow_chain_event(prev: AuditEvent | None, details: dict[str, Any], at: datetime) -> AuditEvent:
    clean = json.loads(audit_chain.canonical_json(details))
    draft = AuditEvent.model_validate({
        "id": "e", "tenant_id": "t", "seq": 1 if prev is None else prev.seq + 1, "action": "a", "actor": "u",
        "target": "x", "details": clean, "request_id": "r", "at": at,
        "prev_hash": audit_chain.GENESIS_HASH if prev is None else prev.hash, "hash": ""})
    return draft.model_copy(update={"hash": audit_chain._hash_of(draft)})


@pytest.mark.parametrize("at", [NOW, PLUS_TWO])
@pytest.mark.parametrize("details", [
    {"status": "filled", "filledQty": "0.001", "reason": "", "exchangeOrderId": "P1"},
    {"b": 1, "a": [1, {"z": None, "y": True}], "c": "x"},
    {"n": Decimal("1.50"), "t": NOW, "s": Side.BUY},
    {"f": 1.5, "k": "v"},
    {"nested": {"b": {"d": 1, "c": 2}, "a": []}},
    {},
])
def test_chain_event_matches_the_json_round_trip(details: dict[str, Any], at: datetime) -> None:
    first = audit_chain.chain_event(None, id="e", tenant_id="t", action="a", actor="u", target="x",
                                    details=details, request_id="r", at=at)
    expected = _slow_chain_event(None, details, at)
    assert first == expected
    assert json.dumps(first.to_doc()) == json.dumps(expected.to_doc())  # key order included
    second = audit_chain.chain_event(first, id="e", tenant_id="t", action="a", actor="u", target="x",
                                     details=details, request_id="r", at=at)
    assert second == _slow_chain_event(first, details, at)
    assert audit_chain.verify_chain([first, second]) is None
