from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.orders import (
    TERMINAL,
    TRANSITIONS,
    FillRefused,
    IllegalTransition,
    apply_fill,
    new_order_from_intent,
    transition,
)
from shared.domain.trading import Fill, Order, OrderIntent, OrderStatus, OrderType, Side

S = OrderStatus
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)

LEGAL = {
    (S.PENDING_SUBMIT, S.NEW), (S.PENDING_SUBMIT, S.PARTIALLY_FILLED), (S.PENDING_SUBMIT, S.FILLED),
    (S.PENDING_SUBMIT, S.CANCELED), (S.PENDING_SUBMIT, S.REJECTED), (S.PENDING_SUBMIT, S.EXPIRED),
    (S.NEW, S.PARTIALLY_FILLED), (S.NEW, S.FILLED), (S.NEW, S.CANCELED), (S.NEW, S.EXPIRED), (S.NEW, S.REJECTED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED), (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
}


def intent(**kw: Any) -> OrderIntent:
    base: dict[str, Any] = dict(
        id="int-1", tenant_id="t1", account_id="acc-1", profile_id="p1", symbol="BTCUSDT", side=Side.BUY,
        type=OrderType.LIMIT, qty=Decimal("1.0"), limit_price=Decimal("100"), source="strategy",
        request_id="req-1", created_at=T0,
    )
    base.update(kw)
    return OrderIntent(**base)


def order_in(status: OrderStatus, qty: str = "1.0") -> Order:
    """An order already sitting in ``status`` with quantities that agree with it."""
    o = new_order_from_intent(intent(qty=Decimal(qty)), "paper", T0)
    filled = {S.FILLED: o.qty, S.PARTIALLY_FILLED: o.qty / 2}.get(status, Decimal(0))
    return o.model_copy(update={"status": status, "filled_qty": filled})


def fill(fid: str, qty: str, price: str, fee: str = "0", **kw: Any) -> Fill:
    base: dict[str, Any] = dict(
        id=fid, order_id="int-1", account_id="acc-1", symbol="BTCUSDT", side=Side.BUY, price=Decimal(price),
        qty=Decimal(qty), fee=Decimal(fee), fee_asset="USDT", at=T1,
    )
    base.update(kw)
    return Fill(**base)


def quantities_for(to: OrderStatus, order: Order) -> dict[str, Any]:
    if to is S.FILLED:
        return {"filled_qty": order.qty}
    if to is S.PARTIALLY_FILLED:
        return {"filled_qty": order.qty / 4 if order.status is S.PARTIALLY_FILLED else order.qty / 2}
    return {}


def test_table_matches_the_documented_edges():
    actual = {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt}
    assert actual == LEGAL
    assert set(TRANSITIONS) == set(OrderStatus)
    assert {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED} == TERMINAL


def test_new_order_from_intent_is_pending_submit_with_the_intent_id():
    o = new_order_from_intent(intent(), "bybit", T0)
    assert o.id == "int-1" and o.status is S.PENDING_SUBMIT and o.exchange == "bybit"
    assert o.filled_qty == 0 and o.avg_fill_price is None and o.fees == 0
    assert o.created_at == o.updated_at == T0 and o.request_id == "req-1" and o.limit_price == Decimal("100")


@pytest.mark.parametrize(("frm", "to"), sorted(LEGAL))
def test_every_legal_transition(frm, to):
    o = order_in(frm)
    moved = transition(o, to, T1, **quantities_for(to, o))
    assert moved.status is to and moved.updated_at == T1
    assert o.status is frm  # the input is untouched


@pytest.mark.parametrize(
    ("frm", "to"), [p for p in itertools.product(OrderStatus, OrderStatus) if p not in LEGAL]
)
def test_every_illegal_transition_raises(frm, to):
    o = order_in(frm)
    with pytest.raises(IllegalTransition, match="is not a legal transition"):
        transition(o, to, T1, **quantities_for(to, o))


def test_transition_checks_quantities_against_status():
    o = order_in(S.NEW)
    with pytest.raises(IllegalTransition):
        transition(o, S.FILLED, T1)  # nothing filled
    with pytest.raises(IllegalTransition):
        transition(order_in(S.PARTIALLY_FILLED), S.PARTIALLY_FILLED, T1, filled_qty=Decimal("1.0"))
    with pytest.raises(IllegalTransition):
        transition(o, S.CANCELED, T1, filled_qty=Decimal("2"))  # beyond qty


def test_transition_only_changes_mutable_fields_and_keeps_exchange_id():
    o = transition(order_in(S.PENDING_SUBMIT), S.NEW, T1, exchange_order_id="x-1")
    assert o.exchange_order_id == "x-1"
    with pytest.raises(ValueError, match="cannot change"):
        transition(o, S.CANCELED, T1, qty=Decimal("5"))
    with pytest.raises(ValueError, match="exchange order id"):
        transition(o, S.CANCELED, T1, exchange_order_id="x-2")
    rejected = transition(order_in(S.NEW), S.REJECTED, T1, reject_reason="EC_Insufficient")
    assert rejected.reject_reason == "EC_Insufficient"


def test_partial_then_filled_with_exact_vwap_and_fees():
    o = transition(new_order_from_intent(intent(qty=Decimal("3")), "paper", T0), S.NEW, T0)
    o = apply_fill(o, fill("f1", "1", "100.10", "0.1001"), T1)
    assert o.status is S.PARTIALLY_FILLED and o.filled_qty == Decimal("1") and o.avg_fill_price == Decimal("100.10")
    o = apply_fill(o, fill("f2", "0.5", "100.40", "0.0502"), T1)
    assert o.status is S.PARTIALLY_FILLED
    assert o.avg_fill_price == Decimal("100.2")  # (100.10 + 50.20) / 1.5
    o = apply_fill(o, fill("f3", "1.5", "99.80", "0.1497"), T1)
    assert o.status is S.FILLED and o.filled_qty == Decimal("3")
    assert o.avg_fill_price == Decimal("100")  # (150.30 + 149.70) / 3
    assert o.fees == Decimal("0.3000")
    assert isinstance(o.avg_fill_price, Decimal)


def test_vwap_non_terminating_is_rounded_at_28_digits():
    o = new_order_from_intent(intent(qty=Decimal("3")), "paper", T0)
    o = apply_fill(o, fill("f1", "1", "100"), T1)
    o = apply_fill(o, fill("f2", "2", "101"), T1)
    assert o.avg_fill_price == Decimal("100.6666666666666666666666667")


def test_a_fill_on_pending_submit_moves_it_directly():
    o = new_order_from_intent(intent(), "paper", T0)
    assert apply_fill(o, fill("f1", "1.0", "100"), T1).status is S.FILLED


def test_overfill_is_refused():
    o = apply_fill(new_order_from_intent(intent(), "paper", T0), fill("f1", "0.6", "100"), T1)
    with pytest.raises(FillRefused, match=r"would fill 1\.2"):
        apply_fill(o, fill("f2", "0.6", "100"), T1)
    done = apply_fill(o, fill("f2", "0.4", "100"), T1)
    with pytest.raises(IllegalTransition):
        apply_fill(done, fill("f3", "0.1", "100"), T1)


@pytest.mark.parametrize(
    "bad",
    [
        {"order_id": "other"}, {"symbol": "ETHUSDT"}, {"side": Side.SELL}, {"account_id": "acc-2"},
        {"qty": Decimal("0")}, {"price": Decimal("0")},
    ],
)
def test_a_fill_for_another_order_is_refused(bad):
    o = new_order_from_intent(intent(), "paper", T0)
    f = fill("f1", "0.5", "100").model_copy(update=bad)
    with pytest.raises(FillRefused):
        apply_fill(o, f, T1)


def test_fill_on_rejected_order_is_illegal():
    with pytest.raises(IllegalTransition):
        apply_fill(order_in(S.REJECTED), fill("f1", "0.5", "100"), T1)


def test_late_fill_after_cancel_is_booked_and_status_stays():
    o = transition(order_in(S.NEW), S.CANCELED, T1)
    late = apply_fill(o, fill("f1", "0.25", "100"), T1 + timedelta(seconds=1))
    assert late.status is S.CANCELED and late.filled_qty == Decimal("0.25") and late.avg_fill_price == 100
    with pytest.raises(FillRefused):
        apply_fill(late, fill("f2", "0.8", "100"), T1)
