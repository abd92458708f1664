"""The batch runner's policy: how messages are grouped into units, where a batch stops.

``run_batch`` is given a recording unit of work (it notes which messages ran inside
which unit) so the grouping itself can be checked; the store's own units are tested in
``tests/contract`` and end to end in ``tests/integration/test_execution_batches.py``.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Any

import pytest

from shared.services.batches import BatchStopped, run_batch


class Units:
    """Counts outermost units and the messages handled in each; ``wait`` is how long
    entering an outermost unit takes (another writer holding the lock)."""

    def __init__(self, wait: float = 0.0) -> None:
        self.wait = wait
        self.depth = 0
        self.units: list[list[int]] = []

    def __call__(self) -> AbstractContextManager[bool]:
        units = self

        class Scope(AbstractContextManager[bool]):
            def __enter__(self) -> bool:
                if units.depth == 0:
                    time.sleep(units.wait)
                    units.units.append([])
                units.depth += 1
                return True

            def __exit__(self, *exc: object) -> None:
                units.depth -= 1

        return Scope()

    def handle(self, data: Any) -> int:
        if data.get("fail"):
            raise ValueError(f"message {data['n']} is bad")
        self.units[-1].append(data["n"])
        return int(data["n"])


def bodies(n: int, bad: tuple[int, ...] = (), local: bool = True) -> list[str]:
    return [json.dumps({"n": i, "fail": i in bad, "local": local}) for i in range(n)]


def run(units: Units, batch: list[str], **kw: Any) -> list[int]:
    options: dict[str, Any] = {"max_unit_messages": 4, "max_unit_seconds": 10.0}
    options.update(kw)
    return run_batch(batch, handle=units.handle, groupable=lambda d: bool(d["local"]), unit_of_work=units,
                     **options)


def test_messages_run_in_order_in_units_of_at_most_the_cap():
    units = Units()
    assert run(units, bodies(10)) == list(range(10))
    assert units.units == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_messages_that_cannot_share_a_unit_run_alone():
    units = Units()
    results = run_batch(bodies(3, local=False), handle=lambda d: d["n"], groupable=lambda d: bool(d["local"]),
                        unit_of_work=units, max_unit_messages=4, max_unit_seconds=10.0)
    assert results == [0, 1, 2] and units.units == []  # no unit opened at all


def test_the_time_budget_starts_once_the_unit_holds_the_lock():
    units = Units(wait=0.03)  # every unit first waits 30 ms for another writer
    run(units, bodies(6), max_unit_messages=100, max_unit_seconds=0.02)
    assert units.units == [[0, 1, 2, 3, 4, 5]]  # the wait did not eat the unit's 20 ms


def test_a_failure_stops_the_batch_and_keeps_what_ran_before():
    units = Units()
    with pytest.raises(BatchStopped) as stopped:
        run(units, bodies(6, bad=(2,)))
    assert stopped.value.index == 2 and list(stopped.value.failures) == [2]
    assert isinstance(stopped.value.__cause__, ValueError)
    assert units.units == [[0, 1]]


def test_on_the_last_delivery_a_failure_does_not_hold_back_the_rest():
    units = Units()
    with pytest.raises(BatchStopped) as stopped:
        run(units, bodies(6, bad=(1, 3)), last_delivery=[True] * 6)
    assert stopped.value.index == 1 and sorted(stopped.value.failures) == [1, 3]
    assert [n for unit in units.units for n in unit] == [0, 2, 4, 5]
