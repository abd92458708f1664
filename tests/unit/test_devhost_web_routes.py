"""The devhost's dashboard serving and development sign-in, over real HTTP (aiohttp's
test server): SPA fallback, reserved prefixes, no path escapes; dev users and tokens only
in development, and the tokens verify like any dev token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devhost.dev_signin import DEV_USERS, add_dev_signin_routes
from devhost.static_web import add_dashboard_routes
from shared.auth.dev_tokens import DEV_AUDIENCE, dev_secret


def run(app: web.Application, scenario: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(main())


def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app shell</html>")
    (dist / "assets" / "app-1a2b.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    return dist


def test_the_dashboard_is_served_with_a_fallback_for_client_routes(tmp_path: Path) -> None:
    app = web.Application()
    add_dashboard_routes(app, built(tmp_path))

    async def scenario(client: TestClient[Any, Any]) -> None:
        for path in ("/", "/orders", "/chart/BTCUSDT"):
            resp = await client.get(path)
            assert resp.status == 200 and "app shell" in await resp.text(), path
            assert resp.headers["cache-control"] == "no-store"
        asset = await client.get("/assets/app-1a2b.js")
        assert asset.status == 200 and "immutable" in asset.headers["cache-control"]
        assert (await client.get("/assets/missing.js")).status == 404
        for reserved in ("/api/nope", "/admin/nope", "/runtime/webhooks/x", "/api"):
            assert (await client.get(reserved)).status == 404, reserved
        assert (await client.get("/../secret.txt")).status in (403, 404)
        assert (await client.get("/%2e%2e/secret.txt")).status in (403, 404)

    run(app, scenario)


def test_without_a_build_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    app = web.Application()
    add_dashboard_routes(app, tmp_path / "no-dist")

    async def scenario(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/")
        assert resp.status == 200 and "not built" in await resp.text()

    run(app, scenario)


def test_dev_sign_in_lists_two_tenants_and_mints_verifiable_tokens(tmp_path: Path) -> None:
    app = web.Application()
    add_dev_signin_routes(app, tmp_path, development=True)

    async def scenario(client: TestClient[Any, Any]) -> None:
        users = (await (await client.get("/admin/dev/users")).json())["users"]
        assert {u["tenant"] for u in users} == {"demo", "tenant-b"}
        assert len({tuple(u["roles"]) for u in users}) >= 3
        resp = await client.post("/admin/dev/token", json={"user": "olga", "tenant": "demo"})
        assert resp.status == 200 and resp.headers["cache-control"] == "no-store"
        body = await resp.json()
        claims = jwt.decode(body["token"], dev_secret(tmp_path), algorithms=["HS256"], audience=DEV_AUDIENCE)
        assert (claims["sub"], claims["tid"], claims["roles"]) == ("olga", "demo", ["operator"])
        assert body["expiresAt"].endswith("Z")
        escalate = await client.post("/admin/dev/token", json={"user": "tom", "tenant": "demo", "roles": ["admin"]})
        assert escalate.status == 403
        assert (await client.post("/admin/dev/token", json={"user": "olga", "tenant": "tenant-b"})).status == 404
        assert (await client.post("/admin/dev/token", data="not json")).status == 400

    run(app, scenario)


def test_dev_sign_in_does_not_exist_outside_development(tmp_path: Path) -> None:
    app = web.Application()
    add_dev_signin_routes(app, tmp_path, development=False)

    async def scenario(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/admin/dev/users")).status == 404
        user = DEV_USERS[0]
        assert (await client.post("/admin/dev/token", json={"user": user.user, "tenant": user.tenant})).status == 404
        assert not (tmp_path / "dev-jwt-secret").exists()  # no secret was even created

    run(app, scenario)
