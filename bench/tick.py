"""Tick evaluation latency and order-intent throughput through the embedded queue.

    .venv/bin/python bench/tick.py [--ticks 3000] [--intents 2000] [--threads 4]

1. ``pipeline.evaluate`` (data checks + all 7 rules, AI off) on 300-candle windows of
   the shipped real KuCoin BTC-USDT 1h file: p50 / p99 (target p99 <= 1 ms).
2. Order intents sent to ``order-intents`` (SQLite queue, sessions by account) and
   executed by the real execution service against the paper exchange over SQLite,
   receive + execute + complete on worker threads: intents/s (target >= 1,000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DATA_DIR, DEMO_START, load_demo_market
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.candles import CandleSeries
from shared.domain.profiles import RiskLimits
from shared.domain.rules import pipeline
from shared.domain.rules.context import TickInput
from shared.domain.strategy import SevenRuleParams
from shared.domain.trading import OrderIntent, OrderType, Side
from shared.ports import Exchange, OutgoingMessage
from shared.services.execution import ExecutionContext, RetryLater, execute_intent
from shared.topology import ORDER_INTENTS

WINDOW = 300


def bench_evaluate(ticks: int) -> tuple[float, float]:
    series = CandleSeries.from_csv(DATA_DIR / "dmplot_KUCOIN-BTC-USDT_1h.csv")
    market = load_demo_market(ManualClock(DEMO_START))
    [instrument] = market.instruments(["BTCUSDT"])
    params = SevenRuleParams()
    samples: list[float] = []
    last = min(len(series), WINDOW + ticks)
    for end in range(WINDOW, last):
        window = series[end - WINDOW:end]
        last_open = window.last_time
        assert last_open is not None
        now = last_open + timedelta(hours=1, seconds=1)
        inp = TickInput(window=window, symbol="BTCUSDT", interval_seconds=3600, now=now, position_qty=Decimal(0),
                        position_avg_cost=Decimal(0), equity=Decimal(10000), instrument=instrument,
                        limits=RiskLimits(), advisor=None)
        started = time.perf_counter()
        pipeline.evaluate(inp, params)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def bench_intents(n: int, threads: int, accounts: int = 16) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(DEMO_START + timedelta(hours=1, minutes=1))
        store = SqliteStore(Path(tmp) / "store.sqlite")
        broker = SqliteQueueBroker(Path(tmp) / "queue.sqlite")
        market = load_demo_market(clock)
        exchanges: dict[str, Exchange] = {}
        lock = threading.Lock()

        def exchange_for(account: str) -> Exchange:
            with lock:
                if account not in exchanges:
                    exchanges[account] = PaperExchange(store, market, clock, account_id=account,
                                                       initial_balances={"USDT": Decimal("100000000")})
                return exchanges[account]

        ctx = ExecutionContext(store=store, market=market, exchange_for=exchange_for, clock=clock)
        queue = broker.queue(ORDER_INTENTS)
        for i in range(n):
            account = f"acct-{i % accounts}"
            intent = OrderIntent(id=f"i-bench-{i}", tenant_id="bench", account_id=account, profile_id=None,
                                 symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, qty=Decimal("0.001"),
                                 source="manual", created_at=clock.now())
            queue.send(OutgoingMessage(body=intent.model_dump_json(by_alias=True), message_id=intent.id,
                                       session_id=account))
        done = 0
        done_lock = threading.Lock()

        def worker() -> None:
            nonlocal done
            while True:
                batch = queue.receive(4)
                if not batch:
                    with done_lock:
                        if done >= n:
                            return
                    time.sleep(0.001)
                    continue
                for msg in batch:
                    try:
                        execute_intent(OrderIntent.model_validate_json(msg.body), ctx)
                    except RetryLater:
                        queue.abandon(msg)
                        continue
                    queue.complete(msg)
                    with done_lock:
                        done += 1

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        broker.close()
        store.close()
        return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    p50, p99 = bench_evaluate(args.ticks)
    print(f"tick evaluation (7 rules + data checks, {WINDOW}-candle real windows, {args.ticks} ticks)")
    print(f"  p50 {p50 * 1e6:8.0f} us   p99 {p99 * 1e6:8.0f} us   target p99 <= 1000 us")
    rate = bench_intents(args.intents, args.threads)
    print(f"order intents through the embedded queue ({args.intents} intents, {args.threads} threads, paper exchange)")
    print(f"  {rate:8.0f} intents/s   target >= 1000")


if __name__ == "__main__":
    main()
