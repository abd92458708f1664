"""The per-user write budget: burst, Retry-After, refill, isolation, shared across threads."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_store import SqliteStore
from shared.auth.principal import Principal, Role
from shared.ports import Store, StoreUnavailable
from shared.services.rate_limit import RateLimiter, bucket_id


def user(name: str, tenant: str = "t1") -> Principal:
    return Principal(user_id=name, tenant_id=tenant, roles=frozenset({Role.TRADER}))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def limiter(store: Store, clock: ManualClock, capacity: int = 30, rate: float = 5.0) -> RateLimiter:
    return RateLimiter(lambda: store, lambda: clock, capacity=capacity, refill_per_second=rate)


def test_burst_up_to_capacity_then_retry_after_matches_refill(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock)
    alice = user("alice")
    assert [limit(alice) for _ in range(30)] == [None] * 30
    wait = limit(alice)
    assert wait == pytest.approx(1 / 5.0)
    clock.advance(0.1)
    assert limit(alice) == pytest.approx(0.1)


def test_refills_over_time_but_never_beyond_capacity(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock, capacity=10, rate=2.0)
    bob = user("bob")
    for _ in range(10):
        assert limit(bob) is None
    assert limit(bob) is not None
    clock.advance(1.0)  # two tokens back
    assert limit(bob) is None
    assert limit(bob) is None
    assert limit(bob) is not None
    clock.advance(3600)  # a long idle refills to capacity, not more
    assert [limit(bob) for _ in range(10)] == [None] * 10
    assert limit(bob) is not None


def test_denied_calls_do_not_spend_or_write(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock, capacity=1, rate=1.0)
    carol = user("carol")
    assert limit(carol) is None
    etag = store.container("leases").read(bucket_id("carol"), bucket_id("carol"))["_etag"]
    for _ in range(5):
        assert limit(carol) == pytest.approx(1.0)
    assert store.container("leases").read(bucket_id("carol"), bucket_id("carol"))["_etag"] == etag
    clock.advance(1.0)
    assert limit(carol) is None


def test_separate_users_have_separate_buckets(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock, capacity=3)
    for _ in range(3):
        assert limit(user("dave")) is None
    assert limit(user("dave")) is not None
    assert [limit(user("erin")) for _ in range(3)] == [None] * 3


def test_bucket_documents_expire_and_unsafe_ids_are_hashed(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock, capacity=30, rate=5.0)
    assert limit(user("tenant/user?x#1")) is None
    doc_id = bucket_id("tenant/user?x#1")
    assert doc_id.startswith("ratelimit:sha256-") and "/" not in doc_id
    doc = store.container("leases").read(doc_id, doc_id)
    assert doc["ttl"] == limit.ttl_seconds >= 30 / 5.0
    assert bucket_id("alice@example.com") == "ratelimit:alice@example.com"


def test_concurrent_threads_never_exceed_capacity(store: SqliteStore, clock: ManualClock):
    limit = limiter(store, clock, capacity=20, rate=0.001)
    frank = user("frank")
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            ok = limit(frank) is None
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 80
    assert sum(allowed) <= 20
    assert sum(allowed) >= 1


def test_two_limiters_on_one_store_share_the_budget(store: SqliteStore, clock: ManualClock):
    """Two function instances: each has its own limiter object, the store holds one budget."""
    a, b = limiter(store, clock, capacity=4), limiter(store, clock, capacity=4)
    gina = user("gina")
    assert [a(gina), b(gina), a(gina), b(gina)] == [None] * 4
    assert a(gina) is not None and b(gina) is not None


class BrokenStore:
    def container(self, name: str):
        raise StoreUnavailable("cosmos://secret-host unreachable")

    def ping(self) -> None:
        raise StoreUnavailable("down")

    def unit_of_work(self) -> contextlib.AbstractContextManager[bool]:
        raise StoreUnavailable("down")

    def close(self) -> None:
        pass


def test_store_failure_allows_the_call_and_warns(clock: ManualClock, caplog: pytest.LogCaptureFixture):
    limit = RateLimiter(lambda: BrokenStore(), lambda: clock)
    with caplog.at_level(logging.WARNING, logger="halyard.rate_limit"):
        assert limit(user("hank")) is None
    assert "StoreUnavailable" in caplog.text
    assert "secret-host" not in caplog.text


def test_rejects_nonsense_settings(store: SqliteStore, clock: ManualClock):
    with pytest.raises(ValueError):
        limiter(store, clock, capacity=0)
    with pytest.raises(ValueError):
        limiter(store, clock, rate=0)
