"""The devhost's function pool: sync functions on threads (as many as the worker runs),
answers and errors back on the loop, and no stall behind blocked threads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devhost.change_signal import FileSignal
from devhost.invocations import APP_THREAD_COUNT, FunctionPool, call_user_function, default_workers


def test_default_thread_count_follows_the_workers_setting():
    assert default_workers({"PYTHON_THREADPOOL_THREAD_COUNT": "3"}) == 3
    for nonsense in ("0", "33", "many", ""):
        assert default_workers({"PYTHON_THREADPOOL_THREAD_COUNT": nonsense}) == APP_THREAD_COUNT


def test_without_the_setting_the_devhost_runs_as_many_threads_as_the_app_deploys_with():
    """The devhost and Azure run the same width: the example settings carry the same value."""
    example = json.loads((Path(__file__).resolve().parents[2] / "local.settings.json.example").read_text())
    assert int(example["Values"]["PYTHON_THREADPOOL_THREAD_COUNT"]) == APP_THREAD_COUNT
    assert default_workers({}) == APP_THREAD_COUNT


def test_results_and_errors_come_back_and_sync_functions_run_off_the_loop():
    pool = FunctionPool(workers=2)
    loop_thread: list[int] = []

    def where() -> int:
        return threading.get_ident()

    def boom() -> None:
        raise ValueError("bad input")

    def stop() -> None:
        raise StopIteration

    async def main() -> tuple[int, int]:
        loop_thread.append(threading.get_ident())
        ran_on = await pool.submit(where, {})
        with pytest.raises(ValueError, match="bad input"):
            await pool.submit(boom, {})
        with pytest.raises(RuntimeError):  # an asyncio future cannot carry StopIteration itself
            await pool.submit(stop, {})
        return ran_on, await pool.submit(lambda x: x * 2, {"x": 21})

    ran_on, doubled = asyncio.run(main())
    assert ran_on != loop_thread[0] and doubled == 42


def test_busy_threads_stay_at_the_core_count():
    pool = FunctionPool(workers=2, max_workers=8, starved_after=0.5)

    def work() -> None:
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    async def main() -> None:
        await asyncio.gather(*(pool.submit(work, {}) for _ in range(200)))

    asyncio.run(main())
    assert pool.threads == 2  # always making progress: no extra thread


async def _seconds_to_serve_past(pool: FunctionPool, release: threading.Event,
                                 blockers: list[asyncio.Future[Any]]) -> float:
    """How long one more call takes while ``blockers`` hold threads; then lets them go."""
    started = time.perf_counter()
    assert await pool.submit(lambda: "served", {}) == "served"
    waited = time.perf_counter() - started
    release.set()
    await asyncio.gather(*blockers)
    return waited


def test_blocked_threads_get_company_so_work_does_not_stall():
    pool = FunctionPool(workers=2, max_workers=6, starved_after=0.02)
    release = threading.Event()

    async def main() -> float:
        blockers = [pool.submit(release.wait, {"timeout": 10}) for _ in range(2)]  # e.g. two long-polls
        return await _seconds_to_serve_past(pool, release, blockers)

    waited = asyncio.run(main())
    assert waited < 2.0 and pool.threads == 3


def test_threads_that_finish_and_then_block_on_queued_work_still_get_company():
    """A thread that finishes an item and takes a queued one looks free for a moment (it
    released the free-thread count); if the queued items were long-polls, every thread is
    now blocked, and the next call must still get a new thread within ``starved_after``,
    not wait for a long-poll to end (the dashboard's reads waited up to 25 s)."""
    pool = FunctionPool(workers=2, max_workers=6, starved_after=0.02)
    release = threading.Event()

    async def main() -> float:
        warm = [pool.submit(lambda: time.sleep(0.01), {}) for _ in range(2)]  # both threads busy briefly
        blockers = [pool.submit(release.wait, {"timeout": 10}) for _ in range(2)]  # queued behind them
        await asyncio.gather(*warm)
        await asyncio.sleep(0.1)  # both threads now sit in the long-polls they took from the queue
        return await _seconds_to_serve_past(pool, release, blockers)

    waited = asyncio.run(main())
    assert waited < 2.0


def test_a_cancelled_caller_does_not_break_the_pool():
    pool = FunctionPool(workers=1)

    async def main() -> str:
        slow = asyncio.ensure_future(pool.submit(time.sleep, {"secs": 0.05}))
        await asyncio.sleep(0)
        slow.cancel()
        return str(await pool.submit(lambda: "still serving", {}))

    assert asyncio.run(main()) == "still serving"


def test_async_functions_run_on_the_loop():
    async def here() -> int:
        return threading.get_ident()

    async def main() -> tuple[int, int]:
        return threading.get_ident(), await call_user_function(here, {})

    loop_ident, ran_on = asyncio.run(main())
    assert loop_ident == ran_on


def test_file_signal_is_shared_by_every_opener(tmp_path: Path):
    a, b = FileSignal(tmp_path / "s"), FileSignal(tmp_path / "s")
    try:
        before = b.read()
        a.bump()
        assert b.read() != before and b.read() == a.read()
    finally:
        a.close()
        b.close()


def test_reads_run_on_the_narrow_read_pool_and_everything_else_on_the_shared_one():
    from devhost import invocations

    def thread_name() -> str:
        return threading.current_thread().name

    async def main() -> tuple[str, str]:
        return (await call_user_function(thread_name, {}, reads=True),
                await call_user_function(thread_name, {}))

    read_thread, other_thread = asyncio.run(main())
    assert read_thread.startswith("read_") and other_thread.startswith("fn_")
    assert invocations._read_pool.workers == min(invocations.READ_THREADS, invocations._pool.workers)
