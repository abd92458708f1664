"""A per-user token bucket for write endpoints, kept in the store so instances share it.

Why in the store: the Function App scales out, so an in-memory bucket would give each
instance its own budget and a user N times the limit. One document per user in
``leases`` (partition key ``/id``) is read and replaced under its etag
(``update_document``), so concurrent instances spend one shared budget. The document
carries a ``ttl``: once a bucket has been idle long enough to refill it is identical to
a missing one, so the store may drop it.

Why it fails open: rate limiting is a courtesy against runaway clients; the safety
mechanisms are the halts and the risk checks, which fail closed on their own. If the
limiter's document cannot be read or written (throttling, an outage), failing closed
would also block the operator's halt and kill-switch writes, which are writes too. So
the call is allowed and a warning is logged; a write that needs the broken store then
fails loudly on its own.
Contention is not a store failure: a bucket that keeps changing under us means the
same user is hammering it from many instances, so that call is refused briefly.

Why tokens are taken a few at a time: one store write per API write was the largest
cost of a write after the queue send (an fsync'd commit on the store's single write
lock, which the execution function needs too). So a limiter takes up to ``lease``
tokens in one write (never more than half of what is left, so other instances still
get some, and one at a time near the limit) and spends the rest locally. The shared
budget stays exact: tokens leave the bucket before they are spent, and a leased token
lapses after ``tokens / refill_per_second`` seconds, shorter than the bucket needs to
refill them, so the bucket's cap can never hand out more than a lease-less limiter
would. A lapsed, unspent token is simply lost (stricter, never looser).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from shared.auth.principal import Principal
from shared.ports import Clock, Store
from shared.services.optimistic import KeptChanging, update_document

log = logging.getLogger("halyard.rate_limit")

CONTAINER: Final = "leases"
KEY_PREFIX: Final = "ratelimit:"
TTL_MARGIN_SECONDS: Final = 60
LEASE_TOKENS: Final = 5
MAX_LOCAL_USERS: Final = 4096
_SAFE_ID = re.compile(r"^[A-Za-z0-9._@:-]{1,200}$")


class _Denied(Exception):
    """Raised from inside the read-modify-write to skip the write when no token is left."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"retry in {wait:.3f} s")
        self.wait = wait


@dataclass
class _Lease:
    tokens: int  # leased and not yet spent here
    expires_at: float


def bucket_id(user_id: str) -> str:
    """The document id of a user's bucket. Ids that Cosmos would refuse (``/ \\ ? #``,
    control characters, very long) are hashed, so any token subject works."""
    if _SAFE_ID.match(user_id):
        return KEY_PREFIX + user_id
    return KEY_PREFIX + "sha256-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()


class RateLimiter:
    """``(principal) -> None`` when the write may go ahead, else seconds until a token.

    ``capacity`` is the burst a user may spend at once; ``refill_per_second`` the
    sustained rate. The getters are called on every use so the limiter can be built at
    import time, before the runtime exists. The clock must be real time (not a replay
    clock), since the budget protects real resources.
    """

    def __init__(
        self,
        store_getter: Callable[[], Store],
        clock_getter: Callable[[], Clock],
        capacity: int = 30,
        refill_per_second: float = 5.0,
        *,
        attempts: int = 10,
        lease: int = LEASE_TOKENS,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not refill_per_second > 0:
            raise ValueError("refill_per_second must be positive")
        if lease < 1:
            raise ValueError("lease must be at least 1")
        self._store_getter = store_getter
        self._clock_getter = clock_getter
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._attempts = attempts
        self.lease = lease
        # Idle this long, a bucket is full again: the same as having no document.
        self.ttl_seconds = math.ceil(capacity / refill_per_second) + TTL_MARGIN_SECONDS
        self._leases: dict[str, _Lease] = {}
        self._leases_lock = threading.Lock()
        self.store_writes = 0  # buckets written (for tests and diagnostics)

    def __call__(self, principal: Principal) -> float | None:
        user_id = principal.user_id
        if self._spend_leased(user_id):
            return None
        try:
            taken, at = self._take(user_id)
        except _Denied as denied:
            return denied.wait
        except KeptChanging:
            return 1.0 / self.refill_per_second
        except Exception as exc:  # fail open on purpose, see the module docstring
            # Only the type: a store error's text may hold connection details.
            log.warning("rate limiter unavailable, allowing the call: %s", type(exc).__name__)
            return None
        if taken > 1:
            self._keep(user_id, taken - 1, at + taken / self.refill_per_second)
        return None

    def _spend_leased(self, user_id: str) -> bool:
        now = self._clock_getter().now().timestamp()
        with self._leases_lock:
            lease = self._leases.get(user_id)
            if lease is None:
                return False
            if lease.tokens < 1 or now >= lease.expires_at:
                del self._leases[user_id]
                return False
            lease.tokens -= 1
            return True

    def _keep(self, user_id: str, tokens: int, expires_at: float) -> None:
        with self._leases_lock:
            lease = self._leases.get(user_id)
            if lease is not None and lease.tokens > 0:  # two leases at once: the earlier lapse holds
                lease.tokens += tokens
                lease.expires_at = min(lease.expires_at, expires_at)
                return
            if len(self._leases) >= MAX_LOCAL_USERS:
                self._leases.clear()  # lapsing them early only loses tokens: stricter, never looser
            self._leases[user_id] = _Lease(tokens, expires_at)

    def _lease_size(self, tokens: float) -> int:
        """At most ``lease``, at most half of what is left, at least the one being spent."""
        return max(1, min(self.lease, math.floor(tokens / 2)))

    def _take(self, user_id: str) -> tuple[int, float]:
        """Take tokens from the shared bucket: how many, and when (limiter clock seconds)."""
        doc_id = bucket_id(user_id)
        container = self._store_getter().container(CONTAINER)
        clock = self._clock_getter()
        taken: list[tuple[int, float]] = []

        def spend(current: dict[str, Any] | None) -> dict[str, Any]:
            now = clock.now().timestamp()
            tokens = self._tokens_at(current, now)
            if tokens < 1.0:
                raise _Denied((1.0 - tokens) / self.refill_per_second)
            size = self._lease_size(tokens)
            taken.append((size, now))
            return {"id": doc_id, "kind": "rate-limit", "tokens": tokens - size, "updatedAt": now,
                    "ttl": self.ttl_seconds}

        update_document(container, doc_id, doc_id, spend, attempts=self._attempts)
        self.store_writes += 1
        return taken[-1]

    def _tokens_at(self, current: dict[str, Any] | None, now: float) -> float:
        """Tokens in the bucket at ``now``: refilled since the last write, capped at capacity.

        A clock that went backwards (another instance slightly ahead) refills nothing
        rather than draining; a malformed document counts as a full bucket.
        """
        if current is None:
            return float(self.capacity)
        try:
            tokens = float(current["tokens"])
            updated = float(current["updatedAt"])
        except (KeyError, TypeError, ValueError):
            return float(self.capacity)
        elapsed = max(0.0, now - updated)
        return min(float(self.capacity), max(0.0, tokens) + elapsed * self.refill_per_second)
