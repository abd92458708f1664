"""The paper exchange over a real SqliteStore and the replay feed, with a ManualClock."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_clock import ReplayClock
from shared.adapters.replay_market import DEMO_START, ReplayMarketData, default_instrument, load_demo_market
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.candles import CandleSeries, to_ms
from shared.domain.trading import OrderStatus, OrderType, Side
from shared.ports import (
    AlreadySubmitted,
    Exchange,
    ExchangeUnavailable,
    Filter,
    InsufficientBalance,
    MarketData,
    MarketDataError,
    OrderRejected,
    OrderRequest,
    Query,
    UnknownOrder,
)

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
# hour: (open, high, low, close, volume); hour 8 is missing (a gap), data ends after hour 11
BARS = {
    0: (100.0, 101.0, 99.0, 100.5, 10.0),
    1: (100.5, 102.0, 100.0, 101.0, 10.0),
    2: (101.0, 101.5, 97.0, 98.0, 10.0),
    3: (98.0, 99.0, 96.0, 97.0, 10.0),
    4: (97.0, 98.0, 95.0, 96.0, 10.0),
    5: (96.0, 110.0, 95.0, 108.0, 10.0),
    6: (108.0, 109.0, 107.0, 108.5, 10.0),
    7: (108.5, 109.0, 108.0, 108.8, 10.0),
    9: (109.0, 110.0, 108.0, 109.5, 10.0),
    10: (109.5, 111.0, 109.0, 110.0, 10.0),
    11: (110.0, 111.0, 109.0, 110.5, 10.0),
}


def series() -> CandleSeries:
    hours = sorted(BARS)
    cols = list(zip(*(BARS[h] for h in hours), strict=True))
    return CandleSeries.from_arrays([to_ms(T0 + h * HOUR) for h in hours], *cols)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + timedelta(minutes=30))


@pytest.fixture
def market(clock: ManualClock) -> ReplayMarketData:
    return ReplayMarketData({"BTCUSDT": (series(), "1h")}, clock)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite", clock=clock)
    yield s
    s.close()


def make(store: SqliteStore, market: ReplayMarketData, clock: ManualClock, **kw: Any) -> PaperExchange:
    kw.setdefault("initial_balances", {"USDT": D("10000")})
    return PaperExchange(store, market, clock, account_id="acc-1", **kw)


@pytest.fixture
def ex(store: SqliteStore, market: ReplayMarketData, clock: ManualClock) -> PaperExchange:
    return make(store, market, clock)


def buy(cid: str, qty: str, price: str | None = None) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(cid, "BTCUSDT", Side.BUY, kind, D(qty), None if price is None else D(price))


def sell(cid: str, qty: str, price: str | None = None) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(cid, "BTCUSDT", Side.SELL, kind, D(qty), None if price is None else D(price))


def docs(store: SqliteStore, kind: str) -> list[dict[str, object]]:
    return store.container("paper").query(Query(where=[Filter("kind", "=", kind)]), partition_key="acc-1").items


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# --------------------------------------------------------------------------- market orders


def test_ports_are_implemented(ex: PaperExchange, market: ReplayMarketData) -> None:
    assert isinstance(ex, Exchange) and isinstance(market, MarketData)


def test_market_buy_fills_at_the_forming_open_with_slippage_and_fee(ex: PaperExchange, clock: ManualClock) -> None:
    order = ex.submit(buy("c1", "1"))
    assert order.status is OrderStatus.FILLED and order.filled_qty == D("1") and order.avg_fill_price == D("100.02")
    [fill] = ex.executions()
    assert (fill.price, fill.qty, fill.fee, fill.fee_asset, fill.liquidity) == (
        D("100.02"), D("1"), D("0.10002"), "USDT", "taker",
    )
    assert fill.at == at(0.5) and fill.client_order_id == "c1"
    assert ex.balances() == {"USDT": D("9899.87998"), "BTC": D("1")}

    clock.set(at(1.25))
    sold = ex.submit(sell("c2", "0.4"))  # 100.5 x 0.9998 = 100.4799 -> 100.47
    assert sold.avg_fill_price == D("100.47")
    assert ex.balances() == {"USDT": D("9899.87998") + D("40.188") - D("0.040188"), "BTC": D("0.6")}


def test_duplicate_client_order_id_is_already_submitted(ex: PaperExchange, store: SqliteStore) -> None:
    first = ex.submit(buy("dup", "1"))
    with pytest.raises(AlreadySubmitted):
        ex.submit(buy("dup", "1"))
    with pytest.raises(AlreadySubmitted):
        ex.submit(sell("dup", "0.5"))  # the id decides, not the content
    assert ex.get_order("BTCUSDT", "dup") == first
    assert ex.get_order("ETHUSDT", "dup") is None and ex.get_order("BTCUSDT", "nope") is None
    assert len(docs(store, "order")) == 1 and len(docs(store, "fill")) == 1


def test_100_concurrent_deliveries_make_one_order(
    store: SqliteStore, market: ReplayMarketData, clock: ManualClock
) -> None:
    start = threading.Barrier(20)  # the first 20 race past the "already there?" read into the batch

    def deliver(i: int) -> str:
        if i < 20:
            start.wait()
        try:
            make(store, market, clock).submit(buy("intent-42", "0.5"))  # a fresh invocation each time
            return "ok"
        except AlreadySubmitted:
            return "dup"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(deliver, range(100)))
    assert outcomes == {"ok": 1, "dup": 99}
    assert len(docs(store, "order")) == 1 and len(docs(store, "fill")) == 1
    assert make(store, market, clock).balances() == {"USDT": D("10000") - D("50.01") - D("0.05001"), "BTC": D("0.5")}


def test_concurrent_different_orders_all_land_with_exact_balances(
    store: SqliteStore, market: ReplayMarketData, clock: ManualClock
) -> None:
    start = threading.Barrier(20)

    def deliver(i: int) -> None:
        start.wait()
        make(store, market, clock).submit(buy(f"o{i}", "0.1"))  # etag conflicts retry, none is lost

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(deliver, range(20)))
    ex = make(store, market, clock)
    assert len(ex.order_history()) == 20 and len(ex.executions()) == 20
    assert ex.balances() == {"USDT": D("10000") - 20 * (D("10.002") + D("0.010002")), "BTC": D("2.0")}


def test_participation_cap_fills_the_rest_on_the_next_bar(ex: PaperExchange, clock: ManualClock) -> None:
    order = ex.submit(buy("big", "4"))  # cap: 25 % of 10 = 2.5 on the forming bar
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == D("2.5")
    clock.set(at(1.99))
    assert ex.get_order("BTCUSDT", "big").filled_qty == D("2.5")  # type: ignore[union-attr]
    clock.set(at(2))
    done = ex.get_order("BTCUSDT", "big")
    assert done is not None and done.status is OrderStatus.FILLED
    fills = ex.executions()
    # the remainder is stamped when its bar (hour 1) closed: that is when it became knowable
    assert [(f.price, f.qty, f.at) for f in fills] == [(D("100.02"), D("2.5"), at(0.5)), (D("100.53"), D("1.5"), at(2))]
    cost = D("2.5") * D("100.02") * D("1.001") + D("1.5") * D("100.53") * D("1.001")
    assert ex.balances() == {"USDT": D("10000") - cost, "BTC": D("4")}
    assert done.avg_fill_price == (D("2.5") * D("100.02") + D("1.5") * D("100.53")) / 4


def test_a_remainder_the_balance_cannot_pay_is_canceled_never_overdrawn(
    store: SqliteStore, market: ReplayMarketData, clock: ManualClock
) -> None:
    exact = D("4") * D("100.02") * D("1.001")  # enough at the submit price, not at the next opens
    ex = make(store, market, clock, initial_balances={"USDT": exact})
    ex.submit(buy("tight", "4"))
    clock.set(at(3))
    order = ex.get_order("BTCUSDT", "tight")
    assert order is not None and order.status is OrderStatus.CANCELED
    assert order.reject_reason == "insufficient balance for the remainder"
    assert D("2.5") < order.filled_qty < D("4")
    balances = ex.balances()
    assert D("0") <= balances["USDT"] < D("0.2") and balances["BTC"] == order.filled_qty


def test_market_order_in_a_gap_waits_for_the_next_bar(ex: PaperExchange, clock: ManualClock) -> None:
    clock.set(at(8.5))  # hour 8 is missing: nothing is forming
    order = ex.submit(buy("gap", "1"))
    assert order.status is OrderStatus.NEW and ex.executions() == []
    clock.set(at(10))
    [fill] = ex.executions()
    assert (fill.price, fill.at) == (D("109.03"), at(10))  # 109 x 1.0002 = 109.0218 -> 109.03


# --------------------------------------------------------------------------- limit orders


def test_limit_rests_then_fills_when_a_later_bar_crosses(ex: PaperExchange, clock: ManualClock) -> None:
    order = ex.submit(buy("lim", "1", "99.50"))
    assert order.status is OrderStatus.NEW and [o.client_order_id for o in ex.open_orders()] == ["lim"]
    assert ex.balances() == {"USDT": D("10000")}
    clock.set(at(1))  # the bar forming at placement (low 99) does not count
    assert ex.get_order("BTCUSDT", "lim").status is OrderStatus.NEW  # type: ignore[union-attr]
    clock.set(at(2))  # hour 1: low 100, no cross
    assert ex.executions() == []
    clock.set(at(3))  # hour 2: low 97 -> fills at min(101, 99.50)
    [fill] = ex.executions()
    assert (fill.price, fill.qty, fill.fee, fill.liquidity) == (D("99.50"), D("1"), D("0.09950"), "maker")
    assert fill.at == at(3)  # hour 2's close
    assert ex.executions(since=at(3)) == [fill] and ex.executions(since=at(3.01)) == []
    assert ex.open_orders() == [] and ex.balances() == {"USDT": D("9900.40050"), "BTC": D("1")}


def test_open_limit_orders_reserve_balance(ex: PaperExchange) -> None:
    ex.submit(buy("lim", "1", "99.50"))  # reserves 99.5 x 1.001 = 99.5995
    with pytest.raises(InsufficientBalance):
        ex.submit(buy("more", "99"))  # 99 x 100.02 x 1.001 = 9912.08... > 9900.4005 free
    ex.submit(buy("fits", "98"))


def test_cancel(ex: PaperExchange, clock: ManualClock) -> None:
    ex.submit(buy("lim", "1", "99.50"))
    canceled = ex.cancel("BTCUSDT", "lim")
    assert canceled.status is OrderStatus.CANCELED and ex.open_orders() == []
    assert ex.cancel("BTCUSDT", "lim").status is OrderStatus.CANCELED  # idempotent
    clock.set(at(4))
    assert ex.executions() == [] and ex.balances() == {"USDT": D("10000")}
    with pytest.raises(UnknownOrder):
        ex.cancel("BTCUSDT", "never")
    ex.submit(buy("filled", "1"))
    with pytest.raises(OrderRejected):
        ex.cancel("BTCUSDT", "filled")
    assert [o.client_order_id for o in ex.order_history()] == ["lim", "filled"]
    assert [o.client_order_id for o in ex.order_history(since=at(1))] == ["filled"]


# --------------------------------------------------------------------------- rejections


def test_insufficient_balance_writes_nothing(ex: PaperExchange, store: SqliteStore) -> None:
    with pytest.raises(InsufficientBalance):
        ex.submit(buy("huge", "1000"))
    with pytest.raises(InsufficientBalance):
        ex.submit(sell("naked", "0.1"))
    assert docs(store, "order") == [] and docs(store, "fill") == []
    assert ex.get_order("BTCUSDT", "huge") is None and ex.balances() == {"USDT": D("10000")}
    ex.submit(buy("huge", "1"))  # a refused id was never used


@pytest.mark.parametrize(
    "request_",
    [
        buy("lot", "0.0000015"),
        buy("tiny", "0.01"),  # 1.0002 USDT < 5 min notional
        buy("tick", "1", "99.505"),
        OrderRequest("mkt", "BTCUSDT", Side.BUY, OrderType.MARKET, D("1"), D("100")),
        OrderRequest("sym", "DOGEUSDT", Side.BUY, OrderType.MARKET, D("1")),
        buy("bad/id", "1"),
    ],
)
def test_invalid_orders_are_rejected(ex: PaperExchange, request_: OrderRequest) -> None:
    with pytest.raises(OrderRejected):
        ex.submit(request_)


def test_fault_hook_simulates_a_lost_acknowledgement(
    store: SqliteStore, market: ReplayMarketData, clock: ManualClock
) -> None:
    def fault(point: str) -> None:
        if point == "submit.accepted":
            raise ExchangeUnavailable("timeout")

    with pytest.raises(ExchangeUnavailable):
        make(store, market, clock, fault=fault).submit(buy("lost", "1"))
    found = make(store, market, clock).get_order("BTCUSDT", "lost")
    assert found is not None and found.status is OrderStatus.FILLED


# --------------------------------------------------------------------------- persistence, determinism


def test_restart_sees_the_same_book(tmp_path: Path, market: ReplayMarketData, clock: ManualClock) -> None:
    first_store = SqliteStore(tmp_path / "book.sqlite", clock=clock)
    first = make(first_store, market, clock)
    first.submit(buy("m", "2"))
    first.submit(sell("l", "1", "105.00"))
    before = (first.order_history(), first.executions(), first.balances())
    first_store.close()

    second_store = SqliteStore(tmp_path / "book.sqlite", clock=clock)
    second = make(second_store, market, clock, initial_balances={"USDT": D("1")})  # ignored: the book exists
    assert (second.order_history(), second.executions(), second.balances()) == before
    clock.set(at(6))  # hour 5 reaches 110 >= 105
    assert second.get_order("BTCUSDT", "l").status is OrderStatus.FILLED  # type: ignore[union-attr]
    second_store.close()


def test_same_candles_and_orders_give_the_same_fills_whenever_matched(tmp_path: Path) -> None:
    def run(name: str, poll_every_hour: bool) -> tuple[object, ...]:
        clock = ManualClock(at(0.5))
        market = ReplayMarketData({"BTCUSDT": (series(), "1h")}, clock)
        store = SqliteStore(tmp_path / f"{name}.sqlite", clock=clock)
        ex = make(store, market, clock)
        ex.submit(buy("big", "6"))
        ex.submit(buy("lim", "2", "96.50"))
        ex.submit(buy("lim2", "1", "95.00"))
        for hour in range(1, 13):
            clock.set(at(hour))
            if poll_every_hour:
                ex.balances()
        result = (ex.executions(), ex.balances(), ex.order_history())
        store.close()
        return result

    eager, lazy = run("eager", True), run("lazy", False)
    assert eager == lazy
    assert len(eager[0]) == 5  # type: ignore[arg-type]


# --------------------------------------------------------------------------- replay feed


def test_replay_feed_never_returns_an_unclosed_candle(market: ReplayMarketData, clock: ManualClock) -> None:
    now = T0
    while now <= at(13):
        clock.set(now)
        candles = market.candles("BTCUSDT", "1h", limit=1000)
        assert all(c.open_time + HOUR <= now for c in candles)
        closed = [h for h in BARS if T0 + (h + 1) * HOUR <= now]
        assert [c.open_time for c in candles] == [T0 + h * HOUR for h in closed]
        now += timedelta(minutes=15)


def test_replay_candles_honour_start_end_and_limit(market: ReplayMarketData, clock: ManualClock) -> None:
    clock.set(at(6.5))  # hours 0..5 closed
    hours = lambda cs: [int((c.open_time - T0) / HOUR) for c in cs]  # noqa: E731
    assert hours(market.candles("BTCUSDT", "1h", limit=2)) == [4, 5]
    assert hours(market.candles("BTCUSDT", "1h", start=at(1), limit=2)) == [1, 2]
    assert hours(market.candles("BTCUSDT", "1h", end=at(3))) == [0, 1, 2, 3]
    assert hours(market.candles("BTCUSDT", "1h", start=at(2), end=at(9))) == [2, 3, 4, 5]
    with pytest.raises(MarketDataError):
        market.candles("BTCUSDT", "5m")
    with pytest.raises(MarketDataError):
        market.candles("ETHUSDT", "1h")


def test_replay_tickers(market: ReplayMarketData, clock: ManualClock) -> None:
    clock.set(at(3.5))
    [t] = market.tickers(["BTCUSDT", "ETHUSDT"])
    assert t.last_price == D("98") and t.at == at(3.5) and t.volume_24h == 30.0
    clock.set(at(8.5))  # gap: the last close
    assert market.tickers(["BTCUSDT"])[0].last_price == D("108.8")
    clock.set(at(30))  # end of data: the last close; 24h before, hour 6 was forming (open 108)
    [end] = market.tickers(["BTCUSDT"])
    assert end.last_price == D("110.5") and end.change_24h_pct == pytest.approx((110.5 - 108) / 108 * 100, abs=1e-6)
    assert end.volume_24h == 50.0  # hours 6, 7, 9, 10, 11 closed within the last 24h
    clock.set(T0 - HOUR)
    assert market.tickers(["BTCUSDT"]) == []


def test_replay_instruments(clock: ManualClock) -> None:
    custom = default_instrument("BTCUSDT").model_copy(update={"min_notional": D("10")})
    feed = ReplayMarketData({"BTCUSDT": (series(), "1h"), "ETHBTC": (series(), "1h")}, clock, {"BTCUSDT": custom})
    btc, eth = feed.instruments()
    assert btc.min_notional == D("10")
    assert (eth.base, eth.quote, eth.tick_size) == ("ETH", "BTC", D("0.01"))
    assert (eth.lot_size, eth.min_qty, eth.min_notional) == (D("0.000001"), D("0.000001"), D("5"))
    assert feed.instruments(["NOPE"]) == []


def test_demo_market_and_replay_clock() -> None:
    base = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    clock = ReplayClock(DEMO_START, speed=3600, base=base)
    demo = load_demo_market(clock)
    assert demo.interval_of("BTCUSDT") == "1h" and demo.interval_of("BTCUSD") == "1d"
    assert clock.now() == DEMO_START
    base.advance(2.5)  # 2.5 real seconds = 2.5 market hours
    assert clock.now() == DEMO_START + timedelta(hours=2.5)
    assert demo.candles("BTCUSDT", "1h", limit=1)[0].open_time == DEMO_START + timedelta(hours=1)
    base.advance(-10)  # the base clock steps back: replay time does not
    assert clock.now() == DEMO_START + timedelta(hours=2.5)
    clock.jump(datetime(2024, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2024, 1, 1, tzinfo=UTC)
    [usd] = demo.tickers(["BTCUSD"])
    assert usd.last_price == D("37371.38")  # the daily file ended in 2021: its last close


def test_executions_can_be_narrowed_to_one_client_order_id(ex: PaperExchange) -> None:
    ex.submit(buy("first", "1"))
    ex.submit(buy("second", "2"))
    only = ex.executions("BTCUSDT", client_order_id="second")
    assert only and {f.client_order_id for f in only} == {"second"}
    assert {f.client_order_id for f in ex.executions("BTCUSDT")} == {"first", "second"}
