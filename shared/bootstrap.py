"""The one place that picks adapters from configuration.

Function entrypoints call ``runtime()`` and get the store, the queue broker and the
clock for the configured mode; nothing else in the code knows which adapter is behind a
port. Built lazily once per process (the Functions worker keeps the process warm).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.config import Settings, load_settings
from shared.ports import Clock, Conflict, Exchange, Llm, MarketData, NotFound, QueueBroker, Store
from shared.product import ProductInfo, product_info

STORE_FILE = "store.sqlite"
#: Embedded containers kept in a file of their own (container -> file name).
OWN_FILES = {"leases": "leases.sqlite"}
QUEUE_FILE = "queue.sqlite"
DURABLE_FILE = "durable.sqlite"


@dataclass
class Runtime:
    """``clock`` is business time (the replay clock in replay mode); the store and the
    queue keep real time for TTLs, locks and schedules."""

    settings: Settings
    product: ProductInfo
    store: Store
    broker: QueueBroker
    clock: Clock
    market: MarketData
    exchange_factory: Callable[[str], Exchange]
    llm: Llm | None = None  # None: no key configured, the local advisor proposes
    _exchanges: dict[str, Exchange] = field(default_factory=dict)
    _exchange_lock: threading.Lock = field(default_factory=threading.Lock)

    def exchange_for(self, account_id: str) -> Exchange:
        with self._exchange_lock:
            if account_id not in self._exchanges:
                self._exchanges[account_id] = self.exchange_factory(account_id)
            return self._exchanges[account_id]

    def close(self) -> None:
        self.store.close()
        self.broker.close()
        close_llm = getattr(self.llm, "close", None)  # the port does not require one
        if callable(close_llm):
            close_llm()


REPLAY_ORIGIN_ID = "replay-origin"


def replay_clock(store: Store, speed: float, real: Clock) -> Clock:
    """The demo's market clock, anchored once per data directory: after a restart the
    replay continues where the market "is" now, as a live market would, never rewinds."""
    from shared.adapters.replay_clock import ReplayClock
    from shared.adapters.replay_market import DEMO_START

    controls = store.container("controls")
    now = real.now()
    try:
        origin = controls.read(REPLAY_ORIGIN_ID, "system")
    except NotFound:
        origin = {"id": REPLAY_ORIGIN_ID, "scope": "system", "kind": "replay-origin",
                  "realStart": now.isoformat(), "virtualStart": DEMO_START.isoformat()}
        try:
            controls.create(origin)
        except Conflict:
            origin = controls.read(REPLAY_ORIGIN_ID, "system")
    elapsed = now - datetime.fromisoformat(origin["realStart"])
    start = datetime.fromisoformat(origin["virtualStart"]) + elapsed * speed
    return ReplayClock(start, speed, base=real)


class RuntimeUnavailable(RuntimeError):
    """The adapters could not be built (bad config, unreachable store); the message names
    only the cause's type, never its text, which may hold connection details."""


RETRY_BUILD_AFTER_SECONDS = 5.0

_lock = threading.Lock()
_runtime: Runtime | None = None
_last_failure: tuple[float, BaseException] | None = None


def build_runtime(settings: Settings) -> Runtime:
    from shared.adapters.clock import SystemClock

    real = SystemClock()
    store: Store
    broker: QueueBroker
    if settings.mode == "embedded":
        from shared.adapters.routed_store import RoutedStore
        from shared.adapters.sqlite_queue import SqliteQueueBroker
        from shared.adapters.sqlite_store import SqliteStore
        from shared.topology import CONTAINERS

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Throttling state in a file of its own: see routed_store (why it must not share
        # the trading file's write lock). NORMAL: a power cut may lose its last commits,
        # i.e. give a few write tokens back; the limit is a courtesy that fails open anyway.
        trading = SqliteStore(settings.data_dir / STORE_FILE, clock=real,
                              containers=[c for c in CONTAINERS if c.name not in OWN_FILES])
        store = RoutedStore(trading, {name: SqliteStore(settings.data_dir / file, clock=real, synchronous="NORMAL",
                                                        containers=[c for c in CONTAINERS if c.name == name])
                                      for name, file in OWN_FILES.items()})
        broker = SqliteQueueBroker(settings.data_dir / QUEUE_FILE, clock=real)
    else:
        from shared.adapters.cosmos_store import CosmosStore
        from shared.adapters.servicebus_queue import ServiceBusBroker

        store = CosmosStore.from_settings(settings)
        broker = ServiceBusBroker.from_settings(settings)
    clock: Clock
    market: MarketData
    if settings.market == "replay":
        from shared.adapters.replay_market import load_demo_market

        clock = replay_clock(store, settings.replay_speed, real)
        market = load_demo_market(clock)
    else:
        from shared.adapters.bybit.http import BybitHttpClient
        from shared.adapters.bybit.market import BybitMarketData

        clock = real
        market = BybitMarketData(BybitHttpClient(clock=real), clock=real)

    def paper(account_id: str) -> Exchange:
        from shared.adapters.paper_exchange import PaperExchange

        return PaperExchange(store, market, clock, account_id=account_id)

    bybit: Callable[[str], Exchange] | None = None
    if settings.bybit_api_key and settings.bybit_api_secret:
        from shared.adapters.bybit.http import BybitHttpClient
        from shared.adapters.bybit.trading import BybitExchange

        client = BybitHttpClient(base_url=settings.bybit_base_url, api_key=settings.bybit_api_key,
                                 api_secret=settings.bybit_api_secret, clock=real)

        def bybit(account_id: str) -> Exchange:  # one Bybit account per deployment for now
            return BybitExchange(client, clock=real)

    from shared.adapters.openai_llm import build_llm
    from shared.services.exchanges import exchange_factory

    return Runtime(settings=settings, product=product_info(), store=store, broker=broker, clock=clock,
                   market=market, exchange_factory=exchange_factory(store, paper=paper, bybit=bybit),
                   llm=build_llm(settings, app_title=product_info().display_name))


def runtime() -> Runtime:
    """The process runtime; a failed build is remembered for a few seconds so a broken
    dependency is not retried (with the SDKs' own retries) by every request in a queue."""
    global _runtime, _last_failure
    with _lock:
        if _runtime is not None:
            return _runtime
        if _last_failure and time.monotonic() - _last_failure[0] < RETRY_BUILD_AFTER_SECONDS:
            raise RuntimeUnavailable(f"runtime unavailable ({type(_last_failure[1]).__name__})")
        try:
            _runtime = build_runtime(load_settings())
        except Exception as exc:
            _last_failure = (time.monotonic(), exc)
            raise RuntimeUnavailable(f"runtime unavailable ({type(exc).__name__})") from exc
        _last_failure = None
        return _runtime


def install_runtime(rt: Runtime | None) -> None:
    """Replace the process runtime (the devhost and tests use it); closes the old one."""
    global _runtime, _last_failure
    with _lock:
        old, _runtime = _runtime, rt
        _last_failure = None
    if old is not None and old is not rt:
        old.close()
