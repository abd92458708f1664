"""The development issuer: HS256 tokens signed with a per-data-directory secret.

Why a file and not a constant: a secret that ships in the code would be a valid key for
every checkout in the world. The secret is random, lives next to the embedded store
(``<data_dir>/dev-jwt-secret``, mode 0600) and is shared by ``python -m devhost token``
and the running devhost, so a token minted by one is accepted by the other. It is never
used in production (``shared.auth.setup`` only picks it in development).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import jwt

from shared.auth.principal import Role

DEV_ISSUER: Final = "halyard-devhost"
DEV_AUDIENCE: Final = "halyard-api"
SECRET_FILE: Final = "dev-jwt-secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_CHARS: Final = 32


def dev_secret(data_dir: Path) -> str:
    """The data directory's dev signing secret, created (0600, 48 random bytes) on first use."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # already there (or another process just created it): read it below
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_CHARS:  # a half-written or hand-edited file: refuse, do not guess
        raise ValueError(f"{path} holds no usable secret; delete it to get a new one")
    return secret


def mint(secret: str | bytes, user: str, tenant: str, roles: Iterable[str | Role], ttl_seconds: int = 3600,
         now: float | None = None, tenant_claim: str = "tid") -> str:
    """A signed dev token; unknown role names are refused here rather than silently dropped."""
    parsed: list[str] = []
    for role in roles:
        value = role if isinstance(role, Role) else Role.parse(role)
        if value is None:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(r.label for r in Role)}")
        parsed.append(value.label)
    if not parsed:
        raise ValueError("a token needs at least one role")
    if not user or not tenant:
        raise ValueError("a token needs a user and a tenant")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": user,
        "tenant": tenant,  # the verifier's fallback: accepted whatever AUTH_TENANT_CLAIM says
        tenant_claim: tenant,
        "roles": parsed,
        "name": user,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_seconds),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
