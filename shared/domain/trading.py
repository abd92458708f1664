"""Orders, intents, fills, positions and ledger entries: money is ``Decimal`` throughout."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import model_validator

from shared.domain.base import DomainModel, Money, UtcDatetime


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "pending-submit"
    NEW = "new"
    PARTIALLY_FILLED = "partially-filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.PENDING_SUBMIT, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


IntentSource = Literal["strategy", "manual"]


class OrderIntent(DomainModel):
    """What a strategy tick or a trader wants; ``id`` is the idempotency key and becomes
    the exchange's client order id (Bybit ``orderLinkId``)."""

    id: str
    tenant_id: str
    account_id: str
    profile_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: Money
    limit_price: Money | None = None
    source: IntentSource
    decision_id: str | None = None
    candle_time: UtcDatetime | None = None
    reason: str = ""
    request_id: str | None = None
    created_at: UtcDatetime

    @model_validator(mode="after")
    def _priced(self) -> OrderIntent:
        if self.qty <= 0:
            raise ValueError("qty must be positive")
        if self.type is OrderType.LIMIT and (self.limit_price is None or self.limit_price <= 0):
            raise ValueError("a limit order needs a positive limit price")
        if self.type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a market order takes no limit price")
        return self


class Order(DomainModel):
    """Our record of an order; ``id`` equals the intent id (client order id)."""

    id: str
    kind: Literal["order"] = "order"
    tenant_id: str
    account_id: str
    profile_id: str | None
    symbol: str
    side: Side
    type: OrderType
    qty: Money
    limit_price: Money | None = None
    status: OrderStatus
    exchange: str
    exchange_order_id: str | None = None
    filled_qty: Money = Decimal(0)
    avg_fill_price: Money | None = None
    fees: Money = Decimal(0)
    reject_reason: str | None = None
    request_id: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Fill(DomainModel):
    id: str
    kind: Literal["fill"] = "fill"
    order_id: str
    account_id: str
    symbol: str
    side: Side
    price: Money
    qty: Money
    fee: Money
    fee_asset: str
    liquidity: Literal["maker", "taker"] = "taker"
    exchange_fill_id: str | None = None
    at: UtcDatetime


class Position(DomainModel):
    """Average-cost position in one symbol; ``avg_cost`` excludes fees (fees are booked
    in ``fees_paid`` and the ledger)."""

    account_id: str
    symbol: str
    qty: Money = Decimal(0)
    avg_cost: Money = Decimal(0)
    realized_pnl: Money = Decimal(0)
    fees_paid: Money = Decimal(0)
    updated_at: UtcDatetime | None = None


LedgerKind = Literal["deposit", "withdrawal", "fee", "realized-pnl"]


class LedgerEntry(DomainModel):
    """Append-only capital ledger (quote currency). The balance is the sum of entries and
    equals cash plus open positions valued at average cost."""

    id: str
    account_id: str
    kind: LedgerKind
    asset: str
    amount: Money
    ref: str | None = None
    at: UtcDatetime
