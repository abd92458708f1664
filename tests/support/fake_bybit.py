"""A fake Bybit v5 HTTP server on 127.0.0.1, built from the fixtures in shared/fixtures/bybit.

Why a real socket and not ``httpx.MockTransport``: the faults that matter for an
exchange adapter (a dropped connection, a timeout, an order accepted but its answer
lost) happen on the wire, and concurrency must go through a real server that keeps
one order book. The server:

- verifies every private request exactly as Bybit documents it (HMAC-SHA256 over
  timestamp + key + recvWindow + raw query / raw body; recv window checked against
  its own clock) and answers Bybit's retCodes (10003 key, 10002 time, 10004 sign);
- keeps spot orders: create (a repeated ``orderLinkId`` answers 170141 "Duplicate
  clientOrderId"), realtime (open orders), cancel, history (closed orders, 7-day
  windows), executions, UNIFIED wallet balances. A market order fills at once at the
  configured price (fee 0.1%, in the coin received, as Bybit spot charges it);
  ``marketUnit`` is honoured (quote coin by default for a market buy, as on Bybit);
- answers with Bybit's rate-limit headers, and lets a test inject faults: N HTTP 5xx,
  a 10006 with reset headers, an arbitrary retCode, a dropped connection, a timeout,
  and "accept the order, then drop the connection" (``lost_response``).

Everything is guarded by one lock, so ``created_count`` is exact under concurrency.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "bybit"
SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
OPEN_STATUSES = ("New", "PartiallyFilled")
FEE_RATE = Decimal("0.001")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the first request that matches ``path``.

    kind: ``status`` (HTTP ``status`` with an HTML body), ``retcode`` (HTTP 200 with
    ``ret_code``), ``rate_limit`` (retCode 10006, or HTTP 429 when ``status`` is 429,
    with limit headers resetting at ``reset_ms``), ``drop`` (close without answering),
    ``timeout`` (sleep ``delay`` seconds, then close), ``lost_response`` (handle the
    request for real, then close without answering).
    """

    kind: str
    path: str | None = None
    status: int = 503
    ret_code: int = 0
    ret_msg: str = "injected"
    reset_ms: int | None = None
    delay: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


class BybitError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


class FakeBybit:
    def __init__(self, *, api_key: str = "fake-key", api_secret: str = "fake-secret",
                 now_ms: Callable[[], int] | None = None) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.limit_overrides: list[tuple[str, int, int]] = []  # (path, remaining, reset_ms)
        instruments = load_fixture("market_instruments-info_spot.json")["result"]["list"]
        self.instruments: dict[str, dict[str, Any]] = {row["symbol"]: row for row in instruments}
        self.klines: dict[str, list[list[str]]] = {}
        self.default_klines: list[list[str]] = load_fixture("market_kline.json")["result"]["list"]
        ticker = load_fixture("market_tickers_spot.json")["result"]["list"][0]
        self.tickers: dict[str, dict[str, Any]] = {ticker["symbol"]: ticker}
        self.prices: dict[str, Decimal] = {ticker["symbol"]: Decimal(ticker["lastPrice"])}
        self.balances: dict[str, Decimal] = {"BTC": Decimal("1"), "USDT": Decimal("100000")}
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_link: dict[str, str] = {}
        self.executions: list[dict[str, Any]] = []
        self._order_template = load_fixture("order_realtime_spot_result-only_hirokisan-testnet.json")["list"][0]
        self._exec_template = load_fixture("execution_list.json")["result"]["list"][0]
        self._wallet = load_fixture("account_wallet-balance.json")
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeBybit:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeBybit:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---------------------------------------------------------------- test controls

    @property
    def created_count(self) -> int:
        with self._lock:
            return len(self.orders)

    def count(self, path: str, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    def inject(self, kind: str, *, times: int = 1, **options: Any) -> None:
        with self._lock:
            self.faults.extend(Fault(kind, **options) for _ in range(times))

    def set_limit(self, path: str, *, remaining: int, reset_ms: int) -> None:
        """The next answer for ``path`` carries these rate-limit headers."""
        with self._lock:
            self.limit_overrides.append((path, remaining, reset_ms))

    def set_price(self, symbol: str, price: str) -> None:
        with self._lock:
            self.prices[symbol] = Decimal(price)
            if symbol in self.tickers:
                self.tickers[symbol]["lastPrice"] = price

    def fill(self, order_link_id: str, qty: str, price: str | None = None) -> None:
        """Fill (part of) a resting order, as the matching engine would."""
        with self._lock:
            order = self.orders[self.by_link[order_link_id]]
            self._execute(order, Decimal(qty), Decimal(price or order["price"]), is_maker=True)

    # ---------------------------------------------------------------- dispatch

    def handle(self, method: str, path: str, query: dict[str, str], raw_query: str, raw_body: bytes,
               headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = json.loads(raw_body) if raw_body else None
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "/v5/market/instruments-info"): self._instruments,
            ("GET", "/v5/market/kline"): self._kline,
            ("GET", "/v5/market/tickers"): self._tickers,
            ("GET", "/v5/order/realtime"): self._realtime,
            ("GET", "/v5/order/history"): self._history,
            ("GET", "/v5/execution/list"): self._execution_list,
            ("GET", "/v5/account/wallet-balance"): self._wallet_balance,
            ("POST", "/v5/order/create"): self._create,
            ("POST", "/v5/order/cancel"): self._cancel,
        }
        route = routes.get((method, path))
        if route is None:
            return 404, {}
        try:
            if not path.startswith("/v5/market/"):
                self._authenticate(headers, raw_query if method == "GET" else raw_body.decode())
            with self._lock:
                result = route((body or {}) if method == "POST" else query)
        except BybitError as err:
            return 200, self._envelope(err.code, err.msg, {})
        return 200, self._envelope(0, "OK", result)

    def record(self, method: str, path: str, query: dict[str, str], raw_body: bytes, headers: dict[str, str]) -> None:
        body = json.loads(raw_body) if raw_body else None
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body, headers))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.path in (None, path):
                    return self.faults.pop(i)
        return None

    def limit_headers(self, path: str) -> dict[str, str]:
        remaining, reset = 19, self.now_ms()  # Bybit: reset is "just the current timestamp" when not exceeded
        with self._lock:
            for i, (p, rem, rst) in enumerate(self.limit_overrides):
                if p == path:
                    remaining, reset = rem, rst
                    del self.limit_overrides[i]
                    break
        return {"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": str(remaining), "X-Bapi-Limit-Reset-Timestamp": str(reset)}

    def _envelope(self, code: int, msg: str, result: Any) -> dict[str, Any]:
        return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": self.now_ms()}

    def _authenticate(self, headers: dict[str, str], payload: str) -> None:
        key, ts = headers.get("x-bapi-api-key"), headers.get("x-bapi-timestamp", "")
        recv, signature = headers.get("x-bapi-recv-window", "5000"), headers.get("x-bapi-sign", "")
        if key != self.api_key:
            raise BybitError(10003, "API key is invalid.")
        now = self.now_ms()
        if not ts.isdigit() or not (now - int(recv) <= int(ts) < now + 1000):
            raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param")
        expected = hmac.new(self.api_secret.encode(), f"{ts}{key}{recv}{payload}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BybitError(10004, "error sign! origin_string[...]")

    # ---------------------------------------------------------------- market

    def _instruments(self, q: dict[str, Any]) -> dict[str, Any]:
        rows = [r for s, r in self.instruments.items() if q.get("symbol") in (None, s)]
        return {"category": "spot", "list": copy.deepcopy(rows), "nextPageCursor": ""}

    def _kline(self, q: dict[str, Any]) -> dict[str, Any]:
        rows = sorted(self.klines.get(q["symbol"], self.default_klines), key=lambda r: -int(r[0]))
        start, end = int(q.get("start", 0)), int(q.get("end", 2**62))
        rows = [r for r in rows if start <= int(r[0]) <= end][: int(q.get("limit", 200))]
        return {"symbol": q["symbol"], "category": "spot", "list": copy.deepcopy(rows)}

    def _tickers(self, q: dict[str, Any]) -> dict[str, Any]:
        rows = [r for s, r in self.tickers.items() if q.get("symbol") in (None, s)]
        return {"category": "spot", "list": copy.deepcopy(rows)}

    # ---------------------------------------------------------------- orders

    def _create(self, b: dict[str, Any]) -> dict[str, Any]:
        link = str(b.get("orderLinkId") or "")
        if link and link in self.by_link:
            raise BybitError(170141, "Duplicate clientOrderId.")
        inst = self.instruments.get(b.get("symbol", ""))
        if b.get("category") != "spot" or inst is None:
            raise BybitError(170121, "Invalid symbol.")
        if b.get("side") not in ("Buy", "Sell") or b.get("orderType") not in ("Market", "Limit"):
            raise BybitError(10001, "Request parameter error.")
        qty, market = Decimal(str(b.get("qty", "0"))), b["orderType"] == "Market"
        price = self.prices[inst["symbol"]] if market else Decimal(str(b.get("price", "0")))
        if market and b["side"] == "Buy" and b.get("marketUnit", "quoteCoin") == "quoteCoin":
            qty = (qty / price).quantize(Decimal(inst["lotSizeFilter"]["basePrecision"]))
        if qty <= 0 or price <= 0:
            raise BybitError(10001, "Request parameter error.")
        if qty < Decimal(inst["lotSizeFilter"]["minOrderQty"]):
            raise BybitError(170136, "Order quantity is lower than the minimum.")
        if qty % Decimal(inst["lotSizeFilter"]["basePrecision"]) != 0:
            raise BybitError(170137, "Order volume decimal too long.")
        pay, need = (inst["quoteCoin"], qty * price) if b["side"] == "Buy" else (inst["baseCoin"], qty)
        if self.balances.get(pay, Decimal(0)) < need:
            raise BybitError(170131, "Insufficient balance.")
        self._seq += 1
        order_id, now = str(1321003749386327552 + self._seq), str(self.now_ms())
        order = copy.deepcopy(self._order_template)
        order.update(
            symbol=inst["symbol"], orderType=b["orderType"], orderLinkId=link or order_id, orderId=order_id,
            side=b["side"], qty=str(qty), price="0" if market else str(price), orderStatus="New",
            avgPrice="0", cumExecQty="0", cumExecValue="0", cumExecFee="0", leavesQty=str(qty),
            leavesValue=str(qty * price), timeInForce=b.get("timeInForce", "GTC"), createdTime=now, updatedTime=now,
            rejectReason="EC_NoError",
        )
        self.orders[order_id] = order
        self.by_link[order["orderLinkId"]] = order_id
        if market:
            self._execute(order, qty, price, is_maker=False)
        return {"orderId": order_id, "orderLinkId": order["orderLinkId"]}

    def _execute(self, order: dict[str, Any], qty: Decimal, price: Decimal, *, is_maker: bool) -> None:
        base, quote = (self.instruments[order["symbol"]][k] for k in ("baseCoin", "quoteCoin"))
        gets, gives, got, given = (base, quote, qty, qty * price) if order["side"] == "Buy" else (
            quote, base, qty * price, qty)
        fee = got * FEE_RATE
        self.balances[gives] = self.balances.get(gives, Decimal(0)) - given
        self.balances[gets] = self.balances.get(gets, Decimal(0)) + got - fee
        filled = Decimal(order["cumExecQty"]) + qty
        value = Decimal(order["cumExecValue"]) + qty * price
        leaves = Decimal(order["qty"]) - filled
        self._seq += 1
        now = str(self.now_ms())
        order.update(cumExecQty=str(filled), cumExecValue=str(value), avgPrice=str(value / filled),
                     cumExecFee=str(Decimal(order["cumExecFee"]) + fee), leavesQty=str(leaves),
                     orderStatus="Filled" if leaves == 0 else "PartiallyFilled", updatedTime=now)
        execution = copy.deepcopy(self._exec_template)
        execution.update(
            symbol=order["symbol"], orderType=order["orderType"], orderLinkId=order["orderLinkId"],
            side=order["side"], orderId=order["orderId"], execTime=now, feeCurrency=gets, isMaker=is_maker,
            execFee=str(fee), feeRate=str(FEE_RATE), execId=f"exec-{self._seq:08d}", execPrice=str(price),
            orderQty=order["qty"], orderPrice=order["price"], execValue=str(qty * price), execType="Trade",
            execQty=str(qty), leavesQty=str(leaves), seq=self._seq, markPrice=str(price),
        )
        self.executions.append(execution)

    def _find(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [o for o in self.orders.values()
                if q.get("symbol") in (None, o["symbol"]) and q.get("orderLinkId") in (None, o["orderLinkId"])
                and q.get("orderId") in (None, o["orderId"])]
        return sorted(rows, key=lambda o: (-int(o["createdTime"]), o["orderId"]))

    def _realtime(self, q: dict[str, Any]) -> dict[str, Any]:
        rows = [o for o in self._find(q) if o["orderStatus"] in OPEN_STATUSES]  # openOnly=0: open orders only
        return self._page(rows, q, 20)

    def _history(self, q: dict[str, Any]) -> dict[str, Any]:
        rows = [o for o in self._find(q) if o["orderStatus"] not in OPEN_STATUSES]
        if "orderLinkId" not in q and "orderId" not in q:
            lo, hi = self._window(q)
            rows = [o for o in rows if lo <= int(o["createdTime"]) <= hi]
        return self._page(rows, q, 20)

    def _execution_list(self, q: dict[str, Any]) -> dict[str, Any]:
        lo, hi = self._window(q)
        rows = [e for e in reversed(self.executions) if q.get("symbol") in (None, e["symbol"])
                and q.get("orderLinkId") in (None, e["orderLinkId"]) and lo <= int(e["execTime"]) <= hi]
        return self._page(rows, q, 50)

    def _window(self, q: dict[str, Any]) -> tuple[int, int]:
        """Bybit: at most 7 days; one bound implies the other; none means the last 7 days."""
        start, end = q.get("startTime"), q.get("endTime")
        if start is not None:
            lo = int(start)
            hi = int(end) if end is not None else lo + SEVEN_DAYS_MS
        elif end is not None:
            hi = int(end)
            lo = hi - SEVEN_DAYS_MS
        else:
            return self.now_ms() - SEVEN_DAYS_MS, self.now_ms()
        if hi - lo > SEVEN_DAYS_MS or hi < lo:
            raise BybitError(10001, "The time range cannot exceed 7 days.")
        return lo, hi

    def _page(self, rows: list[dict[str, Any]], q: dict[str, Any], default_limit: int) -> dict[str, Any]:
        offset, limit = int(q.get("cursor") or 0), int(q.get("limit", default_limit))
        cursor = str(offset + limit) if offset + limit < len(rows) else ""
        return {"category": "spot", "list": copy.deepcopy(rows[offset:offset + limit]), "nextPageCursor": cursor}

    def _cancel(self, b: dict[str, Any]) -> dict[str, Any]:
        found = self._find({k: b.get(k) for k in ("symbol", "orderLinkId", "orderId")})
        if not found or found[0]["orderStatus"] not in OPEN_STATUSES:
            raise BybitError(170213, "Order does not exist.")
        order = found[0]
        order.update(orderStatus="PartiallyFilledCanceled" if Decimal(order["cumExecQty"]) > 0 else "Cancelled",
                     updatedTime=str(self.now_ms()), leavesQty="0", leavesValue="0")
        return {"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]}

    def _wallet_balance(self, q: dict[str, Any]) -> dict[str, Any]:
        if q.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        account = copy.deepcopy(self._wallet["result"]["list"][0])
        template = account["coin"][0]
        account["coin"] = [{**template, "coin": c, "walletBalance": str(v), "equity": str(v)}
                           for c, v in sorted(self.balances.items())]
        return {"list": [account]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK stalls
    server_state: FakeBybit

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.server_state
        parts = urlsplit(self.path)
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        fake.record(method, parts.path, query, raw_body, headers)
        fault = fake.take_fault(parts.path)
        if fault is not None and fault.kind in ("drop", "timeout"):
            time.sleep(fault.delay)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            self._send(fault.status, f"<html>{fault.status}</html>".encode(), "text/html",
                       self._limit_headers(parts.path, fault))
            return
        if fault is not None and fault.kind in ("retcode", "rate_limit"):
            if fault.kind == "rate_limit":
                fault.ret_code, fault.ret_msg = 10006, "Too many visits!"
            status = 429 if fault.status == 429 else 200
            payload = {"retCode": fault.ret_code, "retMsg": fault.ret_msg, "result": {}, "retExtInfo": {},
                       "time": fake.now_ms()}
            self._send(status, json.dumps(payload).encode(), "application/json", self._limit_headers(parts.path, fault))
            return
        status, payload = fake.handle(method, parts.path, query, parts.query, raw_body, headers)
        if fault is not None and fault.kind == "lost_response":
            self.close_connection = True  # the order exists now; its answer never arrives
            return
        self._send(status, json.dumps(payload).encode(), "application/json", fake.limit_headers(parts.path))

    def _limit_headers(self, path: str, fault: Fault) -> dict[str, str]:
        if fault.reset_ms is None:
            return self.server_state.limit_headers(path)
        return {"X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(fault.reset_ms)}

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
