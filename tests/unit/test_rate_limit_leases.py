"""Leased tokens: fewer store writes, and never a looser budget than one write per call."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_store import SqliteStore
from shared.auth.principal import Principal, Role
from shared.services.rate_limit import RateLimiter, bucket_id


def user(name: str) -> Principal:
    return Principal(user_id=name, tenant_id="t1", roles=frozenset({Role.TRADER}))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


def test_a_burst_writes_the_bucket_a_few_times_not_once_per_call(store: SqliteStore):
    clock = ManualClock()
    limit = RateLimiter(lambda: store, lambda: clock, capacity=30, refill_per_second=5.0)
    assert [limit(user("ann")) for _ in range(30)] == [None] * 30
    assert limit(user("ann")) == pytest.approx(0.2)
    assert limit.store_writes <= 12  # 5-token leases while plenty is left, single tokens near the end
    assert store.container("leases").read(bucket_id("ann"), bucket_id("ann"))["tokens"] == pytest.approx(0.0)


def test_unspent_leased_tokens_lapse_before_the_bucket_could_refill_them(store: SqliteStore):
    clock = ManualClock()
    limit = RateLimiter(lambda: store, lambda: clock, capacity=30, refill_per_second=5.0)
    assert limit(user("bo")) is None  # takes a lease of 5: 4 kept here, 25 left in the bucket
    clock.advance(1.1)  # the bucket is full again (capped at 30): the 4 kept tokens must be gone
    allowed = 0
    while limit(user("bo")) is None:
        allowed += 1
    assert allowed == 30


def test_a_lease_takes_at_most_half_of_what_is_left(store: SqliteStore):
    clock = ManualClock()
    a = RateLimiter(lambda: store, lambda: clock, capacity=4, refill_per_second=5.0)
    b = RateLimiter(lambda: store, lambda: clock, capacity=4, refill_per_second=5.0)
    assert a(user("cy")) is None  # took 2 of 4
    assert b(user("cy")) is None  # took 1 of the 2 left
    assert b(user("cy")) is None  # the last one
    assert b(user("cy")) is not None
    assert a(user("cy")) is None  # a still had one leased token
    assert a(user("cy")) is not None


@pytest.mark.parametrize("seed", range(8))
def test_instances_sharing_a_bucket_never_exceed_capacity_plus_refill(store: SqliteStore, seed: int):
    """Random calls from three instances over time: what all allow together stays within
    the token bucket's promise at every moment."""
    rng = random.Random(seed)
    clock = ManualClock()
    capacity, rate = 10, 2.0
    limiters = [RateLimiter(lambda: store, lambda: clock, capacity=capacity, refill_per_second=rate)
                for _ in range(3)]
    elapsed, allowed = 0.0, 0
    for _ in range(400):
        step = rng.choice([0.0, 0.0, 0.01, 0.05, 0.3, 1.0, 4.0])
        clock.advance(step)
        elapsed += step
        if rng.choice(limiters)(user("dee")) is None:
            allowed += 1
        assert allowed <= capacity + rate * elapsed + 1e-9


def test_denied_calls_keep_no_lease_and_report_the_buckets_wait(store: SqliteStore):
    clock = ManualClock()
    limit = RateLimiter(lambda: store, lambda: clock, capacity=2, refill_per_second=1.0)
    assert limit(user("eve")) is None and limit(user("eve")) is None
    writes = limit.store_writes
    assert limit(user("eve")) == pytest.approx(1.0)
    assert limit.store_writes == writes
    clock.advance(0.5)
    assert limit(user("eve")) == pytest.approx(0.5)


def test_nonsense_lease_is_refused(store: SqliteStore):
    with pytest.raises(ValueError):
        RateLimiter(lambda: store, ManualClock, lease=0)
