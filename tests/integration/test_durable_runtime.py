"""The devhost durable runtime, driven only through the unmodified DurableOrchestrationClient.

Each test serves the runtime's client endpoints on a loopback aiohttp server, builds
the client from ``client_binding()`` as the host would for an HTTP function, and
moves time with a ManualClock. All tests share one event loop, as the devhost does
(the SDK caches an aiohttp session bound to the first loop it sees).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest
from aiohttp import web
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.durable_functions.models.utils import http_utils

from devhost.durable import DurableRuntime
from devhost.invocations import call_user_function
from devhost.registry import read_functions
from shared.adapters.clock import ManualClock
from tests.integration import durable_test_app as test_app
from tests.support.sqlite_faults import CommitFailsOnce

SPECS = read_functions(test_app.app.get_functions())  # get_functions() may be called once
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


@pytest.fixture(scope="module")
def run() -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """Run coroutines on one long-lived loop, closing the SDK's cached session at the end."""
    loop = asyncio.new_event_loop()

    def _run(coro: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout=20))

    yield _run
    loop.run_until_complete(http_utils._close_session())
    loop.close()


@pytest.fixture(autouse=True)
def _reset_app_state() -> Iterator[None]:
    test_app.CALLS.clear()
    test_app.TOGGLE["activity"] = "add_one"
    yield
    test_app.TOGGLE["activity"] = "add_one"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(db: Path, clock: ManualClock) -> AsyncIterator[tuple[DurableRuntime, Any]]:
    port = _free_port()
    runtime = DurableRuntime(db, SPECS, base_url=f"http://127.0.0.1:{port}", clock=clock, poll_interval=0.01)
    app = web.Application()
    runtime.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await runtime.start()
    try:
        yield runtime, df.DurableOrchestrationClient(runtime.client_binding())
    finally:
        await runtime.stop()
        await runner.cleanup()


async def wait_until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def wait_status(client: Any, instance_id: str, *wanted: str, timeout: float = 5.0) -> Any:
    last: list[Any] = [None]

    async def check() -> Any:
        status = await client.get_status(instance_id)
        last[0] = status
        if status and status.runtime_status and status.runtime_status.value in wanted:
            return status
        return None

    try:
        return await wait_until(check, f"{instance_id} to be {wanted}", timeout)
    except AssertionError as exc:
        state = last[0].to_json() if last[0] else None
        raise AssertionError(f"{exc}; last status: {state}") from None


async def wait_custom_status(client: Any, instance_id: str, value: Any) -> None:
    async def check() -> bool:
        status = await client.get_status(instance_id)
        return bool(status) and status.custom_status == value

    await wait_until(check, f"{instance_id} custom status {value!r}")


def done(status: Any) -> bool:
    return status.runtime_status is OrchestrationRuntimeStatus.Completed


# --- activity, then an external event or a timer -----------------------------------


def test_event_before_timer_approves(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (runtime, client):
            iid = await client.start_new("approval_flow", None, {"item": "widget"})
            await wait_custom_status(client, iid, "waiting_for_decision")
            # The management URLs the SDK builds from the binding reach this server.
            request = func.HttpRequest("POST", "http://127.0.0.1/api/x", body=b"")
            links = json.loads(client.create_check_status_response(request, iid).get_body())
            status_url = links["statusQueryGetUri"].replace("http://127.0.0.1/", runtime.base_url + "/")
            async with aiohttp.ClientSession() as http, http.get(status_url) as resp:
                assert resp.status == 202
                assert (await resp.json())["runtimeStatus"] == "Running"
            await client.raise_event(iid, "decision", {"approved": True, "by": "ops"})
            status = await wait_status(client, iid, "Completed")
            assert status.output == {"status": "approved", "prepared": {"prepared": "widget"}, "by": "ops"}
            assert json.loads(status.input_) == {"item": "widget"}
            assert runtime.store is not None and runtime.store.count_timers(iid) == 0

    run(scenario())


def test_timer_before_event_expires_and_late_event_is_gone(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(START)
        async with serve(tmp_path / "d.db", clock) as (_, client):
            iid = await client.start_new("approval_flow", None, {"item": "gadget"})
            await wait_custom_status(client, iid, "waiting_for_decision")
            clock.advance(timedelta(minutes=59))
            await asyncio.sleep(0.05)
            assert (await client.get_status(iid)).runtime_status.value == "Running"
            clock.advance(timedelta(minutes=2))
            status = await wait_status(client, iid, "Completed")
            assert status.output["status"] == "expired"
            # current_utc_datetime is the clock time of the episode that made the timer.
            assert status.output["at"] == (START + timedelta(hours=1)).isoformat()
            with pytest.raises(Exception, match="is gone: either completed or failed"):
                await client.raise_event(iid, "decision", {"approved": True})

    run(scenario())


def test_http_function_with_durable_client_binding(run: Any, tmp_path: Path) -> None:
    """The host passes client_binding() text; the DFApp wrapper builds the client from it."""

    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (runtime, client):
            spec = next(s for s in SPECS if s.name == "http_start")
            assert spec.durable_client_arg == "client"
            request = func.HttpRequest(
                "POST",
                f"{runtime.base_url}/api/start/sequence",
                body=b"2",
                route_params={"name": "sequence"},
            )
            response = await call_user_function(
                spec.user_function,
                {spec.trigger_arg: request, spec.durable_client_arg: runtime.client_binding()},
            )
            assert response.status_code == 202
            links = json.loads(response.get_body())
            status = await wait_status(client, links["id"], "Completed")
            assert status.output == [3, 6, 7]
            async with aiohttp.ClientSession() as http, http.get(response.headers["Location"]) as resp:
                assert resp.status == 200
                assert (await resp.json())["output"] == [3, 6, 7]
            terminate_url = links["terminatePostUri"].replace("{text}", "late")
            async with aiohttp.ClientSession() as http, http.post(terminate_url) as resp:
                assert resp.status == 410

    run(scenario())


# --- sequences, fan-out, failures -----------------------------------------------------


def test_activity_sequence_passes_results_along(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            iid = await client.start_new("sequence", "seq-1", 5)
            assert iid == "seq-1"
            await wait_status(client, iid, "Completed")
            status = await client.get_status(iid, show_history=True, show_history_output=True)
            assert status.output == [6, 12, 13]
            completed = [e for e in status.historyEvents if e["EventType"] == "TaskCompleted"]
            assert [json.loads(e["Result"]) for e in completed] == [6, 12, 13]
            assert status.historyEvents[-1]["OrchestrationStatus"] == "Completed"

    run(scenario())


def test_task_all_fan_out(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            iid = await client.start_new("fan_out", None, 25)
            status = await wait_status(client, iid, "Completed")
            assert status.output["results"] == [i * i for i in range(25)]
            assert status.output["total"] == sum(i * i for i in range(25))

    run(scenario())


def test_failing_activity_caught_and_uncaught(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            caught = await client.start_new("failing_caught")
            uncaught = await client.start_new("failing_uncaught")
            unknown = await client.start_new("unknown_activity")
            status = await wait_status(client, caught, "Completed")
            assert "ValueError: boom-caught" in status.output["caught"]
            assert status.output["after"] == 42
            status = await wait_status(client, uncaught, "Failed")
            assert "Orchestrator function 'failing_uncaught' failed" in status.output
            assert "kaboom-uncaught" in status.output
            status = await wait_status(client, unknown, "Completed")
            assert "'no_such_activity' doesn't exist" in status.output["error"]

    run(scenario())


def test_retry_succeeds_on_third_attempt_and_gives_up_after_max(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(START)
        async with serve(tmp_path / "d.db", clock) as (_, client):

            async def retry_timers(iid: str, count: int) -> None:
                async def check() -> bool:
                    status = await client.get_status(iid, show_history=True)
                    events: list[dict[str, Any]] = status.historyEvents or []
                    return bool(sum(e["EventType"] == "TimerCreated" for e in events) == count)

                await wait_until(check, f"{count} retry timers")

            iid = await client.start_new("retrying", None, "k1")
            await retry_timers(iid, 1)
            await asyncio.sleep(0.05)
            assert test_app.CALLS["flaky:k1"] == 1  # the retry waits for the clock
            clock.advance(timedelta(seconds=29))
            await asyncio.sleep(0.05)
            assert test_app.CALLS["flaky:k1"] == 1
            clock.advance(timedelta(seconds=2))
            await retry_timers(iid, 2)
            assert test_app.CALLS["flaky:k1"] == 2
            clock.advance(timedelta(seconds=31))
            status = await wait_status(client, iid, "Completed")
            assert status.output == {"result": "ok after 3", "after": 2}
            assert test_app.CALLS["flaky:k1"] == 3

            failing = await client.start_new("retrying", None, "always-k2")
            for attempt in (1, 2, 3):
                await retry_timers(failing, attempt)
                clock.advance(timedelta(seconds=31))
            status = await wait_status(client, failing, "Failed")
            assert "attempt 3 failed" in status.output
            assert test_app.CALLS["flaky:always-k2"] == 3

    run(scenario())


def test_parallel_retries_keep_sequence_ids_in_step(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(START)
        async with serve(tmp_path / "d.db", clock) as (_, client):
            iid = await client.start_new("retry_fan_out")

            async def tick_until_done() -> Any:
                status = await client.get_status(iid)
                if status.runtime_status.value in ("Completed", "Failed"):
                    return status
                clock.advance(timedelta(seconds=2))
                return None

            status = await wait_until(tick_until_done, "retry fan-out")
            assert status.runtime_status.value == "Completed", status.output
            assert status.output == {
                "results": ["ok after 3", "ok after 3", "ok after 3", 11],
                "doubled": 42,
            }
            assert all(test_app.CALLS[f"flaky:fan-{i}"] == 3 for i in range(3))

    run(scenario())


def test_continue_as_new_restarts_with_new_input(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            iid = await client.start_new("counter", "counter-1", 0)
            status = await wait_status(client, iid, "Completed")
            assert status.output == {"final": 3}
            assert json.loads(status.input_) == 2  # the input of the last execution

    run(scenario())


# --- determinism and unsupported actions --------------------------------------------


def test_nondeterministic_orchestrator_fails_naming_both_actions(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            iid = await client.start_new("toggled")

            async def activity_done() -> bool:
                status = await client.get_status(iid, show_history=True)
                events: list[dict[str, Any]] = status.historyEvents or []
                return any(e["EventType"] == "TaskCompleted" for e in events)

            await wait_until(activity_done, "the first activity")
            test_app.TOGGLE["activity"] = "double"
            await client.raise_event(iid, "go", None)
            status = await wait_status(client, iid, "Failed")
            assert "NonDeterministicOrchestration" in status.output
            assert "TaskScheduled 'add_one'" in status.output
            assert "CallActivity 'double'" in status.output

    run(scenario())


def test_unsupported_action_fails_clearly(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            iid = await client.start_new("uses_sub_orchestrator")
            status = await wait_status(client, iid, "Failed")
            assert "CallSubOrchestrator 'sequence' is not supported" in status.output

    run(scenario())


# --- client API edges ------------------------------------------------------------------


def test_unknown_instance_and_unknown_orchestrator(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            assert not await client.get_status("missing")
            with pytest.raises(Exception, match="No instance with ID missing found"):
                await client.raise_event("missing", "go", 1)
            with pytest.raises(Exception, match="No instance with ID 'missing' found"):
                await client.terminate("missing", "why")
            assert (await client.purge_instance_history("missing")).instances_deleted == 0
            with pytest.raises(Exception, match="'nope' doesn't exist"):
                await client.start_new("nope")

    run(scenario())


def test_conflict_terminate_list_and_purge(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (_, client):
            await client.start_new("waiter", "w-1", 1)
            await client.start_new("sequence", "s-1", 1)
            with pytest.raises(Exception, match="already exists"):
                await client.start_new("waiter", "w-1", 1)
            await wait_status(client, "s-1", "Completed")
            await client.terminate("w-1", "operator said stop")
            status = await wait_status(client, "w-1", "Terminated")
            assert status.output == "operator said stop"
            with pytest.raises(Exception, match="is gone"):
                await client.raise_event("w-1", "go", 1)
            terminated = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Terminated])
            assert [s.instance_id for s in terminated] == ["w-1"]
            assert {s.instance_id for s in await client.get_status_all()} == {"w-1", "s-1"}
            assert (await client.purge_instance_history("w-1")).instances_deleted == 1
            assert not await client.get_status("w-1")
            # A finished id can be reused: the old instance is replaced.
            await client.start_new("sequence", "s-1", 10)
            status = await wait_status(client, "s-1", "Completed")
            assert status.output == [11, 22, 23]
            purged = await client.purge_instance_history_by(created_time_from=START - timedelta(days=1))
            assert purged.instances_deleted == 1
            assert await client.get_status_all() == []

    run(scenario())


# --- transient store errors -------------------------------------------------------------


def test_locked_database_on_episode_commit_is_retried(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient store error is not the orchestration's failure: the episode is replayed."""

    async def scenario() -> None:
        async with serve(tmp_path / "d.db", ManualClock(START)) as (runtime, client):
            store = runtime.store
            assert store is not None
            real_commit = store.commit_episode
            calls: list[int] = []
            wrapper = CommitFailsOnce(store._conn)

            def flaky_commit(commit: Any) -> None:
                calls.append(1)
                if len(calls) != 2:  # the episode delivering the first activity's result
                    return real_commit(commit)
                conn, store._conn = store._conn, wrapper  # type: ignore[assignment]
                try:
                    return real_commit(commit)
                finally:
                    store._conn = conn

            monkeypatch.setattr(store, "commit_episode", flaky_commit)
            iid = await client.start_new("sequence", None, 5)
            status = await wait_status(client, iid, "Completed", "Failed")
            assert wrapper.failed
            assert status.runtime_status.value == "Completed", status.output
            assert status.output == [6, 12, 13]
            status = await client.get_status(iid, show_history=True, show_history_output=True)
            kinds = [e["EventType"] for e in status.historyEvents]
            assert kinds.count("TaskScheduled") == 3  # the rolled-back episode left nothing
            assert kinds.count("TaskCompleted") == 3

    run(scenario())


# --- restarts ---------------------------------------------------------------------------------


def test_waiting_instance_survives_restart(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "d.db"
        clock = ManualClock(START)
        async with serve(db, clock) as (_, client):
            iid = await client.start_new("waiter", None, 41)

            async def first_done() -> bool:
                status = await client.get_status(iid, show_history=True)
                return any(e["EventType"] == "TaskCompleted" for e in status.historyEvents)

            await wait_until(first_done, "first activity")
        async with serve(db, clock) as (_, client):
            assert (await client.get_status(iid)).runtime_status.value == "Running"
            await client.raise_event(iid, "go", {"ok": 1})
            status = await wait_status(client, iid, "Completed")
            # raise_event double-encodes: the orchestrator got a JSON string and parsed it.
            assert status.output == {"first": 42, "got": {"ok": 1}}

    run(scenario())


def test_activity_interrupted_by_restart_is_rerun(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        db = tmp_path / "d.db"
        clock = ManualClock(START)
        async with serve(db, clock) as (_, client):
            iid = await client.start_new("interrupted", None, "r1")
            await wait_until(lambda: test_app.CALLS.get("slow:r1") == 1, "first attempt")
        async with serve(db, clock) as (_, client):
            status = await wait_status(client, iid, "Completed")
            assert status.output == "done on attempt 2"
            assert test_app.CALLS["slow:r1"] == 2

    run(scenario())
