"""The order state machine: one explicit transition table, and fills applied through it.

Why a table: an order's status is the one fact every surface, the reconciler and the
risk engine rely on, so it may only move along edges written down here. Anything else
raises :class:`IllegalTransition` instead of silently storing an impossible state (the
failure mode of bots that keep the exchange's raw status string).

The table (``from -> to``)::

    pending-submit   -> new | partially-filled | filled | canceled | rejected | expired
    new              -> partially-filled | filled | canceled | expired | rejected
    partially-filled -> partially-filled | filled | canceled | expired
    filled, canceled, rejected, expired -> (terminal: nothing)

Exchange reality behind the less obvious edges:

* ``pending-submit -> filled | partially-filled | canceled | expired``: the first status
  we learn (from the create response, a websocket push or a reconciliation read) can be
  any status the exchange reached while our acknowledgement was in flight; a market or
  IOC order is typically already filled, partly filled then canceled, or expired.
* ``new -> rejected`` is legal: Bybit v5 ``order/create`` is asynchronous, a returned
  ``orderId`` only means "accepted for processing" and the matching engine can still
  report ``Rejected`` afterwards. (Post-only crosses come back as ``Cancelled`` with a
  reject reason, which maps to ``canceled``.)
* ``partially-filled -> rejected`` is not: once anything traded the engine accepted the
  order, so it ends as filled, canceled (Bybit ``PartiallyFilledCanceled``) or expired.

Pure: no I/O and no clock reads; every time is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any, Final

from shared.domain.base import UtcDatetime
from shared.domain.trading import Fill, Order, OrderIntent, OrderStatus

S = OrderStatus

TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = {
    S.PENDING_SUBMIT: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}
    ),
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
"""Every legal edge; a status missing on the right of its row is unreachable from it."""

TERMINAL: Final[frozenset[OrderStatus]] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

MUTABLE_FIELDS: Final[frozenset[str]] = frozenset(
    {"exchange_order_id", "filled_qty", "avg_fill_price", "fees", "reject_reason"}
)
"""What a transition may change besides status and ``updated_at``; identity (id, account,
symbol, side, type, qty, price, exchange, creation time) is fixed at creation."""


class IllegalTransition(Exception):
    """An order was asked to move along an edge that is not in :data:`TRANSITIONS`, or into
    a status its fill quantities contradict."""


class FillRefused(ValueError):
    """A fill that cannot belong to this order: another order, symbol, side or account,
    a non-positive quantity or price, or more quantity than the order has left."""


def can_transition(frm: OrderStatus, to: OrderStatus) -> bool:
    return to in TRANSITIONS[frm]


def new_order_from_intent(intent: OrderIntent, exchange: str, at: UtcDatetime) -> Order:
    """Our record of an intent about to be submitted. The order id *is* the intent id, so
    the exchange's client order id dedupes a resubmission after a crash."""
    return Order(
        id=intent.id,
        tenant_id=intent.tenant_id,
        account_id=intent.account_id,
        profile_id=intent.profile_id,
        symbol=intent.symbol,
        side=intent.side,
        type=intent.type,
        qty=intent.qty,
        limit_price=intent.limit_price,
        status=OrderStatus.PENDING_SUBMIT,
        exchange=exchange,
        request_id=intent.request_id,
        created_at=at,
        updated_at=at,
    )


def _check_quantities(order: Order) -> None:
    """The status must agree with the fill quantities, or the table means nothing."""
    filled, qty, status = order.filled_qty, order.qty, order.status
    if filled < 0 or filled > qty:
        raise IllegalTransition(f"order {order.id}: filled quantity {filled} is outside 0..{qty}")
    if status is S.FILLED and filled != qty:
        raise IllegalTransition(f"order {order.id}: filled needs filled quantity {qty}, has {filled}")
    if status is S.PARTIALLY_FILLED and not 0 < filled < qty:
        raise IllegalTransition(
            f"order {order.id}: partially-filled needs 0 < filled quantity < {qty}, has {filled}"
        )
    if status in (S.REJECTED, S.PENDING_SUBMIT, S.NEW) and filled != 0:
        raise IllegalTransition(f"order {order.id}: {status} cannot carry a filled quantity ({filled})")


def transition(order: Order, to: OrderStatus, at: UtcDatetime, **changes: Any) -> Order:
    """Return a new order in status ``to`` (the input is frozen and left untouched).

    ``changes`` may set only :data:`MUTABLE_FIELDS`; an exchange order id, once known,
    never changes. Raises :class:`IllegalTransition` for an edge outside the table or a
    status the fill quantities contradict (``filled`` is reached through
    :func:`apply_fill`, or by passing the exchange's cumulative ``filled_qty``)."""
    if not can_transition(order.status, to):
        raise IllegalTransition(f"order {order.id}: {order.status} -> {to} is not a legal transition")
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        raise ValueError(f"order {order.id}: a transition cannot change {sorted(unknown)}")
    new_xid = changes.get("exchange_order_id")
    if order.exchange_order_id is not None and new_xid is not None and new_xid != order.exchange_order_id:
        raise ValueError(
            f"order {order.id}: exchange order id is {order.exchange_order_id}, not {new_xid}"
        )
    if _valid_as_given(to, at, changes):  # what validation would keep unchanged: no round trip
        moved = order.model_copy(update={**changes, "status": to, "updated_at": at})
    else:
        doc = order.model_dump()
        doc.update(changes)
        doc.update(status=to, updated_at=at)
        moved = Order.model_validate(doc)
    _check_quantities(moved)
    return moved


_MONEY_CHANGES: Final = frozenset({"filled_qty", "avg_fill_price", "fees"})


def _valid_as_given(to: Any, at: Any, changes: Mapping[str, Any]) -> bool:
    """Whether validating the moved order would keep these values exactly as they are (a
    status, a UTC datetime, finite Decimals, strings or None): then copying the order with
    them is the validated order, at a fraction of a dump and a validation per fill."""
    if type(to) is not OrderStatus or type(at) is not datetime or at.tzinfo is not UTC:
        return False
    for name, value in changes.items():
        if value is None:
            if name in ("filled_qty", "fees"):
                return False
        elif name in _MONEY_CHANGES:
            if type(value) is not Decimal or not value.is_finite():
                return False
        elif type(value) is not str:
            return False
    return True


def _check_fill_belongs(order: Order, fill: Fill) -> None:
    if fill.order_id != order.id:
        raise FillRefused(f"fill {fill.id} is for order {fill.order_id}, not {order.id}")
    for name in ("account_id", "symbol", "side"):
        if getattr(fill, name) != getattr(order, name):
            raise FillRefused(
                f"fill {fill.id} has {name} {getattr(fill, name)}, order {order.id} has {getattr(order, name)}"
            )
    if fill.qty <= 0 or fill.price <= 0:
        raise FillRefused(f"fill {fill.id} needs a positive quantity and price (got {fill.qty} @ {fill.price})")


def apply_fill(order: Order, fill: Fill, at: UtcDatetime) -> Order:
    """Add one execution to the order: filled quantity, volume-weighted average price,
    fees, and the status it implies (partially-filled, or filled when nothing is left).

    Refuses (:class:`FillRefused`) a fill for another order and any overfill, so a
    double-counted execution is loud. Idempotency per fill id is the caller's job: this
    function cannot know which fills were already applied, so the executor and the
    reconciler must skip a fill whose id is already stored before calling it.

    A fill arriving after the order was recorded as canceled or expired is accepted and
    leaves that status as is: the cancel raced an execution that really happened, and
    dropping it would make the position wrong. A fill on a rejected order is illegal.

    ``fees`` sums ``fill.fee`` as given; fills of one order are assumed to share a fee
    asset. The average price is exact whenever the quotient terminates within 28
    significant digits (otherwise rounded half-even there); it is reconstructed from
    ``filled_qty * avg_fill_price`` on each fill, as the model keeps no cumulative notional.
    """
    _check_fill_belongs(order, fill)
    if order.status is S.REJECTED or order.status is S.FILLED:
        raise IllegalTransition(f"order {order.id} is {order.status}; fill {fill.id} cannot apply")
    filled = order.filled_qty + fill.qty
    if filled > order.qty:
        raise FillRefused(
            f"fill {fill.id} of {fill.qty} would fill {filled} of order {order.id}, which is for {order.qty}"
        )
    with localcontext() as wide:
        wide.prec = 80
        notional = order.filled_qty * (order.avg_fill_price or Decimal(0)) + fill.qty * fill.price
    avg = notional / filled  # the ambient context (28 digits) decides the stored precision
    changes: dict[str, Any] = {"filled_qty": filled, "avg_fill_price": avg, "fees": order.fees + fill.fee}
    if order.status in (S.CANCELED, S.EXPIRED):
        doc = order.model_dump()
        doc.update(changes, updated_at=at)
        return Order.model_validate(doc)
    to = S.FILLED if filled == order.qty else S.PARTIALLY_FILLED
    return transition(order, to, at, **changes)
