"""The development sign-in: demo users of two tenants, and tokens for them, for the dashboard.

Why in the devhost and only in development: on Azure users sign in with the OIDC issuer;
on one machine there is none, so the dashboard's sign-in page lists these users and asks
the devhost for a token signed with the data directory's dev secret (the same tokens
``python -m devhost token`` mints). In production mode the routes answer 404, exactly as
if they did not exist, so nothing here can hand out a token there.

    GET  /admin/dev/users   -> {"users": [{"user", "tenant", "roles", "label"}]}
    POST /admin/dev/token   {"user", "tenant", "roles"?}  -> {"token", "expiresAt", "user", "tenant", "roles"}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from shared.auth.dev_tokens import dev_secret, mint

TOKEN_TTL_SECONDS: Final = 8 * 3600


@dataclass(frozen=True)
class DevUser:
    user: str
    tenant: str
    roles: tuple[str, ...]
    label: str

    def view(self) -> dict[str, Any]:
        return {"user": self.user, "tenant": self.tenant, "roles": list(self.roles), "label": self.label}


#: Two tenants with different roles: enough to see every surface and the isolation.
DEV_USERS: Final = (
    DevUser("ada", "demo", ("viewer",), "Ada, viewer (demo)"),
    DevUser("tom", "demo", ("trader",), "Tom, trader (demo)"),
    DevUser("olga", "demo", ("operator",), "Olga, operator (demo)"),
    DevUser("otto", "demo", ("operator",), "Otto, second operator (demo)"),
    DevUser("abe", "demo", ("admin",), "Abe, admin (demo)"),
    DevUser("bea", "tenant-b", ("trader",), "Bea, trader (tenant-b)"),
    DevUser("bo", "tenant-b", ("operator",), "Bo, operator (tenant-b)"),
)


def _known(user: str, tenant: str) -> DevUser | None:
    return next((u for u in DEV_USERS if u.user == user and u.tenant == tenant), None)


def _problem(status: int, title: str, detail: str) -> web.Response:
    return web.json_response({"title": title, "detail": detail, "status": status}, status=status,
                             content_type="application/problem+json")


def add_dev_signin_routes(app: web.Application, data_dir: Path, *, development: bool) -> None:
    """Register the routes; in production they exist only to say 404."""

    async def users(request: web.Request) -> web.Response:
        if not development:
            raise web.HTTPNotFound()
        return web.json_response({"users": [u.view() for u in DEV_USERS]})

    async def token(request: web.Request) -> web.Response:
        if not development:
            raise web.HTTPNotFound()
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Bad request", "The body must be JSON.")
        if not isinstance(body, dict):
            return _problem(400, "Bad request", "The body must be a JSON object.")
        found = _known(str(body.get("user") or ""), str(body.get("tenant") or ""))
        if found is None:
            return _problem(404, "Not found", "No such development user; GET /admin/dev/users lists them.")
        roles = body.get("roles") or list(found.roles)
        if not isinstance(roles, list) or not set(map(str, roles)) <= set(found.roles):
            return _problem(403, "Forbidden", f"{found.user} has the roles {list(found.roles)} only.")
        issued = time.time()
        signed = mint(dev_secret(data_dir), found.user, found.tenant, [str(r) for r in roles],
                      ttl_seconds=TOKEN_TTL_SECONDS, now=issued)
        expires = datetime.fromtimestamp(int(issued) + TOKEN_TTL_SECONDS, tz=UTC)
        return web.json_response({"token": signed, "expiresAt": expires.isoformat().replace("+00:00", "Z"),
                                  "user": found.user, "tenant": found.tenant, "roles": roles},
                                 headers={"cache-control": "no-store"})

    app.router.add_get("/admin/dev/users", users)
    app.router.add_post("/admin/dev/token", token)
