"""A bounded cache of bearer tokens that already verified, so a client's next call is cheap.

Why: every API call carries the same bearer token for its whole lifetime, and verifying
it (base64 and JSON decoding, claim checks, an HMAC or RSA signature) was the largest
single cost of a read. A token that verified once verifies again until it expires,
except when its signing key is withdrawn, so the verifier may remember the answer.

What keeps it safe:
- the key is a SHA-256 of the whole token, so only the exact same bytes hit: a token
  with one changed byte (payload or signature) misses and is verified in full;
- an entry is served only while the wall clock is before the token's ``exp``; after
  that the token goes through full verification again (which still applies the leeway);
- the cache holds no token and no failure: a refused token is refused every time;
- it is bounded (least recently used first out), so a flood of distinct valid tokens
  costs memory once, not without limit;
- the RS256 verifier checks on every hit that the key which verified the token is still
  the current key for its ``kid`` (see ``JwtVerifier``), so a rotated-out key stops
  working exactly when it would without the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from shared.auth.principal import Principal

DEFAULT_MAX_ENTRIES: Final = 4096


@dataclass(frozen=True)
class CachedToken:
    principal: Principal
    expires_at: float  # the token's ``exp`` (seconds since the epoch)
    kid: str | None = None  # RS256: the key id and the very key object that verified it
    key: object | None = None


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class VerifiedTokenCache:
    """Thread-safe LRU of ``digest -> CachedToken``; ``get`` drops and ignores expired entries."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, wall_clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._wall_clock = wall_clock
        self._entries: OrderedDict[bytes, CachedToken] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> CachedToken | None:
        now = self._wall_clock()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if now >= entry.expires_at:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: bytes, entry: CachedToken) -> None:
        if self._wall_clock() >= entry.expires_at:
            return  # accepted within the leeway only: never served from here
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
