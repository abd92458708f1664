"""Bybit v5 spot adapters against the fake Bybit server (tests/support/fake_bybit.py).

The fake serves the real doc fixtures, verifies every signature and keeps one order
book, so these tests cover parsing, the retCode table, retries, rate limits, the
circuit breaker and idempotent submission over a real socket. Nothing really sleeps:
the client's ``sleep`` is a recorder that advances the shared ManualClock.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.adapters.bybit import RET_CODES, BybitExchange, BybitHttpClient, BybitMarketData, CircuitBreaker
from shared.adapters.bybit.http import RetryPolicy
from shared.adapters.clock import ManualClock
from shared.domain.trading import OrderStatus, OrderType, Side
from shared.ports import (
    AlreadySubmitted,
    Exchange,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientBalance,
    MarketData,
    MarketDataError,
    OrderRejected,
    OrderRequest,
    RateLimited,
    UnknownOrder,
)
from tests.support.fake_bybit import FakeBybit

KEY, SECRET = "fake-key-7Hq2", "fake-secret-Zr9vK4mWp1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CREATE = "/v5/order/create"


class Sleeper:
    """The injected sleep: records the wait and moves the clock instead of blocking."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def fake(clock):
    with FakeBybit(api_key=KEY, api_secret=SECRET, now_ms=lambda: int(clock.now().timestamp() * 1000)) as server:
        yield server


@pytest.fixture
def sleeper(clock):
    return Sleeper(clock)


@pytest.fixture
def make_client(fake, clock, sleeper):
    clients: list[BybitHttpClient] = []

    def make(**overrides):
        options = {"base_url": fake.base_url, "api_key": KEY, "api_secret": SECRET, "clock": clock,
                   "sleep": sleeper, "rng": lambda: 0.5, "timeout_seconds": 5.0,
                   "breaker": CircuitBreaker(failure_threshold=10, cooldown_seconds=30, clock=clock)}
        options.update(overrides)
        client = BybitHttpClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def exchange(make_client, clock):
    return BybitExchange(make_client(), clock=clock)


@pytest.fixture
def market(make_client, clock):
    return BybitMarketData(make_client(), clock=clock)


def market_buy(cid="intent-1", qty="0.01"):
    return OrderRequest(client_order_id=cid, symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, qty=Decimal(qty))


def limit_buy(cid="limit-1", qty="0.01", price="20000"):
    return OrderRequest(client_order_id=cid, symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT,
                        qty=Decimal(qty), limit_price=Decimal(price))


def test_adapters_satisfy_the_ports(exchange, market):
    assert isinstance(exchange, Exchange) and isinstance(market, MarketData)


# --------------------------------------------------------------------------- market data


def test_instruments_filters_are_exact_decimals(market):
    [btc] = market.instruments(["BTCUSDT"])
    assert (btc.symbol, btc.base, btc.quote, btc.status, btc.exchange) == ("BTCUSDT", "BTC", "USDT", "trading", "bybit")
    assert btc.tick_size == Decimal("0.1") and isinstance(btc.tick_size, Decimal)
    assert str(btc.lot_size) == "0.000001" and str(btc.min_qty) == "0.000011"
    assert btc.max_qty == Decimal("83") and btc.min_notional == Decimal("5")


def test_instruments_several_symbols_one_call_unknown_left_out(market, fake):
    eth = {**fake.instruments["BTCUSDT"], "symbol": "ETHUSDT", "baseCoin": "ETH", "status": "PreLaunch"}
    fake.instruments["ETHUSDT"] = eth
    found = market.instruments(["ETHUSDT", "NOPEUSDT", "BTCUSDT"])
    assert [i.symbol for i in found] == ["ETHUSDT", "BTCUSDT"]
    assert found[0].status == "halted"
    assert fake.count("/v5/market/instruments-info") == 1
    assert {i.symbol for i in market.instruments()} == {"BTCUSDT", "ETHUSDT"}


def test_kline_oldest_first_and_the_open_candle_dropped(market, fake, clock):
    clock.set(datetime.fromtimestamp(1670608800, tz=UTC) + timedelta(minutes=30))  # newest 1h bar still open
    candles = market.candles("BTCUSDT", "1h", limit=2)
    assert [c.open_time for c in candles] == [datetime.fromtimestamp(t, tz=UTC) for t in (1670601600, 1670605200)]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (17086.5, 17088, 16978, 17071.5, 6356)
    sent = fake.requests[-1].query
    # one bar more than asked for, to make up for the open one
    assert sent["interval"] == "60" and sent["category"] == "spot" and sent["limit"] == "3"


def test_kline_with_end_keeps_every_closed_candle(market, fake, clock):
    clock.set(datetime(2023, 1, 1, tzinfo=UTC))
    end = datetime.fromtimestamp(1670608800, tz=UTC)
    candles = market.candles("BTCUSDT", "1h", start=end - timedelta(hours=2), end=end)
    assert [c.open_time.timestamp() for c in candles] == [1670601600, 1670605200, 1670608800]
    assert fake.requests[-1].query["end"] == "1670608800000"


def test_kline_unknown_interval_and_bad_rows_are_market_data_errors(market, fake):
    with pytest.raises(MarketDataError):
        market.candles("BTCUSDT", "7m")
    fake.klines["BADUSDT"] = [["1670601600000", "10", "9", "8", "10", "1", "1"]]  # high < open
    with pytest.raises(MarketDataError):
        market.candles("BADUSDT", "1h", end=datetime(2022, 12, 10, tzinfo=UTC))


def test_tickers(market, clock):
    [ticker] = market.tickers(["BTCUSDT"])
    assert ticker.last_price == Decimal("20533.13")
    assert ticker.change_24h_pct == pytest.approx(0.68)
    assert ticker.volume_24h == pytest.approx(11801.27771)
    assert ticker.at == clock.now()


def test_market_failures_become_market_data_error(market, fake):
    fake.inject("retcode", ret_code=10001, ret_msg="params error")
    with pytest.raises(MarketDataError, match="10001"):
        market.tickers(["BTCUSDT"])
    fake.inject("status", status=502, times=10)
    with pytest.raises(MarketDataError, match="502"):
        market.instruments()


# --------------------------------------------------------------------------- trading


def test_market_order_in_base_coin_fills_at_once(exchange, fake):
    fake.set_price("BTCUSDT", "30000")
    order = exchange.submit(market_buy(qty="0.01"))
    body = next(r.body for r in fake.requests if r.path == CREATE)
    assert body["marketUnit"] == "baseCoin" and body["qty"] == "0.01" and body["orderLinkId"] == "intent-1"
    assert order.status is OrderStatus.FILLED and order.filled_qty == Decimal("0.01")
    assert order.avg_fill_price == Decimal("30000") and order.limit_price is None
    assert order.client_order_id == "intent-1" and order.type is OrderType.MARKET
    [fill] = exchange.executions("BTCUSDT")
    assert (fill.client_order_id, fill.price, fill.qty) == ("intent-1", Decimal(30000), Decimal("0.01"))
    assert fill.liquidity == "taker" and fill.exchange_order_id == order.exchange_order_id
    assert fill.fee == Decimal("0.00001") and fill.fee_asset == "BTC"
    balances = exchange.balances()
    assert balances["BTC"] == Decimal("1.00999") and balances["USDT"] == Decimal("99700")


def test_limit_order_open_cancel_and_history(exchange, fake, clock):
    placed = exchange.submit(limit_buy(price="20000.5"))
    assert placed.status is OrderStatus.NEW and placed.limit_price == Decimal("20000.5")
    assert next(r.body for r in fake.requests if r.path == CREATE)["price"] == "20000.5"
    assert [o.client_order_id for o in exchange.open_orders("BTCUSDT")] == ["limit-1"]
    clock.advance(5)
    canceled = exchange.cancel("BTCUSDT", "limit-1")
    assert canceled.status is OrderStatus.CANCELED and canceled.updated_at == clock.now()
    assert exchange.open_orders() == []
    assert [o.client_order_id for o in exchange.order_history("BTCUSDT")] == ["limit-1"]
    again = exchange.cancel("BTCUSDT", "limit-1")  # idempotent: already cancelled -> its state
    assert again.status is OrderStatus.CANCELED
    with pytest.raises(UnknownOrder):
        exchange.cancel("BTCUSDT", "never-placed")
    exchange.submit(market_buy("filled-1"))
    with pytest.raises(OrderRejected, match="filled"):  # as the paper exchange: too late to cancel
        exchange.cancel("BTCUSDT", "filled-1")
    assert exchange.get_order("BTCUSDT", "never-placed") is None


def test_partial_fill_then_cancel(exchange, fake):
    exchange.submit(limit_buy(qty="0.02"))
    fake.fill("limit-1", "0.005")
    partial = exchange.get_order("BTCUSDT", "limit-1")
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.filled_qty == Decimal("0.005")
    done = exchange.cancel("BTCUSDT", "limit-1")
    assert done.status is OrderStatus.CANCELED and done.filled_qty == Decimal("0.005")
    assert fake.orders[done.exchange_order_id]["orderStatus"] == "PartiallyFilledCanceled"
    assert exchange.executions()[0].liquidity == "maker"


@pytest.mark.parametrize(("bybit", "ours"), [
    ("New", OrderStatus.NEW), ("PartiallyFilled", OrderStatus.PARTIALLY_FILLED), ("Filled", OrderStatus.FILLED),
    ("Cancelled", OrderStatus.CANCELED), ("PartiallyFilledCanceled", OrderStatus.CANCELED),
    ("Rejected", OrderStatus.REJECTED), ("Deactivated", OrderStatus.CANCELED), ("Untriggered", OrderStatus.NEW),
    ("Triggered", OrderStatus.NEW), ("Created", OrderStatus.NEW),
])
def test_order_status_table(exchange, fake, bybit, ours):
    placed = exchange.submit(limit_buy())
    fake.orders[placed.exchange_order_id]["orderStatus"] = bybit
    assert exchange.get_order("BTCUSDT", "limit-1").status is ours


def test_unknown_order_status_is_an_error_not_a_guess(exchange, fake):
    placed = exchange.submit(limit_buy())
    fake.orders[placed.exchange_order_id]["orderStatus"] = "Mystery"
    with pytest.raises(ExchangeError, match="Mystery"):
        exchange.get_order("BTCUSDT", "limit-1")


def test_history_and_executions_walk_seven_day_windows(exchange, fake, clock):
    exchange.submit(market_buy("old"))
    clock.advance(timedelta(days=10))
    exchange.submit(market_buy("new"))
    assert [o.client_order_id for o in exchange.order_history()] == ["new"]  # Bybit default: last 7 days
    since = T0 - timedelta(hours=1)
    assert [o.client_order_id for o in exchange.order_history("BTCUSDT", since=since)] == ["old", "new"]
    assert [f.client_order_id for f in exchange.executions(since=since)] == ["old", "new"]
    windows = [r.query for r in fake.requests if r.path == "/v5/execution/list" and "startTime" in r.query]
    assert len(windows) == 2
    assert all(int(w["endTime"]) - int(w["startTime"]) <= 7 * 86400 * 1000 for w in windows)


def test_open_orders_follow_the_cursor(exchange, fake):
    for i in range(55):
        exchange.submit(limit_buy(f"l-{i}", price="10000"))
    assert len({o.client_order_id for o in exchange.open_orders("BTCUSDT")}) == 55
    assert len([r for r in fake.requests if r.path == "/v5/order/realtime" and "openOnly" in r.query]) == 2


def test_invalid_requests_refused_before_any_call(exchange, fake):
    with pytest.raises(OrderRejected):
        exchange.submit(market_buy(cid="x" * 37))
    with pytest.raises(OrderRejected):
        exchange.submit(market_buy(cid="has space"))
    assert fake.count(CREATE) == 0


def test_insufficient_balance_from_the_exchange(exchange):
    with pytest.raises(InsufficientBalance) as info:
        exchange.submit(market_buy(qty="100"))
    assert info.value.code == 170131


# --------------------------------------------------------------------------- retCodes


@pytest.mark.parametrize("code", sorted(c for c, rule in RET_CODES.items() if not rule.retryable))
def test_every_non_retryable_ret_code_maps_to_its_error(exchange, fake, code):
    fake.inject("retcode", path=CREATE, ret_code=code, ret_msg="injected")
    with pytest.raises(ExchangeError) as info:
        exchange.submit(market_buy())
    assert type(info.value) is RET_CODES[code].error and info.value.code == code
    assert fake.count(CREATE) == 1  # not retried


@pytest.mark.parametrize("code", sorted(c for c, rule in RET_CODES.items() if rule.retryable))
def test_retryable_ret_codes_retry_then_raise_their_error(exchange, fake, code):
    fake.inject("retcode", path=CREATE, ret_code=code, times=10)
    with pytest.raises(ExchangeError) as info:
        exchange.submit(market_buy())
    assert type(info.value) is RET_CODES[code].error and info.value.code == code
    assert fake.count(CREATE) == 4


def test_the_table_covers_the_required_codes():
    expected = {10001: OrderRejected, 170131: InsufficientBalance, 170141: AlreadySubmitted, 170213: UnknownOrder,
                10003: ExchangeError, 10004: ExchangeError, 10006: RateLimited, 10016: ExchangeUnavailable}
    assert {code: RET_CODES[code].error for code in expected} == expected


def test_unknown_ret_code_is_a_plain_exchange_error(exchange, fake):
    fake.inject("retcode", path=CREATE, ret_code=99999)
    with pytest.raises(ExchangeError) as info:
        exchange.submit(market_buy())
    assert type(info.value) is ExchangeError and info.value.code == 99999


def test_bad_signature_and_bad_key_are_auth_errors(make_client, clock):
    wrong_secret = BybitExchange(make_client(api_secret="not-the-secret"), clock=clock)
    with pytest.raises(ExchangeError) as info:
        wrong_secret.balances()
    assert info.value.code == 10004
    wrong_key = BybitExchange(make_client(api_key="other-key"), clock=clock)
    with pytest.raises(ExchangeError) as info:
        wrong_key.balances()
    assert info.value.code == 10003


def test_http_403_is_a_ten_minute_rate_limit(exchange, fake):
    fake.inject("status", status=403)
    with pytest.raises(RateLimited) as info:
        exchange.balances()
    assert info.value.retry_after == 600 and fake.count("/v5/account/wallet-balance") == 1


# --------------------------------------------------------------------------- resilience


def test_backoff_retries_then_succeeds_without_sleeping(exchange, fake, sleeper):
    fake.inject("status", path=CREATE, status=503, times=2)
    order = exchange.submit(market_buy())
    assert order.status is OrderStatus.FILLED and fake.created_count == 1
    assert sleeper.calls == [pytest.approx(0.1875), pytest.approx(0.375)]  # equal jitter, rng=0.5


def test_backoff_gives_up_after_the_bound(exchange, fake, sleeper):
    fake.inject("status", path=CREATE, status=500, times=10)
    with pytest.raises(ExchangeUnavailable):
        exchange.submit(market_buy())
    assert fake.count(CREATE) == 4 and len(sleeper.calls) == 3
    assert sleeper.calls == sorted(sleeper.calls) and max(sleeper.calls) <= RetryPolicy().max_delay_seconds


def test_dropped_connection_and_timeout_are_retried(make_client, fake, clock):
    exchange = BybitExchange(make_client(timeout_seconds=0.2), clock=clock)
    fake.inject("drop", path="/v5/account/wallet-balance")
    fake.inject("timeout", path="/v5/account/wallet-balance", delay=0.6)
    assert exchange.balances()["BTC"] == Decimal("1")
    assert fake.count("/v5/account/wallet-balance") == 3


def test_exhausted_budget_waits_for_the_reset_before_the_next_call(exchange, fake, clock, sleeper):
    reset_ms = int(clock.now().timestamp() * 1000) + 1500
    fake.set_limit("/v5/account/wallet-balance", remaining=0, reset_ms=reset_ms)
    exchange.balances()
    assert sleeper.calls == []
    exchange.balances()
    assert sleeper.calls == [pytest.approx(1.5)]
    assert int(fake.requests[-1].headers["x-bapi-timestamp"]) >= reset_ms


@pytest.mark.parametrize("status", [200, 429])
def test_rate_limited_answer_waits_until_reset_then_retries(exchange, fake, clock, sleeper, status):
    reset_ms = int(clock.now().timestamp() * 1000) + 2000
    fake.inject("rate_limit", path="/v5/account/wallet-balance", reset_ms=reset_ms, status=status)
    assert exchange.balances()["USDT"] == Decimal("100000")
    assert sleeper.calls == [pytest.approx(2.0)]


def test_rate_limit_reset_too_far_raises_with_retry_after(exchange, fake, clock, sleeper):
    reset_ms = int(clock.now().timestamp() * 1000) + 60_000
    fake.inject("rate_limit", path="/v5/account/wallet-balance", reset_ms=reset_ms)
    with pytest.raises(RateLimited) as info:
        exchange.balances()
    assert info.value.code == 10006 and info.value.retry_after == pytest.approx(60)
    assert sleeper.calls == []


def test_circuit_opens_refuses_then_half_opens(make_client, fake, clock):
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=clock)
    exchange = BybitExchange(make_client(breaker=breaker, retry=RetryPolicy(max_attempts=1)), clock=clock)
    path = "/v5/account/wallet-balance"
    fake.inject("status", path=path, status=503, times=3)
    for _ in range(3):
        with pytest.raises(ExchangeUnavailable):
            exchange.balances()
    assert breaker.state == "open" and fake.count(path) == 3
    with pytest.raises(ExchangeUnavailable, match="circuit open"):
        exchange.balances()
    assert fake.count(path) == 3  # refused without calling
    clock.advance(30)
    fake.inject("status", path=path, status=503)  # the half-open probe fails: open again
    with pytest.raises(ExchangeUnavailable):
        exchange.balances()
    assert breaker.state == "open" and fake.count(path) == 4
    clock.advance(30)
    assert exchange.balances()["BTC"] == Decimal("1")  # the probe succeeds: closed
    assert str(breaker.state) == "closed"


def test_half_open_lets_only_one_probe_through(clock):
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=5, clock=clock)
    breaker.failure()
    clock.advance(5)
    breaker.allow()
    assert breaker.state == "half-open"
    with pytest.raises(ExchangeUnavailable, match="probe"):
        breaker.allow()
    breaker.success()
    breaker.allow()


def test_business_errors_do_not_trip_the_circuit(make_client, fake, clock):
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=30, clock=clock)
    exchange = BybitExchange(make_client(breaker=breaker), clock=clock)
    fake.inject("retcode", path=CREATE, ret_code=170131, times=3)
    for _ in range(3):
        with pytest.raises(InsufficientBalance):
            exchange.submit(market_buy())
    assert breaker.state == "closed"


# --------------------------------------------------------------------------- idempotency


def test_duplicate_order_link_id_is_already_submitted_and_found(exchange, fake):
    first = exchange.submit(market_buy())
    with pytest.raises(AlreadySubmitted) as info:
        exchange.submit(market_buy())
    assert info.value.code == 170141
    found = exchange.get_order("BTCUSDT", "intent-1")
    assert found is not None and found.exchange_order_id == first.exchange_order_id
    assert fake.created_count == 1


def test_response_lost_after_accept_then_lookup_finds_the_one_order(exchange, fake):
    fake.inject("lost_response", path=CREATE)
    with pytest.raises(AlreadySubmitted):
        exchange.submit(market_buy())
    assert fake.count(CREATE) == 2  # the lost answer, then the retry that hit the duplicate
    found = exchange.get_order("BTCUSDT", "intent-1")
    assert found is not None and found.status is OrderStatus.FILLED
    assert fake.created_count == 1


def test_one_intent_delivered_100_times_concurrently_creates_one_order(exchange, fake):
    fake.inject("lost_response", path=CREATE)  # the very first answer is lost as well

    def deliver(_):
        try:
            return exchange.submit(market_buy("intent-concurrent")).exchange_order_id
        except AlreadySubmitted:
            found = exchange.get_order("BTCUSDT", "intent-concurrent")
            assert found is not None
            return found.exchange_order_id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(deliver, range(100)))
    assert fake.created_count == 1
    assert len(set(ids)) == 1
    assert fake.count(CREATE) >= 100


# --------------------------------------------------------------------------- secrets


def test_no_secret_in_logs_reprs_or_errors(make_client, fake, clock, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    client = make_client(retry=RetryPolicy(max_attempts=3))
    exchange = BybitExchange(client, clock=clock)
    texts += [repr(client), repr(exchange), repr(BybitMarketData(client)), str(vars(client))]
    fake.inject("status", status=502)
    fake.inject("lost_response", path=CREATE)
    with pytest.raises(AlreadySubmitted) as duplicate:
        exchange.submit(market_buy())
    texts += [str(duplicate.value), repr(duplicate.value)]
    for failing in (make_client(api_secret=SECRET + "x"), make_client(api_key=KEY + "x")):
        with pytest.raises(ExchangeError) as auth:
            BybitExchange(failing, clock=clock).balances()
        texts += [str(auth.value), repr(auth.value), repr(failing)]
    fake.inject("status", status=500, times=5)
    with pytest.raises(ExchangeUnavailable) as down:
        exchange.balances()
    texts += [str(down.value), repr(down.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("retrying" in t for t in texts)  # the logs did say something
    for text in texts:
        assert SECRET not in text and KEY not in text


def test_executions_can_be_narrowed_to_one_order_link_id(exchange, fake):
    exchange.submit(market_buy("one"))
    exchange.submit(market_buy("two"))
    assert {f.client_order_id for f in exchange.executions("BTCUSDT", client_order_id="two")} == {"two"}
    asked = [r.query for r in fake.requests if r.path == "/v5/execution/list"]
    assert asked[-1]["orderLinkId"] == "two"
