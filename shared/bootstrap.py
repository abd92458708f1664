"""The one place that picks adapters from configuration.

Function entrypoints call ``runtime()`` and get the store, the queue broker and the
clock for the configured mode; nothing else in the code knows which adapter is behind a
port. Built lazily once per process (the Functions worker keeps the process warm).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from shared.config import Settings, load_settings
from shared.ports import Clock, QueueBroker, Store
from shared.product import ProductInfo, product_info

STORE_FILE = "store.sqlite"
QUEUE_FILE = "queue.sqlite"
DURABLE_FILE = "durable.sqlite"


@dataclass
class Runtime:
    settings: Settings
    product: ProductInfo
    store: Store
    broker: QueueBroker
    clock: Clock

    def close(self) -> None:
        self.store.close()
        self.broker.close()


class RuntimeUnavailable(RuntimeError):
    """The adapters could not be built (bad config, unreachable store); the message names
    only the cause's type, never its text, which may hold connection details."""


RETRY_BUILD_AFTER_SECONDS = 5.0

_lock = threading.Lock()
_runtime: Runtime | None = None
_last_failure: tuple[float, BaseException] | None = None


def build_runtime(settings: Settings) -> Runtime:
    from shared.adapters.clock import SystemClock

    clock = SystemClock()
    store: Store
    broker: QueueBroker
    if settings.mode == "embedded":
        from shared.adapters.sqlite_queue import SqliteQueueBroker
        from shared.adapters.sqlite_store import SqliteStore

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(settings.data_dir / STORE_FILE, clock=clock)
        broker = SqliteQueueBroker(settings.data_dir / QUEUE_FILE, clock=clock)
    else:
        from shared.adapters.cosmos_store import CosmosStore
        from shared.adapters.servicebus_queue import ServiceBusBroker

        store = CosmosStore.from_settings(settings)
        broker = ServiceBusBroker.from_settings(settings)
    return Runtime(settings=settings, product=product_info(), store=store, broker=broker, clock=clock)


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
