"""Bearer JWT verification: the attacks a verifier must refuse and the paths that must work."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth.dev_tokens import DEV_AUDIENCE, DEV_ISSUER, SECRET_FILE, dev_secret, mint
from shared.auth.jwt_verifier import JwtVerifier
from shared.auth.principal import AuthError, Role
from shared.auth.setup import authenticator_from_settings
from shared.config import ConfigError, load_settings
from shared.product import product_info

REPO = Path(__file__).resolve().parents[2]
P = product_info().env_var_prefix
ISSUER = "https://login.example.test/tenant-x/v2.0"
AUDIENCE = "api://halyard"


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "use": "sig", "alg": "RS256"}


class FakeJwks:
    """An injectable fetch with a controllable clock, counting fetches."""

    def __init__(self, *entries: Any) -> None:
        self.entries = list(entries)
        self.calls = 0
        self.now = 1000.0

    def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        return {"keys": list(self.entries)}

    def verifier(self) -> JwtVerifier:
        return JwtVerifier.from_jwks(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://issuer.test/keys",
                                     fetch=self, clock=lambda: self.now)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "tid": "tenant-a", "roles": ["Trader", "operator"],
            "name": "Alice", "iat": now, "nbf": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rs_token(key: rsa.RSAPrivateKey, kid: str = "k1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def jwks(keys) -> FakeJwks:
    return FakeJwks(jwk("k1", keys["k1"]))


def refused(verifier: Any, token: str, match: str) -> None:
    with pytest.raises(AuthError, match=match) as info:
        verifier(token)
    if len(token) > 20:
        assert token not in str(info.value)


def test_valid_rs256_token_gives_the_principal(jwks, keys):
    principal = jwks.verifier()(rs_token(keys["k1"], roles=["Trader", "operator", "ceo"]))
    assert (principal.user_id, principal.tenant_id, principal.display_name) == ("user-1", "tenant-a", "Alice")
    assert principal.roles == {Role.TRADER, Role.OPERATOR} and principal.role is Role.OPERATOR
    fallback = jwks.verifier()(rs_token(keys["k1"], tid=None, tenant="tenant-b", name=None,
                                        preferred_username="a@x"))
    assert fallback.tenant_id == "tenant-b" and fallback.display_name == "a@x"


def test_small_clock_skew_is_tolerated(jwks, keys):
    now = int(time.time())
    assert jwks.verifier()(rs_token(keys["k1"], exp=now - 10, nbf=now + 10, iat=now + 10)).user_id == "user-1"


def test_alg_none_is_refused(jwks, keys):
    refused(jwks.verifier(), raw_token({"alg": "none", "kid": "k1", "typ": "JWT"}, claims()), "algorithm")
    refused(jwks.verifier(), raw_token({"alg": "None", "kid": "k1"}, claims()), "algorithm")


def test_hs256_signed_with_the_rs_public_key_is_refused(jwks, keys):
    pem = keys["k1"].public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (pem, json.dumps(jwk("k1", keys["k1"])).encode()):
        forged = raw_token({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(roles=["admin"]),
                           lambda data, s=secret: hmac.new(s, data, hashlib.sha256).digest())
        refused(jwks.verifier(), forged, "algorithm")
    assert jwks.calls == 0  # refused before any key was looked up


@pytest.mark.parametrize(("overrides", "match"), [
    ({"exp": -120}, "expired"),  # seconds relative to now, resolved when the test runs
    ({"nbf": 120}, "not yet valid"),
    ({"iss": "https://evil.test/"}, "issuer"),
    ({"aud": "api://other"}, "audience"),
    ({"exp": None}, "exp"),
    ({"aud": None}, "aud"),
    ({"sub": None}, "sub"),
    ({"tid": None}, "tenant"),
    ({"roles": ["superuser"]}, "no role"),
    ({"roles": None}, "no role"),
    ({"sub": ""}, "sub"),
])
def test_bad_claims_are_refused(jwks, keys, overrides, match):
    now = int(time.time())
    resolved: dict[str, Any] = {k: (now + v if k in ("exp", "nbf") and isinstance(v, int) else v)
                                for k, v in overrides.items()}
    refused(jwks.verifier(), rs_token(keys["k1"], **resolved), match)


def test_tampered_payload_is_refused(jwks, keys):
    header, _, signature = rs_token(keys["k1"]).split(".")
    payload = b64(json.dumps(claims(roles=["admin"], tid="tenant-b")).encode())
    refused(jwks.verifier(), f"{header}.{payload}.{signature}", "signature")


def test_token_signed_by_a_key_not_in_the_jwks_under_a_known_kid_is_refused(jwks, keys):
    refused(jwks.verifier(), rs_token(keys["k2"], kid="k1"), "signature")


@pytest.mark.parametrize("token", ["", "   ", "abc", "a.b.c", "a.b", "x" * 20_000, "Bearer"])
def test_missing_or_garbled_tokens_are_refused(jwks, token):
    with pytest.raises(AuthError):
        jwks.verifier()(token)


def test_token_without_kid_is_refused(jwks, keys):
    refused(jwks.verifier(), jwt.encode(claims(), keys["k1"], algorithm="RS256"), "key id")


def test_unknown_kid_is_refused_after_one_refresh(jwks, keys):
    verifier = jwks.verifier()
    verifier(rs_token(keys["k1"]))
    assert jwks.calls == 1
    jwks.now += 31
    refused(verifier, rs_token(keys["k2"], kid="k2"), "unknown signing key")
    assert jwks.calls == 2


def test_key_rotation_is_picked_up_with_one_refresh(jwks, keys):
    verifier = jwks.verifier()
    verifier(rs_token(keys["k1"]))
    jwks.entries = [jwk("k1", keys["k1"]), jwk("k2", keys["k2"])]
    jwks.now += 31
    assert verifier(rs_token(keys["k2"], kid="k2")).user_id == "user-1"
    assert verifier(rs_token(keys["k1"])).user_id == "user-1"
    assert jwks.calls == 2


def test_unknown_kid_flood_fetches_at_most_once_per_window(jwks, keys):
    verifier = jwks.verifier()
    for i in range(50):
        refused(verifier, rs_token(keys["k2"], kid=f"bogus-{i}"), "unknown signing key")
    assert jwks.calls == 1
    jwks.now += 10
    for i in range(50):
        refused(verifier, rs_token(keys["k2"], kid=f"more-{i}"), "unknown signing key")
    assert jwks.calls == 1
    jwks.now += 31
    refused(verifier, rs_token(keys["k2"], kid="again"), "unknown signing key")
    assert jwks.calls == 2


def test_issuer_outage_keeps_cached_keys_and_fails_closed_without_them(jwks, keys):
    verifier = jwks.verifier()
    verifier(rs_token(keys["k1"]))

    def down(url: str) -> dict[str, Any]:
        raise OSError("connection refused")

    verifier._fetch = down
    jwks.now += 7200  # cache stale: refresh fails, the last good keys still verify
    assert verifier(rs_token(keys["k1"])).tenant_id == "tenant-a"
    cold = JwtVerifier.from_jwks(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://x", fetch=down)
    refused(cold, rs_token(keys["k1"]), "signing keys unavailable")


def test_symmetric_and_foreign_jwks_entries_are_ignored(keys):
    fake = FakeJwks({"kty": "oct", "kid": "k1", "k": b64(b"s" * 32)}, {**jwk("k2", keys["k2"]), "use": "enc"},
                    {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}, "junk")
    refused(fake.verifier(), rs_token(keys["k1"]), "unknown signing key")
    refused(fake.verifier(), rs_token(keys["k2"], kid="k2"), "unknown signing key")


# --- development HS256 and the settings that pick a verifier --------------------------


def test_dev_secret_file_is_created_0600_and_reused(tmp_path):
    first = dev_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 32
    assert dev_secret(tmp_path) == first
    assert dev_secret(tmp_path / "other") != first


def test_dev_authenticator_accepts_minted_tokens_and_only_hs256(tmp_path, keys):
    auth = authenticator_from_settings(load_settings({P + "DATA_DIR": str(tmp_path)}))
    token = mint(dev_secret(tmp_path), "alice", "demo", ["trader"])
    principal = auth(token)
    assert (principal.user_id, principal.tenant_id, principal.role) == ("alice", "demo", Role.TRADER)
    rs = jwt.encode(claims(iss=DEV_ISSUER, aud=DEV_AUDIENCE), keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    refused(auth, rs, "algorithm")
    refused(auth, mint("x" * 40, "alice", "demo", ["admin"]), "signature")
    refused(auth, mint(dev_secret(tmp_path), "alice", "demo", ["trader"], ttl_seconds=60, now=time.time() - 3600),
            "expired")
    refused(auth, raw_token({"alg": "none"}, jwt.decode(token, options={"verify_signature": False})), "algorithm")


def test_mint_refuses_unknown_roles():
    with pytest.raises(ValueError, match="unknown role"):
        mint("s" * 40, "alice", "demo", ["superuser"])


def test_configured_hs256_secret_in_development(tmp_path):
    secret = "d" * 40
    auth = authenticator_from_settings(load_settings({P + "AUTH_HS256_SECRET": secret, P + "DATA_DIR": str(tmp_path)}))
    assert auth(mint(secret, "bob", "t1", ["viewer"])).role is Role.VIEWER
    assert not (tmp_path / SECRET_FILE).exists()


AZURE = {P + "MODE": "azure", P + "COSMOS_ENDPOINT": "https://x", P + "SERVICEBUS_NAMESPACE": "ns"}


def test_production_without_issuer_fails_closed(tmp_path):
    auth = authenticator_from_settings(load_settings({**AZURE, P + "ENVIRONMENT": "production"}))
    with pytest.raises(AuthError, match="not configured"):
        auth(mint(dev_secret(tmp_path), "alice", "demo", ["admin"]))


@pytest.mark.parametrize(("env", "match"), [
    ({**AZURE, P + "ENVIRONMENT": "production", P + "AUTH_HS256_SECRET": "p" * 40}, "AUTH_HS256_SECRET"),
    ({P + "AUTH_HS256_SECRET": "short"}, "32"),
    ({P + "AUTH_JWKS_URL": "https://x/keys"}, "AUTH_ISSUER"),
    ({P + "AUTH_ISSUER": ISSUER, P + "AUTH_AUDIENCE": AUDIENCE}, "AUTH_JWKS_URL"),
    ({**AZURE, P + "ENVIRONMENT": "production", P + "AUTH_ISSUER": ISSUER, P + "AUTH_AUDIENCE": AUDIENCE,
      P + "AUTH_JWKS_URL": "http://plain/keys"}, "https"),
])
def test_auth_settings_that_cannot_work_fail_at_start(env, match):
    with pytest.raises(ConfigError, match=match):
        load_settings(env)


class _JwksServer(BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_issuer_settings_verify_rs256_through_a_served_jwks(keys):
    class Handler(_JwksServer):
        body = json.dumps({"keys": [jwk("k1", keys["k1"])]}).encode()

    handler = Handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/keys"
        settings = load_settings({**AZURE, P + "AUTH_ISSUER": ISSUER, P + "AUTH_AUDIENCE": f"{AUDIENCE}, other",
                                  P + "AUTH_JWKS_URL": url, P + "AUTH_TENANT_CLAIM": "org"})
        auth = authenticator_from_settings(settings)
        assert isinstance(auth, JwtVerifier) and auth.algorithm == "RS256"
        assert auth(rs_token(keys["k1"], tid=None, org="acme")).tenant_id == "acme"
        assert auth(rs_token(keys["k1"], aud="other", org="acme")).user_id == "user-1"
        refused(auth, rs_token(keys["k1"]), "tenant")  # tid is not the configured claim
        refused(auth, mint("s" * 40, "alice", "demo", ["admin"]), "algorithm")
        assert handler.hits == 1
    finally:
        server.shutdown()
        server.server_close()


def test_devhost_token_command_output_verifies(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(P)}
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "token", "--user", "alice", "--tenant", "demo", "--role", "trader",
         "--role", "operator", "--ttl", "600", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    principal = authenticator_from_settings(load_settings({P + "DATA_DIR": str(tmp_path)}))(token)
    assert (principal.user_id, principal.tenant_id, principal.role) == ("alice", "demo", Role.OPERATOR)
    bad = subprocess.run([sys.executable, "-m", "devhost", "token", "--user", "a", "--tenant", "t", "--role", "ceo",
                          "--data-dir", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "unknown role" in bad.stderr
