"""The durable worker: episodes, timers and activities over the SQLite store.

Why one background task on the host's event loop: the SDK's durable client caches
an aiohttp session bound to the first loop it sees, and async user code must run
on that one loop. Orchestrator replays and sync activities go to the thread pool
through ``call_user_function`` (as the Python worker runs them); async activities
run on the loop. The store is only touched from the loop thread.

Delivery is at-least-once, like the real backends: an episode commits atomically
after the replay returns, an activity's result is recorded atomically with the
removal of its work item, so a crash or ``stop()`` in between replays the episode
or re-runs the activity on the next ``start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import sqlite3
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp.web
import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.durable import episode
from devhost.durable.history import ActivityWork, HistoryStore, InstanceRecord
from devhost.durable.replay import (
    EventType,
    ReplayOutcome,
    build_context,
    format_timestamp,
    make_event,
    parse_failure,
    parse_result,
)
from devhost.invocations import call_user_function, log_invocation
from devhost.registry import FunctionSpec
from shared.adapters.clock import SystemClock
from shared.ports import Clock

log = logging.getLogger("devhost.durable")

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
CONNECTION_NAME = "Storage"
# Below the devhost's 16 pool threads, leaving room for replays and HTTP functions.
SYNC_ACTIVITY_CONCURRENCY = 8
# Backoff before an instance's episode is retried after a transient store error
# (e.g. "database is locked"): doubles from the first delay up to the cap.
TRANSIENT_RETRY_FIRST_S = 0.05
TRANSIENT_RETRY_MAX_S = 5.0


class DurableRuntime:
    """Runs the app's orchestrations and activities and serves the durable client API."""

    def __init__(
        self,
        db_path: Path,
        functions: Sequence[FunctionSpec],
        *,
        base_url: str,
        clock: Clock | None = None,
        task_hub: str = "halyard",
        poll_interval: float = 0.05,
    ) -> None:
        self.db_path = Path(db_path)
        self.orchestrators = {s.name: s for s in functions if s.kind == "orchestration"}
        self.activities = {s.name: s for s in functions if s.kind == "activity"}
        self.base_url = base_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.task_hub = task_hub
        self.poll_interval = poll_interval
        self._store: HistoryStore | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._activity_tasks: dict[int, asyncio.Task[None]] = {}
        # Sync activities share the worker thread pool with orchestrator replays (and
        # the rest of the devhost): cap them so slow ones cannot starve replays.
        self._sync_activity_slots: asyncio.Semaphore | None = None
        # Instances whose last episode hit a transient store error: (failures, retry at
        # time.monotonic()). Their inbox stays in place; the episode is retried later.
        self._transient_retry: dict[str, tuple[int, float]] = {}

    # --- the host-facing interface -------------------------------------------

    @property
    def rpc_base_url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}/"

    def query_suffix(self) -> str:
        return f"taskHub={quote(self.task_hub)}&connection={CONNECTION_NAME}"

    def management_urls(self, instance_id: str) -> dict[str, str]:
        """The host's HttpManagementPayload for one instance (placeholders kept)."""
        prefix = f"{self.base_url}{WEBHOOK_PATH}/instances/{instance_id}"
        qs = self.query_suffix()
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{qs}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{qs}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{qs}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{qs}",
            "purgeHistoryDeleteUri": f"{prefix}?{qs}",
            "restartPostUri": f"{prefix}/restart?{qs}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{qs}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{qs}",
        }

    def client_binding(self) -> str:
        """The JSON the host passes for a ``durableClient`` binding argument."""
        creation_prefix = f"{self.base_url}{WEBHOOK_PATH}/orchestrators/{{functionName}}[/{{instanceId}}]"
        qs = self.query_suffix()
        return json.dumps(
            {
                "taskHubName": self.task_hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{creation_prefix}?{qs}",
                    "createAndWaitOnNewInstancePostUri": (
                        f"{creation_prefix}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{qs}"
                    ),
                },
                "managementUrls": self.management_urls("INSTANCEID"),
                "rpcBaseUrl": self.rpc_base_url,
                "requiredQueryStringParameters": qs,
            }
        )

    def add_routes(self, app: aiohttp.web.Application) -> None:
        from devhost.durable.client_api import ClientApi

        ClientApi(self).add_routes(app)

    async def start(self) -> None:
        """Open the store and start the worker; pending work in the db is resumed."""
        if self._worker is not None:
            return
        self._store = HistoryStore(self.db_path)
        self._wake = asyncio.Event()
        self._sync_activity_slots = asyncio.Semaphore(SYNC_ACTIVITY_CONCURRENCY)
        self._wake.set()  # look at the db straight away
        self._worker = asyncio.create_task(self._run(), name="durable-worker")

    async def stop(self) -> None:
        """Stop the worker; in-flight activities are abandoned and re-run on restart."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        tasks = list(self._activity_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._activity_tasks.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- shared with the client API ---------------------------------------------

    @property
    def store(self) -> HistoryStore | None:
        """The open store, or None when the runtime is not started."""
        return self._store

    def notify(self) -> None:
        """Wake the worker: new events were queued."""
        if self._wake is not None:
            self._wake.set()

    # --- the worker -------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                busy = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("durable worker step failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _tick(self) -> bool:
        store = self._store
        assert store is not None
        now = self.clock.now()
        due = store.due_timers(format_timestamp(now))
        if due:
            store.fire_timers(
                [(t, make_event(EventType.TIMER_FIRED, now, TimerId=t.seq, FireAt=t.fire_at)) for t in due]
            )
        for work in store.pending_activities():
            if work.id not in self._activity_tasks:
                task = asyncio.create_task(self._run_activity(work))
                self._activity_tasks[work.id] = task
                task.add_done_callback(functools.partial(self._forget_activity, work.id))
        progressed = False
        waiting = store.instances_with_inbox()
        for gone in self._transient_retry.keys() - set(waiting):
            del self._transient_retry[gone]
        for instance_id in waiting:
            retry = self._transient_retry.get(instance_id)
            if retry is not None and time.monotonic() < retry[1]:
                continue
            try:
                progressed = await self._episode(instance_id) or progressed
                self._transient_retry.pop(instance_id, None)
            except asyncio.CancelledError:
                raise
            except sqlite3.OperationalError as exc:
                # The store was busy or failed to write (the episode's transaction was
                # rolled back): not the orchestration's fault. Its inbox is untouched, so
                # the episode replays on a later pass, after a backoff.
                failures = (retry[0] if retry else 0) + 1
                delay = min(TRANSIENT_RETRY_FIRST_S * 2 ** (failures - 1), TRANSIENT_RETRY_MAX_S)
                self._transient_retry[instance_id] = (failures, time.monotonic() + delay)
                log.warning(
                    "durable episode for %s hit a transient store error (%s); retrying in %.2fs",
                    instance_id,
                    exc,
                    delay,
                )
            except Exception as exc:
                # A bug here must not leave the instance silently stuck (or retried in a
                # tight loop): fail it with the error, visible in its status.
                log.exception("durable episode for %s failed", instance_id)
                self._fail_broken_instance(instance_id, exc)
                progressed = True
        return progressed or bool(due)

    def _fail_broken_instance(self, instance_id: str, exc: Exception) -> None:
        store = self._store
        assert store is not None
        inst = store.get_instance(instance_id)
        consumed = [m.id for m in store.inbox_for(instance_id)]
        if inst is None or inst.is_terminal:
            store.drop_inbox(consumed)
            return
        message = f"devhost durable runtime error: {type(exc).__name__}: {exc}"
        now = self.clock.now()
        started = make_event(EventType.ORCHESTRATOR_STARTED, now)
        store.commit_episode(episode.failed_commit(inst, [started], message, now, consumed))

    # --- activities ---------------------------------------------------------------------

    def _forget_activity(self, work_id: int, _task: asyncio.Task[None]) -> None:
        self._activity_tasks.pop(work_id, None)

    async def _call_activity(self, spec: FunctionSpec, decoded: Any) -> Any:
        kwargs = {spec.trigger_arg: decoded}
        slots = self._sync_activity_slots
        if inspect.iscoroutinefunction(spec.user_function) or slots is None:
            return await call_user_function(spec.user_function, kwargs)
        async with slots:
            return await call_user_function(spec.user_function, kwargs)

    async def _run_activity(self, work: ActivityWork) -> None:
        started = time.perf_counter()
        spec = self.activities.get(work.name)
        error: str | None = None
        if spec is None:
            known = ", ".join(sorted(self.activities)) or "none"
            error = f"The activity function '{work.name}' doesn't exist, is disabled, or is not an activity function."
            fields: dict[str, Any] = {"Reason": error, "Details": f"Known activities: {known}"}
            event_type = EventType.TASK_FAILED
        else:
            try:
                decoded = ActivityTriggerConverter.decode(
                    meta.Datum(work.input if work.input is not None else "null", "json"),
                    trigger_metadata=None,
                )
                result = await self._call_activity(spec, decoded)
                encoded = ActivityTriggerConverter.encode(result, expected_type=None)
                fields = {"Result": encoded.value}
                event_type = EventType.TASK_COMPLETED
            except asyncio.CancelledError:
                log_invocation(work.name, "activityTrigger", started, "abandoned", work.instance_id)
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                fields = {
                    "Reason": f"Activity function '{work.name}' failed: {error}",
                    "Details": "".join(traceback.format_exception(exc)),
                }
                event_type = EventType.TASK_FAILED
        log_invocation(
            work.name,
            "activityTrigger",
            started,
            "failed" if error else "succeeded",
            work.instance_id,
            error,
        )
        event = make_event(event_type, self.clock.now(), TaskScheduledId=work.seq, **fields)
        store = self._store
        if store is not None and store.complete_activity(work, event):
            self.notify()

    # --- episodes -----------------------------------------------------------------------

    async def _episode(self, instance_id: str) -> bool:
        """Deliver the instance's next batch of events; False if nothing could be done."""
        store = self._store
        assert store is not None
        inst = store.get_instance(instance_id)
        messages = store.inbox_for(instance_id)
        if inst is None or inst.is_terminal:
            # Late completions, events raced with the end: nothing can consume them.
            store.drop_inbox([m.id for m in messages])
            return bool(messages)
        live = [m for m in messages if m.execution_id in (None, inst.execution_id)]
        stale = [m.id for m in messages if m.execution_id not in (None, inst.execution_id)]
        now = self.clock.now()
        terminate = next((m for m in live if m.event.get("EventType") == EventType.EXECUTION_TERMINATED), None)
        if terminate is not None:
            reason = terminate.event.get("Input")
            commit = episode.terminated_commit(inst, reason, now, [m.id for m in messages])
            store.commit_episode(commit)
            return True
        history = store.load_history(instance_id)
        batch, drop = episode.select_batch(inst, live, bool(history))
        consumed = [m.id for m in batch] + [m.id for m in drop] + stale
        if not batch:
            if consumed:
                store.drop_inbox(consumed)
            return bool(consumed)
        new_events = [make_event(EventType.ORCHESTRATOR_STARTED, now), *(m.event for m in batch)]
        outcome = await self._replay(inst, history, new_events)
        commit = episode.decide(inst, new_events, outcome, now, consumed)
        store.commit_episode(commit)
        if commit.new_inbox:
            self.notify()
        return True

    async def _replay(
        self, inst: InstanceRecord, history: list[dict[str, Any]], new_events: list[dict[str, Any]]
    ) -> ReplayOutcome:
        """One call of the SDK's replay wrapper, logged as one invocation."""
        started = time.perf_counter()
        spec = self.orchestrators.get(inst.name)
        if spec is None:
            message = f"The function '{inst.name}' doesn't exist, is disabled, or is not an orchestrator function."
            log_invocation(inst.name, "orchestrationTrigger", started, "failed", inst.instance_id, message)
            return ReplayOutcome(False, [], None, message, None)
        context = func.OrchestrationContext(build_context(inst.instance_id, inst.input, history, new_events))
        try:
            text = await call_user_function(spec.user_function, {_context_arg(spec): context})
            outcome = parse_result(text)
        except Exception as exc:
            outcome = parse_failure(exc)
        log_invocation(
            inst.name,
            "orchestrationTrigger",
            started,
            "failed" if outcome.error else "succeeded",
            inst.instance_id,
            outcome.error,
        )
        return outcome


def _context_arg(spec: FunctionSpec) -> str:
    """The replay wrapper's parameter name (``context``), whatever the trigger arg is called."""
    try:
        params = list(inspect.signature(spec.user_function).parameters)
    except (TypeError, ValueError):
        params = []
    return params[0] if len(params) == 1 else spec.trigger_arg


__all__ = ["WEBHOOK_PATH", "DurableRuntime"]
