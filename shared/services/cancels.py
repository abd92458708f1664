"""Cancelling an order: run by the execution function, the only writer of orders.

Why through the queue: the HTTP API only *asks* (a ``cancel`` message on
``order-intents``, session = account), so a cancel is ordered after the intents of the
same account and recorded by the same single writer, through the same transition table
and batch as every other order change. Cancels are allowed during halts (DESIGN 5): a
halt stops new risk, and cancelling reduces it.

Redelivery is harmless: the exchange cancel is idempotent for a canceled order, a
recorded terminal order is left alone, and the actor's audit event has a fixed id.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from shared.domain.orders import TERMINAL, transition
from shared.domain.trading import Order, OrderStatus
from shared.ports import ExchangeUnavailable, OrderRejected, RateLimited, UnknownOrder
from shared.services.audit import AlreadyAppended, append_audit
from shared.services.order_records import ExecutionContext, ExecutionResult, RetryLater, read_doc, write_order

log = logging.getLogger("halyard.cancels")

CANCEL_KIND = "cancel"


def cancel_message_id(order_id: str) -> str:
    return f"cancel:{order_id}"


def cancel_message(account_id: str, order_id: str, actor: str, request_id: str | None) -> tuple[str, str]:
    """(body, message id) of a request to cancel one order; one per order in the broker's
    duplicate-detection window however often the trader clicks."""
    body = {"kind": CANCEL_KIND, "orderId": order_id, "accountId": account_id, "requestId": request_id,
            "actor": actor}
    return json.dumps(body), cancel_message_id(order_id)


def _audit_cancel(ctx: ExecutionContext, order: Order, actor: str, request_id: str | None,
                  details: dict[str, Any]) -> None:
    """Who asked for the cancel and under which request id (the order's own audit events
    carry the request id of the intent that created it)."""
    with contextlib.suppress(AlreadyAppended):
        append_audit(ctx.store.container("audit"), tenant_id=order.tenant_id, action="order.cancel", actor=actor,
                     target=f"order:{order.id}", details=details, request_id=request_id, at=ctx.clock.now(),
                     event_id=f"cancel:{order.id}")


def cancel_order(ctx: ExecutionContext, account_id: str, order_id: str, actor: str,
                 request_id: str | None) -> ExecutionResult:
    """Cancel on the exchange by client order id, then record what the exchange says."""
    from shared.services.execution import record_exchange_state  # the executor's "fills + exchange status" recorder

    doc = read_doc(ctx.store.container("orders"), order_id, account_id)
    if doc is None:
        log.warning("cancel of unknown order %s on account %s", order_id, account_id)
        return ExecutionResult("rejected", None, f"no order {order_id} on account {account_id}")
    order = Order.from_doc(doc)
    if order.status in TERMINAL:
        return ExecutionResult("duplicate", order, f"order is already {order.status.value}")
    exchange = ctx.exchange_for(account_id)
    try:
        placed = exchange.cancel(order.symbol, order.id)
    except UnknownOrder:
        if order.status is not OrderStatus.PENDING_SUBMIT:
            log.warning("exchange does not know open order %s; left to reconciliation", order.id)
            return ExecutionResult("rejected", order, "the exchange does not know this order")
        # Never reached the exchange: recording it canceled stops any later submission
        # (a redelivered intent finds a record past pending-submit and does nothing).
        canceled = transition(order, OrderStatus.CANCELED, ctx.clock.now(), reject_reason=f"canceled by {actor}")
        quote = ctx.market.instruments([order.symbol])[0].quote
        result = write_order(ctx, canceled, doc["_etag"], [], quote, outcome="executed",
                             reason=f"canceled by {actor} before submission")
        _audit_cancel(ctx, order, actor, request_id, {"status": OrderStatus.CANCELED.value, "submitted": False})
        return result
    except OrderRejected as exc:  # finished on the exchange meanwhile (filled, expired): record that instead
        try:
            found = exchange.get_order(order.symbol, order.id)
        except (ExchangeUnavailable, RateLimited) as inner:
            raise RetryLater(f"exchange unavailable: {inner}") from inner
        _audit_cancel(ctx, order, actor, request_id, {"refused": str(exc)})
        if found is None:
            return ExecutionResult("rejected", order, f"cancel refused: {exc}")
        return record_exchange_state(order, doc["_etag"], found, ctx, outcome="synced")
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    result = record_exchange_state(order, doc["_etag"], placed, ctx, outcome="executed")
    recorded = result.order or order
    _audit_cancel(ctx, order, actor, request_id, {"status": recorded.status.value,
                                                  "filledQty": str(recorded.filled_qty)})
    return result
