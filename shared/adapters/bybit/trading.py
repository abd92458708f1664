"""Bybit v5 spot trading behind the ``Exchange`` port.

Why it looks like this:
- ``orderLinkId`` is the intent id, so the exchange itself refuses a second order for
  one intent: a repeat (a retry after a lost response, a redelivered message, a second
  worker) answers "duplicate" -> ``AlreadySubmitted``, and the caller looks the order up
  with ``get_order``. Nothing here ever invents a new id for a retry.
- Market orders are sized in the base coin (``marketUnit=baseCoin``); Bybit's default for
  a spot market *buy* is quote coin, which would silently buy the wrong amount.
- Bybit's order statuses are mapped in one explicit table; an unknown status is an
  error, never a guess.
- History and executions accept at most a 7-day ``startTime``..``endTime`` window
  (order-list.mdx, execution.mdx), so ``since`` is walked in 7-day windows.
Every failure surfaces as an ``ExchangeError`` subclass, as the port promises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

from shared.adapters.bybit.http import BybitHttpClient
from shared.adapters.bybit.market import datetime_to_ms, ms_to_datetime, to_decimal
from shared.adapters.clock import SystemClock
from shared.domain.trading import OrderStatus, OrderType, Side
from shared.ports import (
    Clock,
    ExchangeError,
    ExchangeFill,
    ExchangeOrder,
    OrderRejected,
    OrderRequest,
    UnknownOrder,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Bybit ``orderStatus`` -> ours (docs/v5/enum: open: New, PartiallyFilled, Untriggered;
#: closed: Rejected, PartiallyFilledCanceled (spot only), Filled, Cancelled, Triggered,
#: Deactivated). ``filled_qty`` tells a partially filled cancel from a plain one.
ORDER_STATUS: dict[str, OrderStatus] = {
    "Created": OrderStatus.NEW,  # accepted, not yet in the matching engine
    "New": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,
    "PartiallyFilledCanceled": OrderStatus.CANCELED,  # spot: part filled, rest cancelled
    "Rejected": OrderStatus.REJECTED,
    "Untriggered": OrderStatus.NEW,  # conditional order waiting for its trigger: still open
    "Triggered": OrderStatus.NEW,  # instantaneous, on its way to New
    "Deactivated": OrderStatus.CANCELED,  # TP/SL/OCO order cancelled before triggering
}
_SIDES = {Side.BUY: "Buy", Side.SELL: "Sell"}
_TYPES = {OrderType.MARKET: "Market", OrderType.LIMIT: "Limit"}
_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")  # create-order.mdx: max 36, letters/digits/-/_
WINDOW = timedelta(days=7) - timedelta(milliseconds=1)
ORDER_PAGE, EXECUTION_PAGE = 50, 100  # the endpoints' maximum ``limit``
MAX_PAGES = 200  # a runaway cursor must not loop forever


class BybitExchange:
    """``Exchange`` for a Bybit UNIFIED account, spot category only."""

    def __init__(self, client: BybitHttpClient, *, name: str = "bybit", clock: Clock | None = None) -> None:
        self.name = name
        self._client = client
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"BybitExchange(name={self.name!r}, client={self._client!r})"

    # ---------------------------------------------------------------- orders

    def submit(self, request: OrderRequest) -> ExchangeOrder:
        """Place the order; ``AlreadySubmitted`` if the orderLinkId was used before.

        The create answer holds only ids, so the order is read back once; if that read
        fails the order is still placed, and a NEW order built from the request is
        returned rather than an error that would look like a failed submit.
        """
        body = _create_body(request)
        envelope = self._client.post("/v5/order/create", body)
        order_id = str(_result(envelope).get("orderId", ""))
        try:
            found = self.get_order(request.symbol, request.client_order_id)
        except ExchangeError as exc:
            log.warning("bybit order %s placed; read-back failed (%s)", request.client_order_id, type(exc).__name__)
            found = None
        if found is not None:
            return found
        now = self._clock.now()
        return ExchangeOrder(
            client_order_id=request.client_order_id, exchange_order_id=order_id, symbol=request.symbol,
            side=request.side, type=request.type, qty=request.qty, limit_price=request.limit_price,
            status=OrderStatus.NEW, filled_qty=Decimal(0), avg_fill_price=None, created_at=now, updated_at=now,
        )

    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """Open orders first (real time), then history (closed orders, may lag a little)."""
        params = {"category": "spot", "symbol": symbol, "orderLinkId": client_order_id}
        for path in ("/v5/order/realtime", "/v5/order/history"):
            rows = _result(self._client.get(path, params)).get("list") or []
            for row in rows:
                if row.get("orderLinkId") == client_order_id:
                    return _parse(_order, row)
        return None

    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        """Cancel by orderLinkId and return the order's state afterwards.

        Idempotent, like the paper exchange: an order already cancelled (perhaps by a
        first attempt whose answer was lost) is returned as it is; one that filled or was
        rejected meanwhile raises ``OrderRejected``; ``UnknownOrder`` only when Bybit has
        no order with that id at all.
        """
        body = {"category": "spot", "symbol": symbol, "orderLinkId": client_order_id}
        try:
            self._client.post("/v5/order/cancel", body)
        except UnknownOrder as exc:
            found = self.get_order(symbol, client_order_id)
            if found is None:
                raise
            if found.status in (OrderStatus.FILLED, OrderStatus.REJECTED):
                raise OrderRejected(f"bybit order {client_order_id} is {found.status} and cannot be canceled",
                                    code=exc.code) from exc
            return found
        found = self.get_order(symbol, client_order_id)
        if found is None:
            raise UnknownOrder(f"bybit order {client_order_id} cancelled but not found afterwards")
        return found

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        params = {"category": "spot", "symbol": symbol, "openOnly": 0, "limit": ORDER_PAGE}
        return [_parse(_order, row) for row in self._pages("/v5/order/realtime", params)]

    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        """Closed orders (Bybit keeps open ones in ``open_orders``); the last 7 days
        without ``since``. Oldest first."""
        rows = self._windowed("/v5/order/history", {"category": "spot", "symbol": symbol, "limit": ORDER_PAGE}, since)
        orders = {o.exchange_order_id: o for o in (_parse(_order, row) for row in rows)}
        return sorted(orders.values(), key=lambda o: (o.created_at, o.exchange_order_id))

    def executions(
        self, symbol: str | None = None, since: datetime | None = None, *, client_order_id: str | None = None
    ) -> list[ExchangeFill]:
        """Trade executions (other ``execType`` values are not fills). Oldest first."""
        params: dict[str, object] = {"category": "spot", "symbol": symbol, "limit": EXECUTION_PAGE}
        if client_order_id is not None:
            params["orderLinkId"] = client_order_id
        rows = self._windowed("/v5/execution/list", params, since)
        trades = (_parse(_fill, row) for row in rows if row.get("execType", "Trade") == "Trade")
        fills = {f.exchange_fill_id: f for f in trades}
        return sorted(fills.values(), key=lambda f: (f.at, f.exchange_fill_id))

    def balances(self) -> dict[str, Decimal]:
        """Wallet balance per coin of the UNIFIED account (total, locked included)."""
        result = _result(self._client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"}))
        totals: dict[str, Decimal] = {}
        for account in result.get("list") or []:
            for coin in account.get("coin") or []:
                amount = _parse(to_decimal, coin.get("walletBalance", ""))
                totals[str(coin["coin"])] = totals.get(str(coin["coin"]), Decimal(0)) + amount
        return totals

    # ---------------------------------------------------------------- paging

    def _pages(self, path: str, params: Mapping[str, object]) -> Iterator[dict[str, Any]]:
        query = dict(params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            result = _result(self._client.get(path, query))
            yield from result.get("list") or []
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)
            query["cursor"] = cursor
        raise ExchangeError(f"bybit {path}: more than {MAX_PAGES} pages")

    def _windowed(self, path: str, params: Mapping[str, object], since: datetime | None) -> list[dict[str, Any]]:
        if since is None:
            return list(self._pages(path, params))
        rows: list[dict[str, Any]] = []
        start, now = since, self._clock.now()
        while start <= now:
            end = min(start + WINDOW, now)
            window = {**params, "startTime": datetime_to_ms(start), "endTime": datetime_to_ms(end)}
            rows.extend(self._pages(path, window))
            start = end + timedelta(milliseconds=1)
        return rows


# -------------------------------------------------------------------- mapping


def _create_body(request: OrderRequest) -> dict[str, object]:
    """The /v5/order/create body; invalid requests are refused before any call."""
    if not _LINK_ID.match(request.client_order_id):
        raise OrderRejected("client order id must be 1-36 letters, digits, '-' or '_' (Bybit orderLinkId)")
    if request.qty <= 0:
        raise OrderRejected("qty must be positive")
    body: dict[str, object] = {
        "category": "spot",
        "symbol": request.symbol,
        "side": _SIDES[request.side],
        "orderType": _TYPES[request.type],
        "qty": _plain(request.qty),
        "orderLinkId": request.client_order_id,
        "isLeverage": 0,
        "orderFilter": "Order",
    }
    if request.type is OrderType.LIMIT:
        if request.limit_price is None or request.limit_price <= 0:
            raise OrderRejected("a limit order needs a positive limit price")
        body.update(price=_plain(request.limit_price), timeInForce="GTC")
    else:
        if request.limit_price is not None:
            raise OrderRejected("a market order takes no limit price")
        body.update(marketUnit="baseCoin", timeInForce="IOC")
    return body


def _order(row: Mapping[str, Any]) -> ExchangeOrder:
    raw_status = str(row["orderStatus"])
    if raw_status not in ORDER_STATUS:
        raise ExchangeError(f"bybit order {row.get('orderLinkId')}: unknown orderStatus {raw_status!r}")
    order_type = _enum(_TYPES, row["orderType"])
    price, avg = to_decimal(row.get("price", "")), to_decimal(row.get("avgPrice", ""))
    reason = str(row.get("rejectReason") or "")
    return ExchangeOrder(
        client_order_id=str(row.get("orderLinkId") or ""),
        exchange_order_id=str(row["orderId"]),
        symbol=str(row["symbol"]),
        side=_enum(_SIDES, row["side"]),
        type=order_type,
        qty=to_decimal(row["qty"]),
        limit_price=price if order_type is OrderType.LIMIT and price > 0 else None,
        status=ORDER_STATUS[raw_status],
        filled_qty=to_decimal(row.get("cumExecQty", "")),
        avg_fill_price=avg if avg > 0 else None,
        created_at=ms_to_datetime(row["createdTime"]),
        updated_at=ms_to_datetime(row.get("updatedTime") or row["createdTime"]),
        reject_reason=None if reason in ("", "EC_NoError") else reason,
    )


def _fill(row: Mapping[str, Any]) -> ExchangeFill:
    liquidity: Literal["maker", "taker"] = "maker" if row.get("isMaker") is True else "taker"
    return ExchangeFill(
        exchange_fill_id=str(row["execId"]),
        client_order_id=str(row.get("orderLinkId") or ""),
        exchange_order_id=str(row["orderId"]),
        symbol=str(row["symbol"]),
        side=_enum(_SIDES, row["side"]),
        price=to_decimal(row["execPrice"]),
        qty=to_decimal(row["execQty"]),
        fee=to_decimal(row.get("execFee", "")),
        fee_asset=str(row.get("feeCurrency") or ""),
        liquidity=liquidity,
        at=ms_to_datetime(row["execTime"]),
    )


def _enum(table: Mapping[T, str], value: object) -> T:
    for ours, theirs in table.items():
        if theirs == value:
            return ours
    raise ValueError(f"unexpected value {value!r}")


def _plain(value: Decimal) -> str:
    """Decimal as Bybit wants it: plain notation, never ``1E-5``."""
    return format(value, "f")


def _result(envelope: Mapping[str, Any]) -> dict[str, Any]:
    result = envelope.get("result")
    if not isinstance(result, dict):
        raise ExchangeError("bybit response has no result object")
    return result


def _parse(fn: Callable[[Any], T], row: Any) -> T:
    """Map a Bybit row; a malformed one is an ``ExchangeError`` (the port's only error)."""
    try:
        return fn(row)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ExchangeError(f"bybit response malformed: {type(exc).__name__}: {exc}") from exc
