"""Tick evaluation latency and order-intent throughput through the embedded queue.

    .venv/bin/python bench/tick.py [--ticks 3000] [--intents 2000] [--threads 4] [--batch N]

1. ``pipeline.evaluate`` (data checks + all 7 rules, AI off) on 300-candle windows of
   the shipped real KuCoin BTC-USDT 1h file: p50 / p99 (target p99 <= 1 ms).
2. Order intents sent to ``order-intents`` (SQLite queue, sessions by account) and run
   exactly as the devhost runs them: its queue pump receives session batches and
   invokes the app's own ``execute_order_intent`` function (the real execution service,
   against the paper exchange over the SQLite store, ``synchronous=FULL``), then
   completes each batch: intents/s (target >= 1,000).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devhost.registry import read_functions
from devhost.servicebus import QueuePump
from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DATA_DIR, DEMO_START, load_demo_market
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import Runtime, install_runtime
from shared.config import load_settings
from shared.domain.candles import CandleSeries
from shared.domain.profiles import RiskLimits
from shared.domain.rules import pipeline
from shared.domain.rules.context import TickInput
from shared.domain.strategy import SevenRuleParams
from shared.domain.trading import OrderIntent, OrderType, Side
from shared.ports import Exchange, Filter, OutgoingMessage, Query
from shared.product import product_info
from shared.services.exchanges import exchange_factory
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


def bench_intents(n: int, threads: int, accounts: int = 16, batch: int | None = None) -> float:
    """``threads``: batches in flight at once (the pump's concurrency); ``batch``: the
    largest batch (default: host.json's ``maxMessageBatchSize``, as the devhost uses)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(DEMO_START + timedelta(hours=1, minutes=1))
        store = SqliteStore(Path(tmp) / "store.sqlite")
        broker = SqliteQueueBroker(Path(tmp) / "queue.sqlite")
        market = load_demo_market(clock)

        def paper(account: str) -> Exchange:
            return PaperExchange(store, market, clock, account_id=account,
                                 initial_balances={"USDT": Decimal("100000000")})

        settings = load_settings({product_info().env_var_prefix + "DATA_DIR": tmp})
        install_runtime(Runtime(settings=settings, product=product_info(), store=store, broker=broker,
                                clock=clock, market=market,
                                exchange_factory=exchange_factory(store, paper=paper, bybit=None)))
        queue = broker.queue(ORDER_INTENTS)
        for i in range(n):
            account = f"acct-{i % accounts}"
            intent = OrderIntent(id=f"i-bench-{i}", tenant_id="bench", account_id=account, profile_id=None,
                                 symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, qty=Decimal("0.001"),
                                 source="manual", created_at=clock.now())
            queue.send(OutgoingMessage(body=intent.model_dump_json(by_alias=True), message_id=intent.id,
                                       session_id=account))
        import function_app

        [spec] = [s for s in read_functions(function_app.app.get_functions()) if s.name == "execute_order_intent"]
        pump = QueuePump(spec, broker, concurrency=threads, idle_sleep=0.001, max_batch=batch)

        async def drain() -> float:
            started = time.perf_counter()
            await pump.start()
            while queue.pending():
                await asyncio.sleep(0.02)  # seldom: each wake-up takes the GIL from the workers
            elapsed = time.perf_counter() - started
            await pump.stop()
            return elapsed

        elapsed = asyncio.run(drain())
        dead = len(queue.dead_letters())
        filled = sum(1 for a in range(accounts) for d in store.container("orders").query(
            Query(where=[Filter("kind", "=", "order"), Filter("status", "=", "filled")]),
            partition_key=f"acct-{a}").items)
        install_runtime(None)
        broker.close()
        store.close()
        if dead or filled != n:
            raise SystemExit(f"{dead} dead-lettered, {filled} of {n} filled: the run is not a measurement")
        return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=None)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the per-invocation log lines would measure the terminal
    p50, p99 = bench_evaluate(args.ticks)
    print(f"tick evaluation (7 rules + data checks, {WINDOW}-candle real windows, {args.ticks} ticks)")
    print(f"  p50 {p50 * 1e6:8.0f} us   p99 {p99 * 1e6:8.0f} us   target p99 <= 1000 us")
    rate = bench_intents(args.intents, args.threads, batch=args.batch)
    print(f"order intents through the embedded queue ({args.intents} intents, {args.threads} batches in flight, "
          "paper exchange, synchronous=FULL)")
    print(f"  {rate:8.0f} intents/s   target >= 1000")


if __name__ == "__main__":
    main()
