"""Pick the token verifier from the settings, failing closed.

The order matters: a configured OIDC issuer always wins; a shared HS256 secret or the
devhost's own secret is only ever used in development; production without an issuer
gets an authenticator that refuses every token (public endpoints still answer), so a
missing app setting can never turn into "anyone may trade".
"""

from __future__ import annotations

from collections.abc import Callable

from shared.auth.dev_tokens import DEV_AUDIENCE, DEV_ISSUER, dev_secret
from shared.auth.jwt_verifier import JwtVerifier
from shared.auth.principal import AuthError, Principal
from shared.config import Settings, load_settings

Authenticator = Callable[[str], Principal]


def _refuse_all(token: str) -> Principal:
    raise AuthError("authentication is not configured")


def _audiences(raw: str) -> str | list[str]:
    parts = [a.strip() for a in raw.split(",") if a.strip()]
    return parts[0] if len(parts) == 1 else parts


def _current_settings() -> Settings:
    """The process runtime's settings (the devhost installs one built from its own flags,
    ``--data-dir`` included, so its authenticator reads the same dev secret as
    ``devhost token``); the environment's when no runtime can be built."""
    from shared.bootstrap import RuntimeUnavailable, runtime

    try:
        return runtime().settings
    except RuntimeUnavailable:
        return load_settings()


def authenticator_from_settings(settings: Settings | None = None) -> Authenticator:
    settings = _current_settings() if settings is None else settings
    claim = settings.auth_tenant_claim
    if settings.auth_issuer and settings.auth_audience and settings.auth_jwks_url:
        return JwtVerifier.from_jwks(issuer=settings.auth_issuer, audience=_audiences(settings.auth_audience),
                                     jwks_url=settings.auth_jwks_url, tenant_claim=claim)
    if not settings.is_development:
        return _refuse_all
    if settings.auth_hs256_secret:
        return JwtVerifier.from_hs256(secret=settings.auth_hs256_secret, issuer=settings.auth_issuer or DEV_ISSUER,
                                      audience=_audiences(settings.auth_audience or DEV_AUDIENCE), tenant_claim=claim)
    if settings.mode == "embedded":
        return JwtVerifier.from_hs256(secret=dev_secret(settings.data_dir), issuer=DEV_ISSUER, audience=DEV_AUDIENCE,
                                      tenant_claim=claim)
    return _refuse_all
