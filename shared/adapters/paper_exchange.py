"""The paper exchange: the ``Exchange`` port over the store, with the shared fill model.

Why in the store: function invocations run in many processes and restart at any time,
so the book (orders, fills, balances) lives in the ``paper`` container, one partition
per account, and every write is one transactional batch there.

Concurrency rule: every write to the book also replaces the account doc (``account``)
under its etag. That doc is the partition's sequencer. Two writers that read the same
state cannot both commit: the loser gets ``PreconditionFailed``, re-reads and retries.
It also means that while the account doc's etag is unchanged the open orders are too,
so they are remembered per etag instead of queried on every call.
Idempotency: the order doc's id is derived from the client order id and is *created*.
A second submit of the same id conflicts and raises ``AlreadySubmitted``. So 100
redeliveries of one intent make exactly one order.

Matching: a market order fills at once against the bar forming now (its reference bar).
Resting limit orders and partial remainders are matched lazily. Every call first
replays the bars closed since each open order's cursor (``nextBarMs``), bar by bar in
time order, so the same candles and orders give the same fills, whenever it runs. A
lazy fill is stamped with its bar's close time, the moment the fill became knowable.

No network calls: a caller that shares the store (``book_store``) may run this inside its
unit of work, and the book's writes then commit with the caller's (``execution``).
Document shapes and order filters live in ``paper_book``.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Context, Decimal, localcontext
from typing import Any, Concatenate, ParamSpec, TypeVar

from shared.adapters.paper_book import (
    CLIENT_ID,
    OPEN_STATUSES,
    BarFeed,
    Pending,
    balances_of,
    by_age,
    check_request,
    fill_id,
    free_balance,
    order_id,
    stamp,
    text,
    to_fill,
    to_order,
)
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
_MONEY = Context(prec=40)  # localcontext() installs a copy: sharing the template is safe


class _Retry(Exception):
    """The book changed under us: re-read and try again."""


def _port_call(method: Callable[Concatenate[PaperExchange, _P], _R]) -> Callable[Concatenate[PaperExchange, _P], _R]:
    """Every port call: fault hook, then lazy matching, then the call; store and feed
    failures become ``ExchangeUnavailable`` (the port promises only ``ExchangeError``s),
    and money math runs in a fixed decimal context, never the caller's."""

    faulted = method.__name__ in ("submit", "cancel")  # decided once, not on every call

    @functools.wraps(method)
    def call(self: PaperExchange, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            with localcontext(_MONEY):
                if faulted:
                    self._fault(method.__name__)
                self._sync()
                return method(self, *args, **kwargs)
        except (StoreError, MarketDataError) as exc:
            raise ExchangeUnavailable(f"paper exchange: {exc}") from exc
        finally:
            self._synced.account = None

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
        #: the store holding the book: callers that share it may run us inside their
        #: unit of work (no network calls here, and our writes commit with theirs)
        self.book_store = store
        self.market = market
        # checked once: isinstance against a runtime-checkable protocol probes every member
        self._feed: BarFeed | None = market if isinstance(market, BarFeed) else None
        self.clock = clock
        self.account_id = account_id
        self.config = fill_config or FillModelConfig()
        self.initial_balances = dict(DEFAULT_BALANCES if initial_balances is None else initial_balances)
        self.intervals = dict(intervals or {})
        self.fault = fault
        self._instruments: dict[str, Instrument] = {}
        # (account etag, open order docs at that etag): every book write replaces the
        # account doc, so while its etag is unchanged so is the set of open orders, and
        # the partition need not be queried again (etags are never reused)
        self._open_memo: tuple[str, list[dict[str, Any]]] | None = None
        # the account doc this thread's port call read while syncing (when the sync wrote
        # nothing, it is still current): the call's first read of the account takes it
        self._synced = threading.local()

    # ----------------------------------------------------------------- port

    @_port_call
    def submit(self, request: OrderRequest) -> ExchangeOrder:
        inst = self._validate(request)
        if self._read(request.client_order_id) is not None:
            raise AlreadySubmitted(f"client order id {request.client_order_id!r} was used before")
        doc = self._commit_new(request, inst)
        self._fault("submit.accepted")
        return to_order(doc)

    @_port_call
    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        doc = self._read(client_order_id)
        return to_order(doc) if doc is not None and doc["symbol"] == symbol else None

    @_port_call
    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        """Idempotent for an order already canceled; a finished order cannot be canceled."""
        for _ in range(MAX_ATTEMPTS):
            doc = self._read(client_order_id)
            if doc is None or doc["symbol"] != symbol:
                raise UnknownOrder(f"no order {client_order_id!r} on {symbol}")
            if doc["status"] == OrderStatus.CANCELED:
                return to_order(doc)
            if not doc["open"]:
                raise OrderRejected(f"order {client_order_id!r} is {doc['status']} and cannot be canceled")
            doc.update(status=OrderStatus.CANCELED.value, open=False, **stamp("updated", self.clock.now()))
            try:
                self._write([BatchOp("replace", item=doc, if_match=doc["_etag"])], self._account())
            except _Retry:
                continue
            self._fault("cancel.accepted")
            return to_order(doc)
        raise ExchangeUnavailable("the paper book stayed busy; try again")

    @_port_call
    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        return [to_order(d) for d in self._orders(symbol, open_only=True)]

    @_port_call
    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        """Every order (open or not), oldest first; ``since`` bounds the creation time."""
        low = None if since is None else to_ms(since)
        return [to_order(d) for d in self._orders(symbol, open_only=False) if low is None or d["createdMs"] >= low]

    @_port_call
    def executions(
        self, symbol: str | None = None, since: datetime | None = None, *, client_order_id: str | None = None
    ) -> list[ExchangeFill]:
        low = None if since is None else to_ms(since)
        docs = self._fills_of(client_order_id) if client_order_id is not None else None
        if docs is None:
            where = [Filter("kind", "=", "fill")]
            if client_order_id is not None:
                where.append(Filter("clientOrderId", "=", client_order_id))
            if symbol is not None:
                where.append(Filter("symbol", "=", symbol))
            if low is not None:
                where.append(Filter("atMs", ">=", low))
            docs = self._query(where)
        docs = [d for d in docs if (symbol is None or d["symbol"] == symbol) and (low is None or d["atMs"] >= low)]
        return [to_fill(d) for d in sorted(docs, key=lambda d: (d["atMs"], d["id"]))]

    def _fills_of(self, client_order_id: str) -> list[dict[str, Any]] | None:
        """An order's fills by point reads (their ids count up with the order's
        ``fillCount``); None when there are many, for one query instead."""
        order = self._read(client_order_id)
        if order is None:
            return []
        if order["fillCount"] > 8:
            return None
        fills = []
        for n in range(1, order["fillCount"] + 1):
            try:
                fills.append(self.container.read(fill_id(client_order_id, n), self.account_id))
            except NotFound:
                continue
        return fills

    @_port_call
    def balances(self) -> dict[str, Decimal]:
        return balances_of(self._account())

    # ----------------------------------------------------------------- submit

    def _validate(self, request: OrderRequest) -> Instrument:
        if not CLIENT_ID.match(request.client_order_id):
            raise OrderRejected("client order id must be 1-64 characters of letters, digits, _ . : -")
        return check_request(request, self._instrument(request.symbol))

    def _commit_new(self, request: OrderRequest, inst: Instrument) -> dict[str, Any]:
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            now_ms = to_ms(now)
            account = self._account()
            pending = Pending(account, balances_of(account), self._open_docs(account), [], set())
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
                "id": order_id(cid), "accountId": self.account_id, "kind": "order", "clientOrderId": cid,
                # deterministic, so a rebuilt book (or a replayed test) names orders the same way
                "exchangeOrderId": "P" + hashlib.sha256(f"{self.account_id}:{cid}".encode()).hexdigest()[:24],
                "symbol": request.symbol, "base": inst.base, "quote": inst.quote, "side": request.side.value,
                "type": request.type.value, "qty": str(request.qty), "limitPrice": text(request.limit_price),
                "status": OrderStatus.NEW.value, "open": True, "filledQty": "0", "notional": "0", "fees": "0",
                "fillCount": 0, "reservePrice": str(estimate), "reserveFeeRate": str(rate),
                "nextBarMs": now_ms if ref is None else ref.open_time_ms + 1,
                **stamp("created", now), **stamp("updated", now),
            }
            free = free_balance(pending, doc)
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
        if self._feed is not None:
            return self._feed.forming_bar(symbol)
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
            orders = self._open_docs(account)
            events: list[tuple[int, int, str, Bar]] = []
            for doc in orders.values():
                events += [(b.open_time_ms, doc["createdMs"], doc["id"], b) for b in self._bars(doc)]
            if not events:
                self._synced.account = account
                return
            events.sort(key=lambda e: e[:3])
            pending = Pending(account, balances_of(account), orders, [], set())
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

    def _match(self, pending: Pending, doc: dict[str, Any], bar: Bar, at_ms: int) -> None:
        """One bar against one order: the fill (if any) is staged with the balances."""
        side, inst = Side(doc["side"]), self._instrument(doc["symbol"])
        remaining = Decimal(doc["qty"]) - Decimal(doc["filledQty"])
        limit = None if doc["limitPrice"] is None else Decimal(doc["limitPrice"])
        work = WorkingOrder(side, OrderType(doc["type"]), remaining, limit)
        free = free_balance(pending, doc)
        if side is Side.BUY:
            fill = fill_on_bar(work, bar, inst, self.config, quote_budget=free)
        else:
            fill = fill_on_bar(work, bar, inst, self.config, max_qty=free)
        if fill is None:
            if work.type is OrderType.MARKET and fill_on_bar(work, bar, inst, self.config) is not None:
                reason = "insufficient balance for the remainder"
                doc.update(status=OrderStatus.CANCELED.value, open=False, rejectReason=reason)
                doc.update(stamp("updated", from_ms(max(at_ms, doc["createdMs"]))))
                pending.touched.add(doc["id"])
            return
        self._book_fill(pending, doc, fill, side, inst, max(at_ms, doc["createdMs"]))

    def _book_fill(
        self, pending: Pending, doc: dict[str, Any], fill: ModelFill, side: Side, inst: Instrument, at_ms: int
    ) -> None:
        count = doc["fillCount"] + 1
        filled = Decimal(doc["filledQty"]) + fill.qty
        status = OrderStatus.FILLED if filled >= Decimal(doc["qty"]) else OrderStatus.PARTIALLY_FILLED
        doc.update(
            fillCount=count, filledQty=str(filled), status=status.value, open=status.is_open,
            notional=str(Decimal(doc["notional"]) + fill.notional), fees=str(Decimal(doc["fees"]) + fill.fee),
            reservePrice=str(fill.price) if doc["type"] == OrderType.MARKET else doc["reservePrice"],
            **stamp("updated", from_ms(at_ms)),
        )
        d_base, d_quote = fill_cost(side, fill)
        for asset, delta in ((inst.base, d_base), (inst.quote, d_quote)):
            pending.balances[asset] = pending.balances.get(asset, Decimal(0)) + delta
        # an upsert, not a create: no existence check (a point read each). The id is the
        # order's next fill count, read under the account doc's etag, which this batch
        # replaces: while it holds, no fill with that id can exist (the sequencer rule)
        pending.ops.append(BatchOp("upsert", item={
            "id": fill_id(doc["clientOrderId"], count), "accountId": self.account_id, "kind": "fill",
            "clientOrderId": doc["clientOrderId"], "exchangeOrderId": doc["exchangeOrderId"],
            "symbol": doc["symbol"], "side": side.value, "price": str(fill.price), "qty": str(fill.qty),
            "fee": str(fill.fee), "feeAsset": inst.quote, "liquidity": fill.liquidity,
            "barMs": fill.bar_open_ms, **stamp("at", from_ms(at_ms)),
        }))
        pending.touched.add(doc["id"])

    def _flush(self, pending: Pending) -> None:
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
        # the book as this write left it: the open orders among all we know
        still_open = [d for d in pending.orders.values() if d["open"]]
        self._open_memo = (pending.account["_etag"], [dict(d) for d in by_age(still_open)])

    # ----------------------------------------------------------------- store

    def _write(self, ops: list[BatchOp], account: dict[str, Any]) -> list[dict[str, Any]]:
        """Commit ``ops`` and the account doc (under its etag) as one batch."""
        acc_op = BatchOp("replace", item={**account, **stamp("updated", self.clock.now())}, if_match=account["_etag"])
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
        synced: dict[str, Any] | None = getattr(self._synced, "account", None)
        if synced is not None:
            self._synced.account = None
            return synced
        try:
            return self.container.read(ACCOUNT_ID, self.account_id)
        except NotFound:
            pass
        doc = {"id": ACCOUNT_ID, "accountId": self.account_id, "kind": "account",
               "balances": {a: str(Decimal(v)) for a, v in sorted(self.initial_balances.items())},
               **stamp("created", self.clock.now())}
        try:
            return self.container.create(doc)
        except Conflict:
            return self.container.read(ACCOUNT_ID, self.account_id)

    def _read(self, client_order_id: str) -> dict[str, Any] | None:
        if not CLIENT_ID.match(client_order_id):
            return None
        try:
            return self.container.read(order_id(client_order_id), self.account_id)
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
        if open_only:  # status as well as the flag: status is what the store indexes
            where += [Filter("open", "=", True), Filter("status", "in", OPEN_STATUSES)]
        if symbol is not None:
            where.append(Filter("symbol", "=", symbol))
        return by_age(self._query(where))

    def _open_docs(self, account: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The open orders (by id, oldest first) at ``account``'s version of the book."""
        memo = self._open_memo
        if memo is not None and memo[0] == account["_etag"]:
            return {d["id"]: dict(d) for d in memo[1]}
        docs = self._orders(None, True)
        self._open_memo = (account["_etag"], [dict(d) for d in docs])
        return {d["id"]: d for d in docs}

    def _instrument(self, symbol: str) -> Instrument:
        if symbol not in self._instruments:
            found = self.market.instruments([symbol])
            if not found:
                raise OrderRejected(f"unknown symbol {symbol!r}")
            self._instruments[symbol] = found[0]
        return self._instruments[symbol]

    def _interval(self, symbol: str) -> str:
        if self._feed is not None:
            return self._feed.interval_of(symbol)
        return self.intervals.get(symbol, "1m")

    def _fault(self, point: str) -> None:
        if self.fault is not None:
            self.fault(point)
