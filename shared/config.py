"""Typed settings from the environment; every variable carries the product's prefix.

Why a hand-written reader: the Function App reads app settings as environment
variables, the devhost and tests set the same variables, and a wrong value must fail at
start-up with the variable's name, not later inside a trade.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.product import product_info

Mode = Literal["embedded", "azure"]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    mode: Mode
    environment: str
    data_dir: Path
    cosmos_endpoint: str | None
    cosmos_key: str | None
    cosmos_database: str
    servicebus_connection: str | None
    servicebus_namespace: str | None
    log_level: str
    market: str = "replay"
    replay_speed: float = 3600.0
    demo: bool = True
    bybit_api_key: str | None = None
    bybit_api_secret: str | None = None
    bybit_base_url: str = "https://api.bybit.com"
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    auth_hs256_secret: str | None = None
    auth_tenant_claim: str = "tid"
    paging_secret: str | None = None
    # AI review (see shared/adapters/openai_llm.py): without a key the local advisor proposes.
    llm_base_url: str = "https://openrouter.ai/api/v1"
    llm_model: str = "openai/gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout_seconds: float = 30.0
    advisor_max_evaluations: int = 60

    def __repr__(self) -> str:  # never print credentials
        return f"Settings({self.describe()!r})"

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def describe(self) -> dict[str, str]:
        """Settings safe to show (no secrets), for health and logs."""
        return {
            "mode": self.mode,
            "environment": self.environment,
            "cosmosDatabase": self.cosmos_database,
        }


# name (without prefix) -> (default, description); the README's table is checked against it.
VARIABLES: dict[str, tuple[str | None, str]] = {
    "MODE": ("embedded", "`embedded` (SQLite store and queue, no cloud) or `azure` (Cosmos DB + Service Bus)"),
    "ENVIRONMENT": ("development", "`development` or `production`; development enables local-only helpers"),
    "DATA_DIR": (None, "embedded mode: folder for the SQLite files (default `<cwd>/<configDirName>`)"),
    "COSMOS_ENDPOINT": (None, "azure mode: Cosmos DB account endpoint, e.g. `https://acct.documents.azure.com:443/`"),
    "COSMOS_KEY": (None, "azure mode: Cosmos DB key; leave unset to use the managed identity"),
    "COSMOS_DATABASE": ("trading", "Cosmos DB database name"),
    "SERVICEBUS_CONNECTION": (None, "azure mode: Service Bus connection string (or use SERVICEBUS_NAMESPACE)"),
    "SERVICEBUS_NAMESPACE": (None, "azure mode: fully qualified namespace, used with the managed identity"),
    "LOG_LEVEL": ("INFO", "Python log level"),
    "MARKET": ("replay", "`replay` (shipped real candles, accelerated clock) or `bybit` (Bybit v5 public market data)"),
    "REPLAY_SPEED": ("3600", "replay mode: market seconds per real second (3600 = one hourly candle per second)"),
    "DEMO": ("1", "embedded mode: seed the demo tenant, accounts, strategies and profiles at start (`1` or `0`)"),
    "BYBIT_API_KEY": (None, "Bybit v5 API key for accounts whose profiles trade on `bybit` (a Key Vault reference)"),
    "BYBIT_API_SECRET": (None, "Bybit v5 API secret (a Key Vault reference); never logged"),
    "BYBIT_BASE_URL": ("https://api.bybit.com", "Bybit REST base URL (`https://api-testnet.bybit.com` for testnet)"),
    "AUTH_ISSUER": (None, "expected `iss` of bearer tokens (e.g. `https://login.microsoftonline.com/<tid>/v2.0`)"),
    "AUTH_AUDIENCE": (None, "expected `aud` of bearer tokens (the API's client id or App ID URI; comma-separated ok)"),
    "AUTH_JWKS_URL": (None, "the issuer's JWKS (https); with ISSUER and AUDIENCE enables RS256 verification"),
    "AUTH_HS256_SECRET": (None, "development only: HS256 shared secret (32+ chars); refused in production"),
    "AUTH_TENANT_CLAIM": ("tid", "token claim that names the tenant (falls back to `tenant`)"),
    "PAGING_SECRET": (None, "secret (32+ chars, the same on every instance) signing list continuation tokens; "
                            "required in production, development keeps one in `<data_dir>/paging-secret`"),
    "LLM_BASE_URL": ("https://openrouter.ai/api/v1", "AI review: any OpenAI-compatible endpoint (https; "
                                                     "http only in development, e.g. a local model server)"),
    "LLM_MODEL": ("openai/gpt-4o-mini", "AI review: model id at that endpoint (it must support json_schema "
                                        "structured outputs)"),
    "LLM_API_KEY": (None, "AI review: the endpoint's API key (a Key Vault reference); unset: the local "
                          "advisor proposes parameters instead; never logged or stored"),
    "LLM_TIMEOUT_SECONDS": ("30", "AI review: time budget of one review call, retries included (1-300)"),
    "ADVISOR_MAX_EVALUATIONS": ("60", "local advisor: most simulator runs one proposal may cost (1-1000)"),
}


def _get(env: Mapping[str, str], prefix: str, name: str) -> str | None:
    value = env.get(prefix + name)
    if value is None or value.strip() == "":
        return VARIABLES[name][0]
    return value.strip()


# Set by the Functions host (Azure or Core Tools); the devhost never sets them.
FUNCTIONS_HOST_MARKERS = ("WEBSITE_INSTANCE_ID", "FUNCTIONS_WORKER_RUNTIME")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    prefix = product_info().env_var_prefix
    under_functions_host = any(env.get(marker) for marker in FUNCTIONS_HOST_MARKERS)
    if under_functions_host and not (env.get(prefix + "MODE") or "").strip():
        # Fail closed: silently running a deployed app on an empty local SQLite file would
        # ignore every halt stored in Cosmos.
        raise ConfigError(f"{prefix}MODE must be set explicitly when running under the Functions host")
    mode = (_get(env, prefix, "MODE") or "embedded").lower()
    if mode not in ("embedded", "azure"):
        raise ConfigError(f"{prefix}MODE must be 'embedded' or 'azure', not {mode!r}")
    environment = (_get(env, prefix, "ENVIRONMENT") or "development").lower()
    if environment not in ("development", "production"):
        raise ConfigError(
            f"{prefix}ENVIRONMENT must be 'development' or 'production', not {environment!r}"
        )
    data_dir_raw = _get(env, prefix, "DATA_DIR")
    data_dir = Path(data_dir_raw) if data_dir_raw else Path.cwd() / product_info().config_dir_name
    market = (_get(env, prefix, "MARKET") or "replay").lower()
    if market not in ("replay", "bybit"):
        raise ConfigError(f"{prefix}MARKET must be 'replay' or 'bybit', not {market!r}")
    try:
        replay_speed = float(_get(env, prefix, "REPLAY_SPEED") or "3600")
    except ValueError:
        raise ConfigError(f"{prefix}REPLAY_SPEED must be a number") from None
    if not 0 < replay_speed <= 1_000_000:
        raise ConfigError(f"{prefix}REPLAY_SPEED must be in (0, 1000000]")
    demo = (_get(env, prefix, "DEMO") or "1").strip()
    if demo not in ("0", "1"):
        raise ConfigError(f"{prefix}DEMO must be 0 or 1")
    llm_timeout = _number(env, prefix, "LLM_TIMEOUT_SECONDS", low=1.0, high=300.0)
    advisor_evaluations = _number(env, prefix, "ADVISOR_MAX_EVALUATIONS", low=1, high=1000, integer=True)
    settings = Settings(
        mode=mode,  # type: ignore[arg-type]
        environment=environment,
        data_dir=data_dir,
        cosmos_endpoint=_get(env, prefix, "COSMOS_ENDPOINT"),
        cosmos_key=_get(env, prefix, "COSMOS_KEY"),
        cosmos_database=_get(env, prefix, "COSMOS_DATABASE") or "trading",
        servicebus_connection=_get(env, prefix, "SERVICEBUS_CONNECTION"),
        servicebus_namespace=_get(env, prefix, "SERVICEBUS_NAMESPACE"),
        log_level=(_get(env, prefix, "LOG_LEVEL") or "INFO").upper(),
        market=market,
        replay_speed=replay_speed,
        demo=demo == "1",
        bybit_api_key=_get(env, prefix, "BYBIT_API_KEY"),
        bybit_api_secret=_get(env, prefix, "BYBIT_API_SECRET"),
        bybit_base_url=_get(env, prefix, "BYBIT_BASE_URL") or "https://api.bybit.com",
        auth_issuer=_get(env, prefix, "AUTH_ISSUER"),
        auth_audience=_get(env, prefix, "AUTH_AUDIENCE"),
        auth_jwks_url=_get(env, prefix, "AUTH_JWKS_URL"),
        auth_hs256_secret=_get(env, prefix, "AUTH_HS256_SECRET"),
        auth_tenant_claim=_get(env, prefix, "AUTH_TENANT_CLAIM") or "tid",
        paging_secret=_get(env, prefix, "PAGING_SECRET"),
        llm_base_url=(_get(env, prefix, "LLM_BASE_URL") or "https://openrouter.ai/api/v1").rstrip("/"),
        llm_model=_get(env, prefix, "LLM_MODEL") or "openai/gpt-4o-mini",
        llm_api_key=_get(env, prefix, "LLM_API_KEY"),
        llm_timeout_seconds=llm_timeout,
        advisor_max_evaluations=int(advisor_evaluations),
    )
    if settings.paging_secret is not None and len(settings.paging_secret) < 32:
        raise ConfigError(f"{prefix}PAGING_SECRET must be at least 32 characters")
    _check_auth(settings, prefix)
    _check_llm(settings, prefix)
    if bool(settings.bybit_api_key) != bool(settings.bybit_api_secret):
        raise ConfigError(f"{prefix}BYBIT_API_KEY and {prefix}BYBIT_API_SECRET must be set together")
    if settings.mode == "embedded" and settings.environment == "production":
        raise ConfigError(f"{prefix}MODE=embedded is for development; production needs {prefix}MODE=azure")
    if settings.mode == "azure":
        if not settings.cosmos_endpoint:
            raise ConfigError(f"{prefix}COSMOS_ENDPOINT is required when {prefix}MODE=azure")
        if not (settings.servicebus_connection or settings.servicebus_namespace):
            raise ConfigError(
                f"{prefix}SERVICEBUS_CONNECTION or {prefix}SERVICEBUS_NAMESPACE is required "
                f"when {prefix}MODE=azure"
            )
    return settings


def _check_auth(settings: Settings, prefix: str) -> None:
    """Token settings that cannot work fail at start-up, not as a 401 on every request."""
    if settings.auth_hs256_secret is not None:
        if not settings.is_development:
            raise ConfigError(f"{prefix}AUTH_HS256_SECRET is for development; production verifies RS256 via JWKS")
        if len(settings.auth_hs256_secret) < 32:
            raise ConfigError(f"{prefix}AUTH_HS256_SECRET must be at least 32 characters")
    if settings.auth_jwks_url:
        if not (settings.auth_issuer and settings.auth_audience):
            raise ConfigError(f"{prefix}AUTH_ISSUER and {prefix}AUTH_AUDIENCE are required with {prefix}AUTH_JWKS_URL")
        if not settings.auth_jwks_url.startswith("https://") and not (
                settings.is_development and settings.auth_jwks_url.startswith("http://")):
            raise ConfigError(f"{prefix}AUTH_JWKS_URL must be an https URL")
    elif (settings.auth_issuer or settings.auth_audience) and not settings.auth_hs256_secret:
        raise ConfigError(f"{prefix}AUTH_JWKS_URL is required with {prefix}AUTH_ISSUER / {prefix}AUTH_AUDIENCE")
    if not settings.auth_tenant_claim.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"{prefix}AUTH_TENANT_CLAIM must be a claim name")


def _number(env: Mapping[str, str], prefix: str, name: str, *, low: float, high: float,
            integer: bool = False) -> float:
    raw = _get(env, prefix, name) or ""
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"{prefix}{name} must be {'an integer' if integer else 'a number'}") from None
    if not low <= value <= high:
        raise ConfigError(f"{prefix}{name} must be in [{low:g}, {high:g}]")
    return value


def _check_llm(settings: Settings, prefix: str) -> None:
    """The AI review endpoint. On Azure the key is an app setting holding a Key Vault
    reference (``@Microsoft.KeyVault(SecretUri=...)``): the platform resolves it before
    the worker starts, so the code reads a plain variable either way."""
    url = settings.llm_base_url
    if not (url.startswith("https://") or (settings.is_development and url.startswith("http://"))):
        raise ConfigError(f"{prefix}LLM_BASE_URL must be an https URL (http only in development)")
    if any(c.isspace() for c in settings.llm_model) or len(settings.llm_model) > 200:
        raise ConfigError(f"{prefix}LLM_MODEL must be a model id without spaces")
    key = settings.llm_api_key
    if key is not None and key.startswith("@Microsoft.KeyVault("):
        # The platform leaves the reference text in place when it cannot resolve it.
        raise ConfigError(f"{prefix}LLM_API_KEY is an unresolved Key Vault reference (check the app's "
                          "managed identity may read the secret)")
    if key is not None and any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError(f"{prefix}LLM_API_KEY holds whitespace or control characters")
