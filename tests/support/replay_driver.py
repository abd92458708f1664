"""Drives the trading services over replayed candles with a manual clock, hour by hour.

The same services and queues the functions use (schedule ticks → tick messages →
decisions → intent messages → execution), but stepped deterministically, so a test can
replay hundreds of bars in seconds and then check the books.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import ReplayMarketData, load_demo_market
from shared.adapters.sqlite_queue import SqliteQueueBroker
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import Exchange
from shared.services.demo import INITIAL_DEPOSIT, QUOTE, seed_demo
from shared.services.execution import ExecutionContext, handle_order_message
from shared.services.ticks import TickContext, run_tick, schedule_ticks
from shared.topology import ORDER_INTENTS, STRATEGY_TICKS


@dataclass
class ReplayDriver:
    data_dir: Path
    start: datetime
    clock: ManualClock = field(init=False)
    store: SqliteStore = field(init=False)
    broker: SqliteQueueBroker = field(init=False)
    market: ReplayMarketData = field(init=False)
    ticks: int = 0
    intents: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    _exchanges: dict[str, Exchange] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = ManualClock(self.start)
        self.store = SqliteStore(self.data_dir / "store.sqlite")
        self.broker = SqliteQueueBroker(self.data_dir / "queue.sqlite", clock=self.clock)
        self.market = load_demo_market(self.clock)
        seed_demo(self.store, self.clock.now())

    def exchange_for(self, account_id: str) -> Exchange:
        if account_id not in self._exchanges:
            self._exchanges[account_id] = PaperExchange(self.store, self.market, self.clock, account_id=account_id,
                                                        initial_balances={QUOTE: INITIAL_DEPOSIT})
        return self._exchanges[account_id]

    @property
    def tick_context(self) -> TickContext:
        return TickContext(store=self.store, broker=self.broker, market=self.market,
                           exchange_for=self.exchange_for, clock=self.clock)

    @property
    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(store=self.store, market=self.market, exchange_for=self.exchange_for,
                                clock=self.clock)

    def step(self, delta: timedelta = timedelta(hours=1)) -> None:
        """Advance the market, then run the timer and drain both queues."""
        self.clock.advance(delta)
        schedule_ticks(self.tick_context)
        ticks = self.broker.queue(STRATEGY_TICKS)
        while batch := ticks.receive(16):
            for msg in batch:
                run_tick(msg.body, self.tick_context)
                ticks.complete(msg)
                self.ticks += 1
        intents = self.broker.queue(ORDER_INTENTS)
        while batch := intents.receive(16):
            for msg in batch:
                result = handle_order_message(msg.body, self.execution_context)
                intents.complete(msg)
                self.intents += 1
                self.outcomes[result.outcome] = self.outcomes.get(result.outcome, 0) + 1

    def run(self, hours: int) -> None:
        for _ in range(hours):
            self.step()

    def close(self) -> None:
        self.broker.close()
        self.store.close()

    def cash(self, account_id: str) -> Decimal:
        return self.exchange_for(account_id).balances().get(QUOTE, Decimal(0))
