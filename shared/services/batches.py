"""Running a batch of queue messages in order, grouped into units of work.

Why: a ``cardinality="many"`` Functions trigger hands over many messages at once (on a
session queue: one session's, in send order). Running them in few store units of work
turns many commits into one. The host completes the whole batch when the function
returns and abandons the whole batch when it raises: the Python worker has no
per-message settlement. Hence the failure policy:

* A failing message stops the batch there (later messages of the session must not
  overtake it): the messages before it stay recorded, the batch is redelivered, and
  they come back as duplicates, which the idempotent handlers answer without acting.
* Except on a message's last delivery: there, stopping would take every later message
  of the batch to the dead-letter queue without it ever being tried. So the batch goes
  on past it, then still raises, and the failing message is dead-lettered with its error
  recorded (the others of that delivery are dead-lettered too; they were handled).

``BatchStopped`` says which messages failed and why, so the entry point can record
each failure against its own message (``failures``, read by the dead-letter watcher).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

_T = TypeVar("_T")


class BatchStopped(Exception):
    """Message ``index`` of the batch failed (the first; ``failures`` has them all, by
    index); the messages before it were handled and recorded."""

    def __init__(self, index: int, message: str, failures: dict[int, BaseException] | None = None) -> None:
        super().__init__(f"message {index} of the batch failed: {message}")
        self.index = index
        self.failures: dict[int, BaseException] = dict(failures or {})


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_batch(
    bodies: Sequence[str],
    *,
    handle: Callable[[Any], _T],
    groupable: Callable[[Any], bool],
    unit_of_work: Callable[[], AbstractContextManager[bool]],
    last_delivery: Sequence[bool] | None = None,
    max_unit_messages: int,
    max_unit_seconds: float,
) -> list[_T]:
    """Handle each body (parsed JSON) in order; runs of ``groupable`` messages share one
    unit of work (at most ``max_unit_messages`` messages or ``max_unit_seconds``), each
    message in a nested unit so a failure undoes that message only.

    Returns the results of the messages handled; raises ``BatchStopped`` as above.
    """
    final = list(last_delivery) if last_delivery is not None else [False] * len(bodies)
    results: list[_T] = []
    failures: dict[int, BaseException] = {}
    index = 0
    while index < len(bodies):
        first, kept = index, len(results)
        stop: BaseException | None = None
        try:
            with unit_of_work() if _parsed_groupable(bodies[index], groupable) else _Alone() as grouped:
                started = time.monotonic()  # from holding the lock, not from queueing for it
                while index < len(bodies):
                    try:
                        data = json.loads(bodies[index])
                        if index > first and not (grouped and groupable(data)):
                            break
                        with unit_of_work() if grouped else _Alone():  # a savepoint: undoes this one only
                            results.append(handle(data))
                    except Exception as exc:
                        failures[index] = exc
                        if not final[index]:
                            stop = exc
                            break
                    index += 1
                    if not grouped or index - first >= max_unit_messages \
                            or time.monotonic() - started >= max_unit_seconds:
                        break
        except Exception as exc:  # the commit failed: nothing this unit ran is recorded
            del results[kept:]
            raise BatchStopped(first, describe(exc), {**failures, first: exc}) from exc
        if stop is not None:
            break
    if failures:
        first_failed = min(failures)
        raise BatchStopped(first_failed, describe(failures[first_failed]), failures) from failures[first_failed]
    return results


def _parsed_groupable(body: str, groupable: Callable[[Any], bool]) -> bool:
    try:
        return groupable(json.loads(body))
    except Exception:
        return False  # it fails again, alone, where its error is recorded


class _Alone(AbstractContextManager[bool]):
    """No unit of work: a message whose effects must not wait for a commit (a live
    exchange's), or one that is not grouped. Says False, like a no-op unit."""

    def __enter__(self) -> bool:
        return False

    def __exit__(self, *exc: object) -> None:
        return None
