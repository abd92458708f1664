"""The paper exchange: the ``Exchange`` port over the store, with the shared fill model.

Why in the store: function invocations run in many processes and restart at any time,
so the book (orders, fills, balances) lives in the ``paper`` container, one partition
per account, and every write is one transactional batch there.

Concurrency rule: every write to the book also replaces the account doc (``account``)
under its etag. That doc is the partition's sequencer. Two writers that read the same
state cannot both commit: the loser gets ``PreconditionFailed``, re-reads and retries.
Idempotency: the order doc's id is derived from the client order id and is *created*.
A second submit of the same id conflicts and raises ``AlreadySubmitted``. So 100
redeliveries of one intent make exactly one order.

Matching: a market order fills at once against the bar forming now (its reference bar).
Resting limit orders and partial remainders are matched lazily. Every call first
replays the bars closed since each open order's cursor (``nextBarMs``), bar by bar in
time order, so the same candles and orders give the same fills, whenever it runs. A
lazy fill is stamped with its bar's close time, the moment the fill became knowable.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, localcontext
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable

from shared.domain.candles import from_ms, to_ms
from shared.domain.fill_model import (
    Bar,
    FillModelConfig,
    ModelFill,
    WorkingOrder,
    fill_cost,
    fill_on_bar,
    market_price,
    slipped_price,
)
from shared.domain.market import INTERVAL_SECONDS, Instrument
from shared.domain.trading import OrderStatus, OrderType, Side
from shared.ports import (
    AlreadySubmitted,
    BatchFailed,
    BatchOp,
    Clock,
    Conflict,
    ExchangeFill,
    ExchangeOrder,
    ExchangeUnavailable,
    Filter,
    InsufficientBalance,
    MarketData,
    MarketDataError,
    NotFound,
    OrderRejected,
    OrderRequest,
    PreconditionFailed,
    Query,
    Store,
    StoreError,
    UnknownOrder,
)

CONTAINER = "paper"
ACCOUNT_ID = "account"
DEFAULT_BALANCES: Mapping[str, Decimal] = {"USDT": Decimal("10000"), "USD": Decimal("10000")}
MAX_ATTEMPTS = 200
BATCH_OPS = 90  # below Cosmos DB's 100 operations per transactional batch
PAGE_BARS = 500
_P = ParamSpec("_P")
_R = TypeVar("_R")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@runtime_checkable
class BarFeed(Protocol):
    """What a replay feed offers beyond the port: the bar forming now (so the market
    order's reference bar, volume included, is the simulator's) and each symbol's interval."""

    def interval_of(self, symbol: str) -> str: ...

    def forming_bar(self, symbol: str) -> Bar | None: ...


class _Retry(Exception):
    """The book changed under us: re-read and try again."""


@dataclass
class _Pending:
    """Writes staged against one read of the book, committed as one batch."""

    account: dict[str, Any]
    balances: dict[str, Decimal]
    orders: dict[str, dict[str, Any]]
    ops: list[BatchOp]
    touched: set[str]


def _port_call(method: Callable[Concatenate[PaperExchange, _P], _R]) -> Callable[Concatenate[PaperExchange, _P], _R]:
    """Every port call: fault hook, then lazy matching, then the call; store and feed
    failures become ``ExchangeUnavailable`` (the port promises only ``ExchangeError``s),
    and money math runs in a fixed decimal context, never the caller's."""

    @functools.wraps(method)
    def call(self: PaperExchange, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            with localcontext(Context(prec=40)):
                if method.__name__ in ("submit", "cancel"):
                    self._fault(method.__name__)
                self._sync()
                return method(self, *args, **kwargs)
        except (StoreError, MarketDataError) as exc:
            raise ExchangeUnavailable(f"paper exchange: {exc}") from exc

    return call


class PaperExchange:
    """A simulated spot exchange for one account; safe across threads and processes."""

    name = "paper"

    def __init__(
        self,
        store: Store,
        market: MarketData,
        clock: Clock,
        *,
        account_id: str,
        fill_config: FillModelConfig | None = None,
        initial_balances: Mapping[str, Decimal] | None = None,
        intervals: Mapping[str, str] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        """``intervals``: the bar interval to match on per symbol when ``market`` is not a
        ``BarFeed`` (default 1m). ``fault(point)`` is called at ``submit``,
        ``submit.accepted``, ``cancel`` and ``cancel.accepted``. Raising there simulates a
        timeout before or after the exchange acted, for reconciliation tests."""
        self.container = store.container(CONTAINER)
        self.market = market
        self.clock = clock
        self.account_id = account_id
        self.config = fill_config or FillModelConfig()
        self.initial_balances = dict(DEFAULT_BALANCES if initial_balances is None else initial_balances)
        self.intervals = dict(intervals or {})
        self.fault = fault
        self._instruments: dict[str, Instrument] = {}

    # ----------------------------------------------------------------- port

    @_port_call
    def submit(self, request: OrderRequest) -> ExchangeOrder:
        inst = self._validate(request)
        if self._read(request.client_order_id) is not None:
            raise AlreadySubmitted(f"client order id {request.client_order_id!r} was used before")
        doc = self._commit_new(request, inst)
        self._fault("submit.accepted")
        return _order(doc)

    @_port_call
    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        doc = self._read(client_order_id)
        return _order(doc) if doc is not None and doc["symbol"] == symbol else None

    @_port_call
    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        """Idempotent for an order already canceled; a finished order cannot be canceled."""
        for _ in range(MAX_ATTEMPTS):
            doc = self._read(client_order_id)
            if doc is None or doc["symbol"] != symbol:
                raise UnknownOrder(f"no order {client_order_id!r} on {symbol}")
            if doc["status"] == OrderStatus.CANCELED:
                return _order(doc)
            if not doc["open"]:
                raise OrderRejected(f"order {client_order_id!r} is {doc['status']} and cannot be canceled")
            doc.update(status=OrderStatus.CANCELED.value, open=False, **_stamp("updated", self.clock.now()))
            try:
                self._write([BatchOp("replace", item=doc, if_match=doc["_etag"])], self._account())
            except _Retry:
                continue
            self._fault("cancel.accepted")
            return _order(doc)
        raise ExchangeUnavailable("the paper book stayed busy; try again")

    @_port_call
    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        return [_order(d) for d in self._orders(symbol, open_only=True)]

    @_port_call
    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        """Every order (open or not), oldest first; ``since`` bounds the creation time."""
        low = None if since is None else to_ms(since)
        return [_order(d) for d in self._orders(symbol, open_only=False) if low is None or d["createdMs"] >= low]

    @_port_call
    def executions(
        self, symbol: str | None = None, since: datetime | None = None, *, client_order_id: str | None = None
    ) -> list[ExchangeFill]:
        where = [Filter("kind", "=", "fill")]
        if client_order_id is not None:
            where.append(Filter("clientOrderId", "=", client_order_id))
        if symbol is not None:
            where.append(Filter("symbol", "=", symbol))
        if since is not None:
            where.append(Filter("atMs", ">=", to_ms(since)))
        return [_fill(d) for d in sorted(self._query(where), key=lambda d: (d["atMs"], d["id"]))]

    @_port_call
    def balances(self) -> dict[str, Decimal]:
        return _balances(self._account())

    # ----------------------------------------------------------------- submit

    def _validate(self, request: OrderRequest) -> Instrument:
        if not _CLIENT_ID.match(request.client_order_id):
            raise OrderRejected("client order id must be 1-64 characters of letters, digits, _ . : -")
        inst = self._instrument(request.symbol)
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

    def _commit_new(self, request: OrderRequest, inst: Instrument) -> dict[str, Any]:
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            now_ms = to_ms(now)
            account = self._account()
            pending = _Pending(account, _balances(account), {d["id"]: d for d in self._orders(None, True)}, [], set())
            ref: Bar | None = None
            if request.type is OrderType.LIMIT:
                assert request.limit_price is not None
                estimate, rate = request.limit_price, self.config.maker_fee_rate
            else:
                ref = self._reference_bar(request.symbol, now_ms)
                estimate = self._estimate(request.symbol, request.side, ref, inst)
                rate = self.config.taker_fee_rate
            if request.qty * estimate < inst.min_notional:
                raise OrderRejected(f"notional {request.qty * estimate} is below the minimum {inst.min_notional}")
            cid = request.client_order_id
            doc: dict[str, Any] = {
                "id": _order_id(cid), "accountId": self.account_id, "kind": "order", "clientOrderId": cid,
                # deterministic, so a rebuilt book (or a replayed test) names orders the same way
                "exchangeOrderId": "P" + hashlib.sha256(f"{self.account_id}:{cid}".encode()).hexdigest()[:24],
                "symbol": request.symbol, "base": inst.base, "quote": inst.quote, "side": request.side.value,
                "type": request.type.value, "qty": str(request.qty), "limitPrice": _text(request.limit_price),
                "status": OrderStatus.NEW.value, "open": True, "filledQty": "0", "notional": "0", "fees": "0",
                "fillCount": 0, "reservePrice": str(estimate), "reserveFeeRate": str(rate),
                "nextBarMs": now_ms if ref is None else ref.open_time_ms + 1,
                **_stamp("created", now), **_stamp("updated", now),
            }
            free = self._free(pending, doc)
            need = request.qty * estimate * (1 + rate) if request.side is Side.BUY else request.qty
            if need > free:
                asset = inst.quote if request.side is Side.BUY else inst.base
                raise InsufficientBalance(f"needs {need} {asset}, {free} available")
            pending.ops.append(BatchOp("create", item=doc))
            pending.orders[doc["id"]] = doc
            if ref is not None:
                self._match(pending, doc, ref, now_ms)
            try:
                self._flush(pending)
            except _Retry:
                continue
            return doc
        raise ExchangeUnavailable("the paper book stayed busy; try again")

    def _estimate(self, symbol: str, side: Side, ref: Bar | None, inst: Instrument) -> Decimal:
        """Expected taker price for the balance check: the reference bar's open, or the
        last price when no bar is forming (a gap, or the end of data)."""
        if ref is not None:
            return slipped_price(side, market_price(ref.open, inst.tick_size), inst.tick_size, self.config.slippage_bps)
        tickers = self.market.tickers([symbol])
        if not tickers:
            raise ExchangeUnavailable(f"no price for {symbol} yet")
        return slipped_price(side, tickers[0].last_price, inst.tick_size, self.config.slippage_bps)

    def _reference_bar(self, symbol: str, now_ms: int) -> Bar | None:
        if isinstance(self.market, BarFeed):
            return self.market.forming_bar(symbol)
        tickers = self.market.tickers([symbol])
        last = self.market.candles(symbol, self._interval(symbol), limit=1)
        if not tickers or not last:
            return None  # no immediate fill: the order waits for the next closed bar
        price = float(tickers[0].last_price)
        return Bar(now_ms, price, price, price, price, last[-1].volume)

    # ----------------------------------------------------------------- matching

    def _sync(self) -> None:
        """Match open orders against the bars closed since their cursors, oldest bar first."""
        for _ in range(MAX_ATTEMPTS):
            account = self._account()
            orders = {d["id"]: d for d in self._orders(None, True)}
            events: list[tuple[int, int, str, Bar]] = []
            for doc in orders.values():
                events += [(b.open_time_ms, doc["createdMs"], doc["id"], b) for b in self._bars(doc)]
            if not events:
                return
            events.sort(key=lambda e: e[:3])
            pending = _Pending(account, _balances(account), orders, [], set())
            try:
                for bar_ms, _, order_id, bar in events:
                    doc = pending.orders[order_id]
                    if doc["open"] and bar_ms >= doc["nextBarMs"]:
                        # stamped when the bar closed, i.e. when the fill became knowable:
                        # a poller using ``since`` = its last poll never misses one
                        closes_at = bar_ms + INTERVAL_SECONDS[self._interval(doc["symbol"])] * 1000
                        self._match(pending, doc, bar, closes_at)
                        doc["nextBarMs"] = bar_ms + 1
                        pending.touched.add(order_id)
                    if len(pending.ops) + len(pending.touched) >= BATCH_OPS:
                        self._flush(pending)
                self._flush(pending)
                return
            except _Retry:
                continue
        raise ExchangeUnavailable("the paper book stayed busy; try again")

    def _bars(self, doc: dict[str, Any]) -> list[Bar]:
        symbol, start = doc["symbol"], doc["nextBarMs"]
        bars: list[Bar] = []
        while True:
            page = self.market.candles(symbol, self._interval(symbol), start=from_ms(start), limit=PAGE_BARS)
            fresh = [Bar.from_candle(c) for c in page if to_ms(c.open_time) >= start]
            bars += fresh
            if len(page) < PAGE_BARS or not fresh:
                return bars
            start = fresh[-1].open_time_ms + 1

    def _match(self, pending: _Pending, doc: dict[str, Any], bar: Bar, at_ms: int) -> None:
        """One bar against one order: the fill (if any) is staged with the balances."""
        side, inst = Side(doc["side"]), self._instrument(doc["symbol"])
        remaining = Decimal(doc["qty"]) - Decimal(doc["filledQty"])
        limit = None if doc["limitPrice"] is None else Decimal(doc["limitPrice"])
        work = WorkingOrder(side, OrderType(doc["type"]), remaining, limit)
        free = self._free(pending, doc)
        if side is Side.BUY:
            fill = fill_on_bar(work, bar, inst, self.config, quote_budget=free)
        else:
            fill = fill_on_bar(work, bar, inst, self.config, max_qty=free)
        if fill is None:
            if work.type is OrderType.MARKET and fill_on_bar(work, bar, inst, self.config) is not None:
                reason = "insufficient balance for the remainder"
                doc.update(status=OrderStatus.CANCELED.value, open=False, rejectReason=reason)
                doc.update(_stamp("updated", from_ms(max(at_ms, doc["createdMs"]))))
                pending.touched.add(doc["id"])
            return
        self._book_fill(pending, doc, fill, side, inst, max(at_ms, doc["createdMs"]))

    def _book_fill(
        self, pending: _Pending, doc: dict[str, Any], fill: ModelFill, side: Side, inst: Instrument, at_ms: int
    ) -> None:
        count = doc["fillCount"] + 1
        filled = Decimal(doc["filledQty"]) + fill.qty
        status = OrderStatus.FILLED if filled >= Decimal(doc["qty"]) else OrderStatus.PARTIALLY_FILLED
        doc.update(
            fillCount=count, filledQty=str(filled), status=status.value, open=status.is_open,
            notional=str(Decimal(doc["notional"]) + fill.notional), fees=str(Decimal(doc["fees"]) + fill.fee),
            reservePrice=str(fill.price) if doc["type"] == OrderType.MARKET else doc["reservePrice"],
            **_stamp("updated", from_ms(at_ms)),
        )
        d_base, d_quote = fill_cost(side, fill)
        for asset, delta in ((inst.base, d_base), (inst.quote, d_quote)):
            pending.balances[asset] = pending.balances.get(asset, Decimal(0)) + delta
        fill_id = f"fill-{doc['clientOrderId']}-{count:05d}"
        pending.ops.append(BatchOp("create", item={
            "id": fill_id, "accountId": self.account_id, "kind": "fill",
            "clientOrderId": doc["clientOrderId"], "exchangeOrderId": doc["exchangeOrderId"],
            "symbol": doc["symbol"], "side": side.value, "price": str(fill.price), "qty": str(fill.qty),
            "fee": str(fill.fee), "feeAsset": inst.quote, "liquidity": fill.liquidity,
            "barMs": fill.bar_open_ms, **_stamp("at", from_ms(at_ms)),
        }))
        pending.touched.add(doc["id"])

    def _free(self, pending: _Pending, doc: dict[str, Any]) -> Decimal:
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

    def _flush(self, pending: _Pending) -> None:
        created = {op.item["id"] for op in pending.ops if op.item is not None}
        ops = [BatchOp("replace", item=pending.orders[i], if_match=pending.orders[i]["_etag"])
               for i in sorted(pending.touched - created)]
        if not ops and not pending.ops:
            return
        account = {**pending.account, "balances": {a: str(v) for a, v in sorted(pending.balances.items())}}
        results = self._write([*ops, *pending.ops], account)
        for result in results:
            if result.get("kind") == "order":
                pending.orders[result["id"]] = result
            elif result.get("kind") == "account":
                pending.account = result
        pending.ops.clear()
        pending.touched.clear()

    # ----------------------------------------------------------------- store

    def _write(self, ops: list[BatchOp], account: dict[str, Any]) -> list[dict[str, Any]]:
        """Commit ``ops`` and the account doc (under its etag) as one batch."""
        acc_op = BatchOp("replace", item={**account, **_stamp("updated", self.clock.now())}, if_match=account["_etag"])
        try:
            return self.container.batch(self.account_id, [*ops, acc_op])
        except BatchFailed as exc:
            op = ([*ops, acc_op])[exc.index]
            if isinstance(exc.cause, Conflict) and op.kind == "create" and op.item and op.item.get("kind") == "order":
                raise AlreadySubmitted(f"client order id {op.item['clientOrderId']!r} was used before") from exc
            if isinstance(exc.cause, PreconditionFailed | Conflict | NotFound):
                raise _Retry from exc
            raise

    def _account(self) -> dict[str, Any]:
        try:
            return self.container.read(ACCOUNT_ID, self.account_id)
        except NotFound:
            pass
        doc = {"id": ACCOUNT_ID, "accountId": self.account_id, "kind": "account",
               "balances": {a: str(Decimal(v)) for a, v in sorted(self.initial_balances.items())},
               **_stamp("created", self.clock.now())}
        try:
            return self.container.create(doc)
        except Conflict:
            return self.container.read(ACCOUNT_ID, self.account_id)

    def _read(self, client_order_id: str) -> dict[str, Any] | None:
        if not _CLIENT_ID.match(client_order_id):
            return None
        try:
            return self.container.read(_order_id(client_order_id), self.account_id)
        except NotFound:
            return None

    def _query(self, where: list[Filter]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = Query(where=where, limit=500, continuation=token)
            page = self.container.query(query, partition_key=self.account_id)
            items += page.items
            if (token := page.continuation) is None:
                return items

    def _orders(self, symbol: str | None, open_only: bool) -> list[dict[str, Any]]:
        where = [Filter("kind", "=", "order")]
        if open_only:
            where.append(Filter("open", "=", True))
        if symbol is not None:
            where.append(Filter("symbol", "=", symbol))
        return sorted(self._query(where), key=lambda d: (d["createdMs"], d["id"]))

    def _instrument(self, symbol: str) -> Instrument:
        if symbol not in self._instruments:
            found = self.market.instruments([symbol])
            if not found:
                raise OrderRejected(f"unknown symbol {symbol!r}")
            self._instruments[symbol] = found[0]
        return self._instruments[symbol]

    def _interval(self, symbol: str) -> str:
        if isinstance(self.market, BarFeed):
            return self.market.interval_of(symbol)
        return self.intervals.get(symbol, "1m")

    def _fault(self, point: str) -> None:
        if self.fault is not None:
            self.fault(point)


# --------------------------------------------------------------------------- docs

def _order_id(client_order_id: str) -> str:
    return f"order-{client_order_id}"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _stamp(prefix: str, when: datetime) -> dict[str, Any]:
    ms = to_ms(when)
    return {f"{prefix}At": from_ms(ms).isoformat().replace("+00:00", "Z"), f"{prefix}Ms": ms}


def _balances(account: Mapping[str, Any]) -> dict[str, Decimal]:
    return {asset: Decimal(value) for asset, value in account["balances"].items()}


def _order(doc: Mapping[str, Any]) -> ExchangeOrder:
    filled = Decimal(doc["filledQty"])
    return ExchangeOrder(
        client_order_id=doc["clientOrderId"], exchange_order_id=doc["exchangeOrderId"], symbol=doc["symbol"],
        side=Side(doc["side"]), type=OrderType(doc["type"]), qty=Decimal(doc["qty"]),
        limit_price=None if doc["limitPrice"] is None else Decimal(doc["limitPrice"]),
        status=OrderStatus(doc["status"]), filled_qty=filled,
        # 28 digits: Python's default context, so anyone recomputing it from the fills agrees
        avg_fill_price=Context(prec=28).divide(Decimal(doc["notional"]), filled) if filled else None,
        created_at=from_ms(doc["createdMs"]), updated_at=from_ms(doc["updatedMs"]),
        reject_reason=doc.get("rejectReason"),
    )


def _fill(doc: Mapping[str, Any]) -> ExchangeFill:
    return ExchangeFill(
        exchange_fill_id=doc["id"], client_order_id=doc["clientOrderId"], exchange_order_id=doc["exchangeOrderId"],
        symbol=doc["symbol"], side=Side(doc["side"]), price=Decimal(doc["price"]), qty=Decimal(doc["qty"]),
        fee=Decimal(doc["fee"]), fee_asset=doc["feeAsset"], liquidity=doc["liquidity"], at=from_ms(doc["atMs"]),
    )



