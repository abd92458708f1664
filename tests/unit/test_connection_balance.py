"""The workers' shared connection counts: each writes its own slot, reads the others'."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost import connection_balance
from devhost.connection_balance import ConnectionCounts


def test_a_worker_yields_only_to_one_holding_fewer(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 3)
    a, b, c = (ConnectionCounts(path, i, 3) for i in range(3))
    assert a.fewest_elsewhere() == 0 and not a.should_yield(0)
    a.publish(2)
    b.publish(1)
    c.publish(1)
    assert a.should_yield(2) and not b.should_yield(1) and not c.should_yield(1)
    assert a.fewest_elsewhere() == 1 and b.fewest_elsewhere() == 1
    c.publish(5)
    assert b.fewest_elsewhere() == 2 and not b.should_yield(1)
    for counts in (a, b, c):
        counts.close()


def test_a_single_worker_never_yields(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 1)
    only = ConnectionCounts(path, 0, 1)
    only.publish(100)
    assert only.fewest_elsewhere() is None and not only.should_yield(100)
    only.close()


def test_an_index_outside_the_workers_is_refused(tmp_path: Path):
    path = tmp_path / "balance"
    connection_balance.create(path, 2)
    with pytest.raises(ValueError):
        ConnectionCounts(path, 2, 2)
