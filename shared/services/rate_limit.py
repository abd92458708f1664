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
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable
from typing import Any, Final

from shared.auth.principal import Principal
from shared.ports import Clock, Store
from shared.services.optimistic import KeptChanging, update_document

log = logging.getLogger("halyard.rate_limit")

CONTAINER: Final = "leases"
KEY_PREFIX: Final = "ratelimit:"
TTL_MARGIN_SECONDS: Final = 60
_SAFE_ID = re.compile(r"^[A-Za-z0-9._@:-]{1,200}$")


class _Denied(Exception):
    """Raised from inside the read-modify-write to skip the write when no token is left."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"retry in {wait:.3f} s")
        self.wait = wait


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
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not refill_per_second > 0:
            raise ValueError("refill_per_second must be positive")
        self._store_getter = store_getter
        self._clock_getter = clock_getter
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._attempts = attempts
        # Idle this long, a bucket is full again: the same as having no document.
        self.ttl_seconds = math.ceil(capacity / refill_per_second) + TTL_MARGIN_SECONDS

    def __call__(self, principal: Principal) -> float | None:
        try:
            self._take(principal.user_id)
        except _Denied as denied:
            return denied.wait
        except KeptChanging:
            return 1.0 / self.refill_per_second
        except Exception as exc:  # fail open on purpose, see the module docstring
            # Only the type: a store error's text may hold connection details.
            log.warning("rate limiter unavailable, allowing the call: %s", type(exc).__name__)
        return None

    def _take(self, user_id: str) -> None:
        doc_id = bucket_id(user_id)
        container = self._store_getter().container(CONTAINER)
        clock = self._clock_getter()

        def spend(current: dict[str, Any] | None) -> dict[str, Any]:
            now = clock.now().timestamp()
            tokens = self._tokens_at(current, now)
            if tokens < 1.0:
                raise _Denied((1.0 - tokens) / self.refill_per_second)
            return {"id": doc_id, "kind": "rate-limit", "tokens": tokens - 1.0, "updatedAt": now,
                    "ttl": self.ttl_seconds}

        update_document(container, doc_id, doc_id, spend, attempts=self._attempts)

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
