"""The devhost passes HTTP answers through as the Functions host does."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devhost.http_host import add_http_functions, not_found_middleware
from devhost.registry import FunctionSpec


def crash(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internals /srv/app.py")


def plain(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        f"{req.route_params['id']}|{req.params.get('q')}|{req.headers.get('x-request-id')}|{req.get_body().decode()}",
        status_code=201,
        mimetype="text/plain",
    )


SPECS = [
    FunctionSpec(name="crash", kind="http", user_function=crash, trigger_arg="req", route="boom", methods=("GET",)),
    FunctionSpec(name="plain", kind="http", user_function=plain, trigger_arg="req", route="items/{id}",
                 methods=("POST",)),
]


async def _exercise() -> dict[str, tuple[Any, ...]]:
    app = web.Application(middlewares=[not_found_middleware()])
    add_http_functions(app, SPECS, None)
    async with TestClient(TestServer(app)) as client:
        boom = await client.get("/api/boom")
        item = await client.post("/api/items/42?q=x", data=b"hello", headers={"x-request-id": "trace-00000042"})
        missing = await client.get("/api/absent")
        return {
            "boom": (boom.status, await boom.read(), "x-request-id" in boom.headers),
            "item": (item.status, await item.text(), item.headers.get("x-request-id")),
            "missing": (missing.status, missing.headers["content-type"]),
        }


def test_devhost_http_fidelity():
    result = asyncio.run(_exercise())
    assert result["boom"] == (500, b"", False)  # an empty 500, nothing leaked, nothing added
    status, text, echoed = result["item"]
    assert status == 201 and text == "42|x|trace-00000042|hello"
    assert echoed is None  # the function did not echo it, so neither does the host
    assert result["missing"][0] == 404 and result["missing"][1].startswith("application/problem+json")
