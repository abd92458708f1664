"""Paging for list endpoints: the query fields, the response shape, signed continuations.

Why sign the continuation: the store's token is opaque but not secret, and some adapters
put sort keys in it. Handed to clients as-is, a token from tenant A's listing could be
replayed by tenant B or on another route, and the store would happily resume a query it
never ran for that caller. So the API token wraps the store's token with an HMAC over
(tenant, route, context, store token); any other tenant, route or edit is a 400.

Why the key is an argument: every function instance must accept the tokens the others
issued, so a per-process random key would break paging as soon as the app scales out.
The caller derives the key from settings (``derive_key``) and passes it in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions.http_kit import HttpProblem
from shared.ports import Container, InvalidQuery, Query

MAX_CONTINUATION_LENGTH: Final = 4096  # Cosmos tokens run to ~1-2 KB; URLs stay sane
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
MIN_KEY_BYTES: Final = 16
_VERSION: Final = "v1"

T = TypeVar("T")


class PageQuery(BaseModel):
    """Mixin for a list endpoint's query model: ``?limit=&continuation=``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size (1-200).")
    continuation: str | None = Field(
        default=None, min_length=1, max_length=MAX_CONTINUATION_LENGTH,
        description="Opaque token from the previous page; omit for the first page.")


class Paged(BaseModel, Generic[T]):
    """The response of a list endpoint (declare ``response=Paged[Item]`` on the route)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[T]
    continuation: str | None = Field(
        default=None, description="Pass back to get the next page; null when there is no more.")


def page_response(items: Iterable[Any], next_token: str | None) -> dict[str, Any]:
    """``{"items": [...], "continuation": "..." | null}`` (models are serialised by api_kit)."""
    return {"items": list(items), "continuation": next_token}


def derive_key(secret: str | bytes, purpose: str = "continuation") -> bytes:
    """A key for one purpose from a shared setting, so the same secret signing something
    else (say dev tokens) never yields a MAC that is valid here."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"the paging secret must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(raw, f"halyard/{purpose}/{_VERSION}".encode(), hashlib.sha256).digest()


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the paging key must be at least {MIN_KEY_BYTES} bytes")


def _mac(key: bytes, tenant_id: str, route: str, context: str, store_token: str) -> bytes:
    # A JSON array is unambiguous: no choice of fields can collide with another.
    message = json.dumps([_VERSION, tenant_id, route, context, store_token], separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid_continuation() -> HttpProblem:
    return HttpProblem(400, "Invalid continuation",
                       "The continuation token does not belong to this request; start again without it.")


def encode_continuation(store_token: str | None, *, key: bytes, tenant_id: str, route: str,
                        context: str = "") -> str | None:
    """The token handed to the client (None stays None: no more pages).

    ``tenant_id`` is the caller's tenant (pass ``""`` on routes that are not tenant
    scoped), ``route`` the route's name, ``context`` anything else the page depends on
    (e.g. the filters), so a token cannot resume a different listing.
    """
    if store_token is None:
        return None
    _check_key(key)
    mac = _mac(key, tenant_id, route, context, store_token)
    return f"{_b64(store_token.encode('utf-8'))}.{_b64(mac)}"


def decode_continuation(token: str | None, *, key: bytes, tenant_id: str, route: str,
                        context: str = "") -> str | None:
    """The store's token inside ``token``; a foreign, tampered or malformed one is a 400."""
    if token is None or token == "":
        return None
    _check_key(key)
    if len(token) > MAX_CONTINUATION_LENGTH:
        raise invalid_continuation()
    body, dot, sig = token.partition(".")
    if not dot or not body or not sig:
        raise invalid_continuation()
    try:
        store_token = _unb64(body).decode("utf-8")
        mac = _unb64(sig)
    except (binascii.Error, ValueError):
        raise invalid_continuation() from None
    if not hmac.compare_digest(mac, _mac(key, tenant_id, route, context, store_token)):
        raise invalid_continuation()
    return store_token


def list_page(
    fetch: Callable[[Query], tuple[list[Any], str | None]] | Container,
    query: Query,
    page: PageQuery,
    *,
    key: bytes,
    tenant_id: str,
    route: str,
    context: str = "",
    partition_key: str | None = None,
) -> dict[str, Any]:
    """Run one page of ``query`` for a list endpoint and answer with ``page_response``.

    ``fetch`` is a container (queried with ``partition_key``) or a function returning
    ``(items, store_token)``. A store that refuses a token we signed (a stale token after
    a deploy changed the query) is also an invalid continuation, not a 500.
    """
    store_token = decode_continuation(page.continuation, key=key, tenant_id=tenant_id, route=route,
                                      context=context)
    paged = replace(query, limit=page.limit, continuation=store_token)
    try:
        if callable(fetch):
            items, next_store_token = fetch(paged)
        else:
            result = fetch.query(paged, partition_key=partition_key)
            items, next_store_token = result.items, result.continuation
    except InvalidQuery:
        if store_token is None:
            raise
        raise invalid_continuation() from None
    next_token = encode_continuation(next_store_token, key=key, tenant_id=tenant_id, route=route, context=context)
    return page_response(items, next_token)
