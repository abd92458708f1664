"""Manual trading: post an order intent, read an order, cancel it.

Why the API never writes orders itself: the execution function is the single writer of
orders (DESIGN 2). A manual intent goes onto ``order-intents`` exactly like a strategy's
(same queue, session = account, message id = intent id), so it passes the same halt and
risk checks at execution and is recorded through the same transition table. The API
answers 202 with where the order will appear.

Why the intent id is derived from the caller's ``clientRequestId``: a client that
retries a POST (timeout, flaky network) must not buy twice. The id hashes tenant,
account and key, so a retry is the same intent, which the broker's duplicate detection
and the executor's dedupe turn into one order.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.domain.trading import OrderIntent, OrderStatus, OrderType, Side
from shared.ports import MarketDataError, NotFound, OutgoingMessage, Store
from shared.services.cancels import cancel_message
from shared.services.order_records import read_doc
from shared.services.tenancy import require_account, tenant_accounts
from shared.topology import ORDER_INTENTS

bp = func.Blueprint()

DECIMAL = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"


class ManualIntent(BaseModel):
    """A trader's order. ``qty`` and ``limitPrice`` are decimal strings (never floats)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    account_id: str = Field(min_length=1, max_length=128)
    symbol: str = Field(pattern=r"^[A-Za-z0-9]{2,30}$")
    side: Side
    type: OrderType
    qty: str = Field(pattern=DECIMAL, description="Quantity in the base asset, as a decimal string.")
    limit_price: str | None = Field(default=None, pattern=DECIMAL, description="Required for limit orders.")
    client_request_id: str = Field(min_length=1, max_length=64,
                                   description="The caller's idempotency key: a retry with it is the same intent.")

    @model_validator(mode="after")
    def _coherent(self) -> ManualIntent:
        if Decimal(self.qty) <= 0:
            raise ValueError("qty must be positive")
        if self.type is OrderType.LIMIT and (self.limit_price is None or Decimal(self.limit_price) <= 0):
            raise ValueError("a limit order needs a positive limitPrice")
        if self.type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a market order takes no limitPrice")
        return self


def manual_intent_id(tenant_id: str, account_id: str, client_request_id: str) -> str:
    """``m-`` + 32 hex: fits Bybit's ``orderLinkId`` (36 of ``[A-Za-z0-9_-]``)."""
    digest = hashlib.sha256(f"{tenant_id}|{account_id}|{client_request_id}".encode()).hexdigest()
    return f"m-{digest[:32]}"


def order_location(order_id: str) -> str:
    return f"/api/v1/orders/{order_id}"


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _find_order(store: Store, tenant_id: str, order_id: str) -> dict[str, Any]:
    """The tenant's own order (any of its accounts) or ``NotFound`` (404, no hint)."""
    for account_id in tenant_accounts(store, tenant_id):
        doc = read_doc(store.container("orders"), order_id, account_id)
        if doc is not None and doc.get("kind") == "order" and doc.get("tenantId") == tenant_id:
            return doc
    raise NotFound(f"no order {order_id!r} in this tenant")


def _same_order(doc: dict[str, Any], intent: OrderIntent) -> bool:
    limit = doc.get("limitPrice")
    return (doc["symbol"], doc["side"], doc["type"], Decimal(doc["qty"]),
            Decimal(limit) if limit is not None else None) == (
        intent.symbol, intent.side.value, intent.type.value, intent.qty, intent.limit_price)


@api_route(bp, name="orders_post_intent", method="POST", route="v1/orders/intents", role=Role.TRADER,
           request=ManualIntent, tags=("orders",), success_status=202,
           summary="Enter a manual order; executed asynchronously (same checks as strategy orders)")
def post_intent(ctx: ApiContext) -> ApiResponse:
    body: ManualIntent = ctx.body
    rt = runtime()
    tenant_id = ctx.caller.tenant_id
    require_account(rt.store, tenant_id, body.account_id)
    symbol = body.symbol.upper()
    try:
        known = rt.market.instruments([symbol])
    except MarketDataError:
        raise HttpProblem(503, "Market data unavailable", "Cannot check the symbol right now; retry.") from None
    if not known:
        raise HttpProblem(422, "Validation failed", "Invalid body: symbol",
                          errors=[{"field": "symbol", "message": f"unknown symbol {symbol}"}])
    intent = OrderIntent(
        id=manual_intent_id(tenant_id, body.account_id, body.client_request_id), tenant_id=tenant_id,
        account_id=body.account_id, profile_id=None, symbol=symbol, side=body.side, type=body.type,
        qty=Decimal(body.qty), limit_price=Decimal(body.limit_price) if body.limit_price is not None else None,
        source="manual", reason=f"manual order by {ctx.caller.user_id}", request_id=ctx.request_id,
        created_at=rt.clock.now())
    existing = read_doc(rt.store.container("orders"), intent.id, intent.account_id)
    if existing is not None and not _same_order(existing, intent):
        raise HttpProblem(409, "Conflict", "This clientRequestId was already used for a different order.")
    if existing is None or existing["status"] == OrderStatus.PENDING_SUBMIT.value:
        # Sent again while not yet settled (the broker drops a repeat inside its duplicate
        # window; after it, the executor resumes the pending record); once settled, a
        # retry has nothing left to send.
        rt.broker.queue(ORDER_INTENTS).send(OutgoingMessage(
            body=json.dumps(intent.to_doc()), message_id=intent.id, session_id=intent.account_id,
            application_properties={"requestId": ctx.request_id}))
    location = order_location(intent.id)
    return ApiResponse({"intentId": intent.id, "orderId": intent.id, "accountId": intent.account_id,
                        "status": existing["status"] if existing else "accepted", "location": location},
                       status=202, headers={"location": location})


@api_route(bp, name="orders_get", method="GET", route="v1/orders/{orderId}", role=Role.VIEWER, tags=("orders",),
           summary="One of the caller's tenant's orders (404 until the execution function has recorded it)")
def get_order(ctx: ApiContext) -> dict[str, Any]:
    return _view(_find_order(runtime().store, ctx.caller.tenant_id, ctx.route_params["orderId"]))


@api_route(bp, name="orders_cancel", method="POST", route="v1/orders/{orderId}/cancel", role=Role.TRADER,
           tags=("orders",), success_status=202,
           summary="Ask to cancel an open order (allowed during halts); executed asynchronously")
def cancel(ctx: ApiContext) -> ApiResponse:
    rt = runtime()
    doc = _find_order(rt.store, ctx.caller.tenant_id, ctx.route_params["orderId"])
    status = OrderStatus(doc["status"])
    if not status.is_open:
        raise HttpProblem(409, "Conflict", f"The order is {status.value}; only open orders can be canceled.")
    body, message_id = cancel_message(doc["accountId"], doc["id"], ctx.caller.user_id, ctx.request_id)
    rt.broker.queue(ORDER_INTENTS).send(OutgoingMessage(
        body=body, message_id=message_id, session_id=doc["accountId"],
        application_properties={"requestId": ctx.request_id}))
    location = order_location(doc["id"])
    return ApiResponse({"orderId": doc["id"], "status": "cancel-requested", "location": location}, status=202,
                       headers={"location": location})
