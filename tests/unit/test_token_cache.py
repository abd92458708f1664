"""The verified-token cache: hits skip decoding, but never past ``exp``, never for another
token, never after the signing key is withdrawn, and never beyond its size."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth.dev_tokens import DEV_AUDIENCE, DEV_ISSUER, mint
from shared.auth.jwt_verifier import JwtVerifier
from shared.auth.principal import AuthError, Principal, Role
from shared.auth.token_cache import CachedToken, VerifiedTokenCache, token_digest

SECRET = "s" * 48
ISSUER = "https://login.example.test/tenant-x/v2.0"
AUDIENCE = "api://halyard"


class WallClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full verifications (PyJWT's decode)."""
    calls: list[int] = []
    real = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return calls


def hs_verifier(clock: WallClock | None = None, cache_size: int = 64) -> JwtVerifier:
    return JwtVerifier.from_hs256(secret=SECRET, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, cache_size=cache_size,
                                  wall_clock=clock or time.time)


def test_a_verified_token_is_served_from_the_cache(decodes: list[int]):
    verifier = hs_verifier()
    token = mint(SECRET, "alice", "t1", ["trader"])
    first, second = verifier(token), verifier(token)
    assert first == second and (second.user_id, second.tenant_id, second.roles) == ("alice", "t1",
                                                                                      frozenset({Role.TRADER}))
    assert len(decodes) == 1


def test_distinct_tokens_never_share_an_entry(decodes: list[int]):
    verifier = hs_verifier()
    alice, bob = mint(SECRET, "alice", "t1", ["admin"]), mint(SECRET, "bob", "t2", ["viewer"])
    assert verifier(alice).tenant_id == "t1" and verifier(bob).tenant_id == "t2"
    assert verifier(alice).role is Role.ADMIN and verifier(bob).role is Role.VIEWER
    assert len(decodes) == 2


def test_an_altered_token_misses_and_is_refused_after_the_original_was_cached():
    verifier = hs_verifier()
    token = mint(SECRET, "alice", "t1", ["viewer"])
    verifier(token)
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "roles": ["admin"]}).encode()).decode()
    with pytest.raises(AuthError, match="signature"):
        verifier(f"{header}.{forged}.{signature}")
    with pytest.raises(AuthError):
        verifier(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_entries_are_not_served_past_exp(decodes: list[int]):
    clock = WallClock()
    verifier = hs_verifier(clock)
    token = mint(SECRET, "alice", "t1", ["viewer"], ttl_seconds=60)
    verifier(token)
    verifier(token)
    assert len(decodes) == 1
    clock.now += 61  # the cache's clock says expired: verified in full again (PyJWT's own clock decides)
    verifier(token)
    assert len(decodes) == 2


def test_a_token_accepted_only_within_the_leeway_is_never_cached(decodes: list[int]):
    token = mint(SECRET, "alice", "t1", ["viewer"], ttl_seconds=60, now=time.time() - 70)  # expired 10 s ago
    verifier = hs_verifier()
    verifier(token)
    verifier(token)
    assert len(decodes) == 2 and len(verifier.cache) == 0


def test_refused_tokens_are_not_cached(decodes: list[int]):
    verifier = hs_verifier()
    expired = mint(SECRET, "alice", "t1", ["viewer"], ttl_seconds=10, now=time.time() - 3600)
    for _ in range(3):
        with pytest.raises(AuthError, match="expired"):
            verifier(expired)
    assert len(decodes) == 3 and len(verifier.cache) == 0


def test_the_cache_is_bounded_least_recently_used_first_out(decodes: list[int]):
    verifier = hs_verifier(cache_size=2)
    a, b, c = (mint(SECRET, user, "t1", ["viewer"]) for user in ("a", "b", "c"))
    verifier(a)
    verifier(b)
    verifier(a)  # a is now the most recent
    verifier(c)  # evicts b
    assert len(verifier.cache) == 2 and len(decodes) == 3
    verifier(a)
    assert len(decodes) == 3
    verifier(b)
    assert len(decodes) == 4


def test_cache_unit_drops_expired_entries_and_refuses_nonsense_sizes():
    clock = WallClock()
    cache = VerifiedTokenCache(4, wall_clock=clock)
    principal = Principal("u", "t", frozenset({Role.VIEWER}))
    cache.put(token_digest("x"), CachedToken(principal, clock.now + 5))
    cache.put(token_digest("y"), CachedToken(principal, clock.now - 1))  # already expired: not stored
    assert len(cache) == 1 and cache.get(token_digest("x")) is not None
    clock.now += 5
    assert cache.get(token_digest("x")) is None and len(cache) == 0
    with pytest.raises(ValueError):
        VerifiedTokenCache(0)


# ---------------------------------------------------------------- RS256: key rotation


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "use": "sig", "alg": "RS256"}


def rs_token(key: rsa.RSAPrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "tid": "tenant-a", "roles": ["trader"],
              "iat": now, "nbf": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class Jwks:
    def __init__(self, *entries: dict[str, Any]) -> None:
        self.entries = list(entries)
        self.calls = 0
        self.now = 1000.0

    def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        return {"keys": list(self.entries)}


def test_rs256_hits_need_no_fetch_while_the_keys_are_fresh(keys, decodes: list[int]):
    jwks = Jwks(jwk("k1", keys["k1"]))
    verifier = JwtVerifier.from_jwks(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://x/keys", fetch=jwks,
                                     clock=lambda: jwks.now)
    token = rs_token(keys["k1"], "k1")
    for _ in range(5):
        assert verifier(token).tenant_id == "tenant-a"
    assert len(decodes) == 1 and jwks.calls == 1


def test_a_cached_rs256_token_stops_working_when_its_key_is_withdrawn(keys):
    jwks = Jwks(jwk("k1", keys["k1"]))
    verifier = JwtVerifier.from_jwks(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://x/keys", fetch=jwks,
                                     clock=lambda: jwks.now)
    token = rs_token(keys["k1"], "k1")
    verifier(token)
    jwks.entries = [jwk("k2", keys["k2"])]  # the issuer rotated k1 out
    jwks.now += 3601  # the cached key set is now older than max_age: the next use refetches
    with pytest.raises(AuthError, match="unknown signing key"):
        verifier(token)
    assert len(verifier.cache) == 0
