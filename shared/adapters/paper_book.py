"""The paper book's shapes: its documents, its order filters, what a batch of book writes carries.

Split from ``paper_exchange`` (the exchange's behaviour) so that module stays about
matching and concurrency. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from typing import Any, Protocol, runtime_checkable

from shared.domain.candles import from_ms, to_ms
from shared.domain.fill_model import Bar
from shared.domain.market import Instrument
from shared.domain.trading import OrderStatus, OrderType, Side
from shared.ports import BatchOp, ExchangeFill, ExchangeOrder, OrderRejected, OrderRequest

CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@runtime_checkable
class BarFeed(Protocol):
    """What a replay feed offers beyond the port: the bar forming now (so the market
    order's reference bar, volume included, is the simulator's) and each symbol's interval."""

    def interval_of(self, symbol: str) -> str: ...

    def forming_bar(self, symbol: str) -> Bar | None: ...


@dataclass
class Pending:
    """Writes staged against one read of the book, committed as one batch."""

    account: dict[str, Any]
    balances: dict[str, Decimal]
    orders: dict[str, dict[str, Any]]
    ops: list[BatchOp]
    touched: set[str]


OPEN_STATUSES = [s.value for s in OrderStatus if s.is_open]
#: The average fill price's context, built once (only its flags ever change, and flags
#: never change a result).
_AVERAGE = Context(prec=28)


def by_age(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda d: (d["createdMs"], d["id"]))


def order_id(client_order_id: str) -> str:
    return f"order-{client_order_id}"


def fill_id(client_order_id: str, n: int) -> str:
    return f"fill-{client_order_id}-{n:05d}"


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def stamp(prefix: str, when: datetime) -> dict[str, Any]:
    """``<prefix>At`` (ISO-8601 UTC, whole milliseconds) and ``<prefix>Ms`` of a time."""
    ms = to_ms(when)
    return {f"{prefix}At": _iso(ms), f"{prefix}Ms": ms}


_ISO: dict[int, str] = {}  # ms -> text: a book write stamps the same instant several times


def _iso(ms: int) -> str:
    text = _ISO.get(ms)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[ms] = from_ms(ms).isoformat().replace("+00:00", "Z")
    return text


def balances_of(account: Mapping[str, Any]) -> dict[str, Decimal]:
    return {asset: Decimal(value) for asset, value in account["balances"].items()}


def to_order(doc: Mapping[str, Any]) -> ExchangeOrder:
    filled = Decimal(doc["filledQty"])
    return ExchangeOrder(
        client_order_id=doc["clientOrderId"], exchange_order_id=doc["exchangeOrderId"], symbol=doc["symbol"],
        side=Side(doc["side"]), type=OrderType(doc["type"]), qty=Decimal(doc["qty"]),
        limit_price=None if doc["limitPrice"] is None else Decimal(doc["limitPrice"]),
        status=OrderStatus(doc["status"]), filled_qty=filled,
        # 28 digits: Python's default context, so anyone recomputing it from the fills agrees
        avg_fill_price=_AVERAGE.divide(Decimal(doc["notional"]), filled) if filled else None,
        created_at=from_ms(doc["createdMs"]), updated_at=from_ms(doc["updatedMs"]),
        reject_reason=doc.get("rejectReason"),
    )


def to_fill(doc: Mapping[str, Any]) -> ExchangeFill:
    return ExchangeFill(
        exchange_fill_id=doc["id"], client_order_id=doc["clientOrderId"], exchange_order_id=doc["exchangeOrderId"],
        symbol=doc["symbol"], side=Side(doc["side"]), price=Decimal(doc["price"]), qty=Decimal(doc["qty"]),
        fee=Decimal(doc["fee"]), fee_asset=doc["feeAsset"], liquidity=doc["liquidity"], at=from_ms(doc["atMs"]),
    )


def check_request(request: OrderRequest, inst: Instrument) -> Instrument:
    """What the exchange refuses before looking at the book (its filters), as Bybit does."""
    if inst.status != "trading":
        raise OrderRejected(f"{request.symbol} is {inst.status}")
    qty = request.qty
    if not qty.is_finite() or qty <= 0 or qty % inst.lot_size != 0:
        raise OrderRejected(f"qty {qty} is not a positive multiple of the lot size {inst.lot_size}")
    if qty < inst.min_qty or (inst.max_qty is not None and qty > inst.max_qty):
        raise OrderRejected(f"qty {qty} is outside the instrument's limits")
    price = request.limit_price
    if request.type is OrderType.LIMIT:
        if price is None or not price.is_finite() or price <= 0 or price % inst.tick_size != 0:
            raise OrderRejected(f"limit price {price} is not a positive multiple of the tick {inst.tick_size}")
    elif price is not None:
        raise OrderRejected("a market order takes no limit price")
    return inst


def free_balance(pending: Pending, doc: dict[str, Any]) -> Decimal:
    """The balance ``doc`` may use: total minus what the *other* open orders reserve."""
    buy = doc["side"] == Side.BUY
    asset = doc["quote"] if buy else doc["base"]
    locked = Decimal(0)
    for other in pending.orders.values():
        if other["id"] == doc["id"] or not other["open"] or (other["side"] == Side.BUY) != buy:
            continue
        if (other["quote"] if buy else other["base"]) != asset:
            continue
        remaining = Decimal(other["qty"]) - Decimal(other["filledQty"])
        if buy:
            remaining *= Decimal(other["reservePrice"]) * (1 + Decimal(other["reserveFeeRate"]))
        locked += remaining
    return pending.balances.get(asset, Decimal(0)) - locked
