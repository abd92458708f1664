"""Timer triggers on their NCRONTAB schedules (six fields, seconds first), optionally faster.

``speed`` compresses schedule time: at speed 60 a once-a-minute timer fires every
second. Each firing gets a ``TimerRequest`` with the schedule status the host would
send (last, next). ``fire_now`` runs one immediately (the admin endpoint uses it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.invocations import call_user_function, log_invocation
from devhost.registry import FunctionSpec

log = logging.getLogger("devhost.timers")


class ScheduleError(ValueError):
    """An NCRONTAB expression the devhost cannot read (names the function)."""


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """Next time strictly after ``after`` for a six-field NCRONTAB expression."""
    fields = schedule.split()
    if len(fields) != 6:
        raise ScheduleError(f"NCRONTAB {schedule!r} must have 6 fields (second minute hour day month weekday)")
    it = croniter(schedule, after, second_at_beginning=True)
    result: datetime = it.get_next(datetime)
    return result.astimezone(UTC)


class TimerScheduler:
    def __init__(self, specs: list[FunctionSpec], *, speed: float = 1.0,
                 durable_binding: Callable[[], str] | None = None) -> None:
        """``durable_binding`` serves timers that take the durable client (``starter`` of
        an orchestration), as the Functions host binds it for them."""
        if speed <= 0:
            raise ValueError("timer speed must be positive")
        self.durable_binding = durable_binding
        self.specs = {s.name: s for s in specs}
        self.speed = speed
        self._tasks: list[asyncio.Task[None]] = []
        self._last: dict[str, datetime] = {}
        self._origin_real = time.monotonic()
        self._origin_virtual = datetime.now(UTC)
        for spec in specs:  # fail at start-up, not at the first firing
            assert spec.schedule is not None
            try:
                next_occurrence(spec.schedule, self._origin_virtual)
            except (ValueError, KeyError) as exc:
                raise ScheduleError(f"timer {spec.name}: {exc}") from exc

    def virtual_now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin_real) * self.speed
        return self._origin_virtual + timedelta(seconds=elapsed)

    async def start(self) -> None:
        for spec in self.specs.values():
            self._tasks.append(asyncio.create_task(self._loop(spec), name=f"timer:{spec.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def fire_now(self, name: str) -> str:
        spec = self.specs[name]
        return await self._invoke(spec, past_due=False)

    async def _loop(self, spec: FunctionSpec) -> None:
        assert spec.schedule is not None
        if spec.run_on_startup:
            await self._invoke(spec, past_due=False)
        while True:
            now = self.virtual_now()
            due = next_occurrence(spec.schedule, now)
            await asyncio.sleep(max(0.0, (due - now).total_seconds() / self.speed))
            await self._invoke(spec, past_due=False)

    async def _invoke(self, spec: FunctionSpec, *, past_due: bool) -> str:
        assert spec.schedule is not None
        now = self.virtual_now()
        last = self._last.get(spec.name)
        request = TimerRequest(
            past_due=past_due,
            schedule_status={
                "Last": last.isoformat() if last else None,
                "Next": next_occurrence(spec.schedule, now).isoformat(),
                "LastUpdated": now.isoformat(),
            },
            schedule={"AdjustForDST": False},
        )
        started = time.perf_counter()
        try:
            kwargs: dict[str, Any] = {spec.trigger_arg: request}
            if spec.durable_client_arg:
                if self.durable_binding is None:
                    raise RuntimeError(f"timer {spec.name} needs the durable client, which this host lacks")
                kwargs[spec.durable_client_arg] = self.durable_binding()
            await call_user_function(spec.user_function, kwargs)
        except Exception as exc:
            log.exception("timer %s failed", spec.name)
            log_invocation(spec.name, "timer", started, "failed", None, f"{type(exc).__name__}: {exc}")
            return "failed"
        finally:
            self._last[spec.name] = now
        log_invocation(spec.name, "timer", started, "succeeded")
        return "succeeded"
