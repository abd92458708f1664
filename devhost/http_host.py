"""Serves the app's HTTP functions through aiohttp, as ``func start`` would under ``/api``.

The aiohttp request becomes an ``azure.functions.HttpRequest`` (method, url, headers,
query, route params, body), the function's ``HttpResponse`` becomes the aiohttp answer.
A request id is accepted or generated here, put on the request the function sees and
echoed on the answer, so even a crash that never reached the function is traceable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.invocations import call_user_function, log_invocation
from devhost.registry import FunctionSpec
from devhost.routes import priority, to_aiohttp
from shared.request_id import HEADER, accept_or_generate

READ_METHODS = frozenset({"GET", "HEAD"})  # run on the read pool (devhost.invocations)

log = logging.getLogger("devhost.http")

DurableBinding = Callable[[], str]


def _problem(status: int, title: str, detail: str, request_id: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "requestId": request_id}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers={HEADER: request_id},
    )


async def to_function_request(request: web.Request, request_id: str) -> func.HttpRequest:
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers[HEADER] = request_id
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=dict(request.query),
        route_params=dict(request.match_info),
        body=await request.read(),
    )


def to_aiohttp_response(resp: Any) -> web.Response:
    """The function's answer as is: like the real host, the devhost adds no header, so a
    function that forgets to echo ``x-request-id`` fails its tests here too."""
    if not isinstance(resp, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(resp).__name__}, not HttpResponse")
    headers = {k: v for k, v in resp.headers.items()}
    lowered = {k.lower() for k in headers}
    if "content-type" not in lowered and resp.mimetype:
        charset = f"; charset={resp.charset}" if resp.charset else ""
        headers["Content-Type"] = f"{resp.mimetype}{charset}"
    return web.Response(status=resp.status_code, body=resp.get_body(), headers=headers)


def make_handler(spec: FunctionSpec, durable_binding: DurableBinding | None) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        request_id = accept_or_generate(request.headers.get(HEADER))
        started = time.perf_counter()
        kwargs: dict[str, Any] = {spec.trigger_arg: await to_function_request(request, request_id)}
        if spec.durable_client_arg:
            if durable_binding is None:
                return _problem(500, "Host misconfigured", "durable runtime not running", request_id)
            kwargs[spec.durable_client_arg] = durable_binding()
        try:
            result = await call_user_function(spec.user_function, kwargs, reads=request.method in READ_METHODS)
            response = to_aiohttp_response(result)
        except Exception as exc:
            log.exception("function %s raised", spec.name)
            log_invocation(spec.name, "http", started, "failed", request_id, type(exc).__name__)
            return web.Response(status=500)  # what the Functions host answers: an empty 500
        outcome = "succeeded" if response.status < 500 else "failed"
        log_invocation(spec.name, "http", started, f"{outcome} {response.status}", request_id)
        return response

    return handler


def add_http_functions(
    app: web.Application, specs: list[FunctionSpec], durable_binding: DurableBinding | None,
    *, methods: Collection[str] | None = None,
) -> list[tuple[str, str, str]]:
    """Register every HTTP function (only these ``methods`` when given); returns
    (method, path, function) in match order."""
    entries = []
    for spec in specs:
        assert spec.route is not None
        for route in to_aiohttp(spec.route):
            entries.append((route, spec))
    entries.sort(key=lambda e: priority(e[0]))
    table: list[tuple[str, str, str]] = []
    for route, spec in entries:
        handler = make_handler(spec, durable_binding)
        for method in spec.methods:
            if methods is not None and method not in methods:
                continue
            app.router.add_route(method, route.path, handler, name=None)
            table.append((method, route.path, spec.name))
    return table


def not_found_middleware() -> Any:
    """Unknown routes and wrong methods answer problem+json with a request id too."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            request_id = accept_or_generate(request.headers.get(HEADER))
            response = _problem(exc.status, exc.reason, f"{request.method} {request.path}: {exc.reason}", request_id)
            for name in ("Allow",):
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
            return response

    return middleware
