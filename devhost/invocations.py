"""Calling user functions the way the worker does, with one log line per invocation.

Sync functions run in a thread pool (as the Python worker does), async ones on the
host's single long-lived event loop (the durable client caches an aiohttp session bound
to the first loop it sees).

Why a pool of our own rather than ``loop.run_in_executor``: the stock path wraps every
call in a ``concurrent.futures.Future`` (a lock and a condition each), chains it to an
asyncio future and takes the executor's shutdown locks, about 20 µs of the GIL per call
under load on this kind of machine, as much as a cached API read itself. Here a call is
one ``SimpleQueue.put`` and one ``call_soon_threadsafe`` back.

How many threads: as many as the Python worker runs for this app, its app setting
``PYTHON_THREADPOOL_THREAD_COUNT`` (1..32). The product runs with ``APP_THREAD_COUNT``
(16: README's deploy section sets it as an app setting on Azure, and
``local.settings.json.example`` carries it for ``func start``), so the devhost takes
that value when the variable is unset; the worker's own default,
``min(32, cpus + 4)``, is 6 on a 2-core machine. Why more threads than cores: an API
write spends most of its time in a thread waiting, not running (its queue send waits
~5 ms for a group commit and its fsync, here as for a Cosmos DB or Service Bus round
trip on Azure, for ~0.6 ms of CPU), and the sends waiting together share one commit.
With 50 clients writing through two HTTP workers, 6 threads each left requests queued
behind threads that were only waiting: 16 moved the write p95 from ~50 to ~42 ms and
its p50 from ~27 to ~22 ms, and CPU per write from ~980 to ~840 µs (bigger groups,
fewer commits; medians of 3 A/B runs of ``bench/api.py``'s load, fresh devhost each;
reads, on their own pool, did not move).
A thread may also just wait long (a long-poll for 25 s, a slow exchange), and the
devhost must not stall behind a few of those: when work has waited ``STARVED_AFTER``
seconds with no thread free, one more thread starts, up to ``MAX_WORKERS``. Threads
never exit.

Why reads get a pool of their own (``reads=True``: the HTTP hosts send GET and HEAD
there): a read does not wait on a lock or an fsync (SQLite WAL readers never wait for
writers), so it is Python work from start to end, and more reads at once than
``READ_THREADS`` only hand the GIL around: with 50 clients reading positions through two
HTTP workers, this pool moved the read p95 from ~22.5 to ~20.8 ms (CPU per read ~365 to
~360 µs; ``bench/api.py``'s client, medians of 3 A/B runs, within this VM's noise of
±10 %). A write waits on the file's write turn and its fsync, so the shared pool keeps its width
for writes: their commits group. A long-poll read that waits still gets company from the
watchdog, as in the shared pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

log = logging.getLogger("devhost.invocation")

MAX_WORKERS: Final = 32
STARVED_AFTER: Final = 0.05
THREAD_COUNT_SETTING: Final = "PYTHON_THREADPOOL_THREAD_COUNT"
READ_THREADS: Final = 2
APP_THREAD_COUNT: Final = 16  # the value the product deploys with (see the module docstring)


def default_workers(env: Mapping[str, str] | None = None) -> int:
    """The app setting when valid (1..32), else the value the product deploys with."""
    raw = (os.environ if env is None else env).get(THREAD_COUNT_SETTING, "").strip()
    if raw.isdigit() and 1 <= int(raw) <= MAX_WORKERS:
        return int(raw)
    return APP_THREAD_COUNT

_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], Mapping[str, Any]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile; nobody waits for this answer
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, StopIteration):  # an asyncio future refuses it as an exception
        future.set_exception(RuntimeError(f"function raised {type(error).__name__}"))
    else:
        future.set_exception(error)


class FunctionPool:
    """Runs sync callables on worker threads and answers on the caller's event loop.

    ``workers`` threads start on demand; past them, a watchdog adds one thread (up to
    ``max_workers``) whenever work is queued and no thread has picked any up for
    ``starved_after`` seconds, i.e. when every thread is blocked rather than busy.
    """

    def __init__(self, workers: int | None = None, max_workers: int = MAX_WORKERS, *,
                 starved_after: float = STARVED_AFTER, name: str = "fn") -> None:
        self.workers = default_workers() if workers is None else workers
        if not 1 <= self.workers <= max_workers:
            raise ValueError("need 1 <= workers <= max_workers")
        self.max_workers = max_workers
        self.starved_after = starved_after
        self._name = name
        self._work: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # released by a worker each time it finishes an item
        self._spawn_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._last_pickup = time.monotonic()
        self._pressure = threading.Event()  # set when work found no free thread at the ceiling
        self._watchdog: threading.Thread | None = None

    @property
    def threads(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._work.put((loop, future, fn, kwargs))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self.workers:  # no thread free
            self._spawn(self.workers)
        elif len(self._threads) < self.max_workers:
            # The free-thread count is only a hint: a thread that finished an item and took
            # a queued one (a long-poll, say) still counts as free. So at the ceiling the
            # watchdog always looks (a flag set; it checks every ``starved_after`` at most).
            self._watch()
        return future

    def _spawn(self, ceiling: int) -> None:
        with self._spawn_lock:
            if len(self._threads) >= ceiling:
                return
            thread = threading.Thread(target=self._worker, name=f"{self._name}_{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _watch(self) -> None:
        # Already set: the watchdog will look anyway (it clears the flag, then checks the
        # queue, where this call's work already is), so skip the Event's lock.
        if not self._pressure.is_set():
            self._pressure.set()
        if self._watchdog is None:
            with self._spawn_lock:
                if self._watchdog is None:
                    self._watchdog = threading.Thread(target=self._watchdog_loop, name=f"{self._name}_watchdog",
                                                      daemon=True)
                    self._watchdog.start()

    def _watchdog_loop(self) -> None:
        while len(self._threads) < self.max_workers:
            self._pressure.wait()
            time.sleep(self.starved_after)
            self._pressure.clear()
            if self._work.qsize() == 0:
                continue
            if time.monotonic() - self._last_pickup >= self.starved_after:
                self._spawn(self.max_workers)
            self._pressure.set()  # work still queued: look again after the next interval

    def _worker(self) -> None:
        while True:
            loop, future, fn, kwargs = self._work.get()
            self._last_pickup = time.monotonic()
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(**kwargs)
            except BaseException as exc:  # handed to the awaiting caller, as an executor would
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to answer
                loop.call_soon_threadsafe(_settle, future, result, error)
            del loop, future, fn, kwargs, result, error
            self._idle.release()


_pool = FunctionPool()
_read_pool = FunctionPool(workers=min(READ_THREADS, _pool.workers), name="read")


async def call_user_function(fn: Callable[..., Any], kwargs: Mapping[str, Any], *, reads: bool = False) -> Any:
    """Await ``fn(**kwargs)``: on the loop when it is async, else on a pool thread (the
    read pool when ``reads``: a GET or HEAD)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await (_read_pool if reads else _pool).submit(fn, kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def log_invocation(
    function: str,
    trigger: str,
    started: float,
    outcome: str,
    request_id: str | None = None,
    error: str | None = None,
) -> None:
    """One structured line per invocation: function, trigger, duration, outcome, request id."""
    if not log.isEnabledFor(logging.INFO):
        return
    record: dict[str, Any] = {
        "event": "invocation",
        "function": function,
        "trigger": trigger,
        "durationMs": round((time.perf_counter() - started) * 1000, 2),
        "outcome": outcome,
        "requestId": request_id,
    }
    if error:
        record["error"] = error
    # makeRecord + handle: the same record and handlers as log.info, without the stack
    # walk that looks up the caller's file and line (no format here prints them).
    log.handle(log.makeRecord(log.name, logging.INFO, "", 0, json.dumps(record, separators=(",", ":")), (), None))
