"""Bearer JWT verification: the one place a token becomes a ``Principal``.

Two modes, never mixed in one verifier, because mixing them is how the classic
algorithm-confusion attack works (an RS public key replayed as an HMAC secret):

* JWKS (production): RS256 only, the key picked by the header's ``kid`` from the
  issuer's JWKS. The JWKS is cached and refetched on an unknown ``kid`` (key rotation),
  at most once per ``refresh_interval`` so a flood of made-up kids cannot hammer the
  issuer, and at most ``max_age`` seconds old so a removed key stops working.
* HS256 (development only): one shared secret; only HS256 is accepted.

A token that verified is remembered (``shared.auth.token_cache``) until its ``exp``, so
a client's later calls skip the decoding and the signature check; an RS256 hit still
asks for the current key of its ``kid``, so rotation and JWKS expiry work as uncached.

Every failure is an ``AuthError`` whose message is short and safe to return to the
caller: it never contains the token, a claim value or key material.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from shared.auth.principal import AuthError, Principal, Role
from shared.auth.token_cache import DEFAULT_MAX_ENTRIES, CachedToken, VerifiedTokenCache, token_digest

log = logging.getLogger(__name__)

JwksFetch = Callable[[str], Mapping[str, Any]]

LEEWAY_SECONDS: Final = 30
MAX_TOKEN_CHARS: Final = 16_384
MAX_ID_CHARS: Final = 256
FALLBACK_TENANT_CLAIM: Final = "tenant"
_REQUIRED: Final = ["exp", "iat", "sub", "iss", "aud"]

# PyJWT's exceptions -> safe messages (first match wins; subclasses before parents).
_MESSAGES: Final[tuple[tuple[type[Exception], str], ...]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token audience not accepted"),
    (jwt.InvalidIssuerError, "token issuer not accepted"),
    (jwt.InvalidSignatureError, "token signature invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm not accepted"),
    (jwt.DecodeError, "malformed token"),
)


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """Default JWKS fetch: a short timeout, because it runs inside a request. httpx is
    imported here, not at module level: it drags in click and rich (0.2 s), which the
    development (HS256) verifier never needs and a first request should not wait for."""
    import httpx

    response = httpx.get(url, timeout=5.0, follow_redirects=False)
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("JWKS is not a JSON object")
    return body


def _rsa_keys(jwks: Mapping[str, Any]) -> dict[str, RSAPublicKey]:
    """The usable RS256 signing keys by kid; anything else (oct, EC, enc keys) is ignored."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ValueError("JWKS has no keys list")
    found: dict[str, RSAPublicKey] = {}
    for entry in keys:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWTError, ValueError, TypeError):
            log.warning("skipping a malformed JWKS key (kid %.64s)", entry.get("kid"))
            continue
        if isinstance(key, RSAPrivateKey):  # a careless JWKS; only the public half is needed
            key = key.public_key()
        if isinstance(key, RSAPublicKey):
            found[entry["kid"]] = key
    return found


class JwtVerifier:
    """Callable ``(token) -> Principal``; build with ``from_jwks`` or ``from_hs256``."""

    def __init__(self, *, issuer: str, audience: str | Sequence[str], algorithm: str,
                 hs256_secret: str | bytes | None = None, jwks_url: str | None = None,
                 fetch: JwksFetch | None = None, tenant_claim: str = "tid",
                 refresh_interval: float = 30.0, max_age: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, cache_size: int = DEFAULT_MAX_ENTRIES,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if algorithm == "HS256":
            if not hs256_secret or jwks_url:
                raise ValueError("HS256 needs a secret and no JWKS")
        elif algorithm == "RS256":
            if not jwks_url or hs256_secret:
                raise ValueError("RS256 needs a JWKS URL and no secret")
        else:
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        self.issuer = issuer
        self.audience = audience if isinstance(audience, str) else list(audience)
        self.algorithm = algorithm
        self.tenant_claim = tenant_claim
        self._secret = hs256_secret
        self._jwks_url = jwks_url
        self._fetch = fetch or fetch_jwks
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.fetch_count = 0
        self.cache = VerifiedTokenCache(cache_size, wall_clock=wall_clock)

    @classmethod
    def from_jwks(cls, *, issuer: str, audience: str | Sequence[str], jwks_url: str,
                  fetch: JwksFetch | None = None, tenant_claim: str = "tid",
                  refresh_interval: float = 30.0, max_age: float = 3600.0,
                  clock: Callable[[], float] = time.monotonic, cache_size: int = DEFAULT_MAX_ENTRIES,
                  wall_clock: Callable[[], float] = time.time) -> JwtVerifier:
        return cls(issuer=issuer, audience=audience, algorithm="RS256", jwks_url=jwks_url, fetch=fetch,
                   tenant_claim=tenant_claim, refresh_interval=refresh_interval, max_age=max_age, clock=clock,
                   cache_size=cache_size, wall_clock=wall_clock)

    @classmethod
    def from_hs256(cls, *, secret: str | bytes, issuer: str, audience: str | Sequence[str],
                   tenant_claim: str = "tid", cache_size: int = DEFAULT_MAX_ENTRIES,
                   wall_clock: Callable[[], float] = time.time) -> JwtVerifier:
        return cls(issuer=issuer, audience=audience, algorithm="HS256", hs256_secret=secret,
                   tenant_claim=tenant_claim, cache_size=cache_size, wall_clock=wall_clock)

    def __repr__(self) -> str:  # never the secret
        return f"JwtVerifier({self.algorithm}, issuer={self.issuer!r})"

    def __call__(self, token: str) -> Principal:
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        if not isinstance(token, str) or not token.strip():
            raise AuthError("missing bearer token")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token too large")
        digest = token_digest(token)
        cached = self.cache.get(digest)
        if cached is not None:
            if self._still_signed(cached):
                return cached.principal
            self.cache.discard(digest)  # its key was withdrawn: verify in full (and refuse)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        if header.get("alg") != self.algorithm:  # also rejects "none" and every confusion attempt
            raise AuthError("token algorithm not accepted")
        key: RSAPublicKey | str | bytes
        kid: str | None = None
        if self.algorithm == "HS256":
            assert self._secret is not None
            key = self._secret
        else:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid or len(kid) > MAX_ID_CHARS:
                raise AuthError("token has no key id")
            key = self._key_for(kid)
        try:
            claims = jwt.decode(token, key, algorithms=[self.algorithm], audience=self.audience,
                                issuer=self.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": _REQUIRED, "verify_signature": True})
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            message = next((m for kind, m in _MESSAGES if isinstance(exc, kind)), "invalid token")
            raise AuthError(message) from None
        principal = self._principal(claims)
        self.cache.put(digest, CachedToken(principal, float(claims["exp"]), kid, None if kid is None else key))
        return principal

    def _still_signed(self, cached: CachedToken) -> bool:
        """HS256: one fixed secret, nothing to re-check. RS256: the kid's current key (which
        refetches a stale or unknown JWKS, as an uncached call would) is the one that verified."""
        if cached.kid is None:
            return self.algorithm == "HS256"
        try:
            return self._key_for(cached.kid) is cached.key
        except AuthError:
            return False

    def _key_for(self, kid: str) -> RSAPublicKey:
        """The cached key for ``kid``; refetch when unknown or stale, within the rate limit."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
            if (kid not in self._keys or stale) and self._may_fetch(now):
                self._refresh(now)
            key = self._keys.get(kid)
        if key is None:
            if self._fetched_at is None:
                raise AuthError("signing keys unavailable")
            raise AuthError("unknown signing key")
        return key

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._refresh_interval

    def _refresh(self, now: float) -> None:
        assert self._jwks_url is not None
        self._attempted_at = now
        self.fetch_count += 1
        try:
            keys = _rsa_keys(self._fetch(self._jwks_url))
        except Exception as exc:  # keep the last good keys; a flaky issuer must not log everyone out
            log.warning("JWKS fetch failed (%s); keeping %d cached keys", type(exc).__name__, len(self._keys))
            return
        self._keys = keys
        self._fetched_at = now

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        user = claims.get("sub")
        if not _is_id(user):
            raise AuthError("token subject invalid")
        tenant = claims.get(self.tenant_claim)
        if tenant is None:
            tenant = claims.get(FALLBACK_TENANT_CLAIM)
        if tenant is None:
            raise AuthError("token lacks a tenant claim")
        if not _is_id(tenant):
            raise AuthError("token tenant invalid")
        raw_roles = claims.get("roles")
        if isinstance(raw_roles, str):
            raw_roles = raw_roles.split()
        names = [r for r in raw_roles if isinstance(r, str)] if isinstance(raw_roles, list) else []
        roles = frozenset(role for role in (Role.parse(n) for n in names) if role is not None)
        if not roles:
            raise AuthError("token grants no role")
        display = claims.get("name") or claims.get("preferred_username") or ""
        return Principal(user_id=user, tenant_id=tenant, roles=roles,
                         display_name=display[:MAX_ID_CHARS] if isinstance(display, str) else "")


def _is_id(value: object) -> TypeGuard[str]:
    """An id fit for partition keys and audit lines: a short printable string."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable() and value.strip() == value
