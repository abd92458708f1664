from __future__ import annotations

import pytest
from aiohttp import web

from devhost.routes import RouteTemplateError, priority, to_aiohttp


def test_parameters_and_constraints_convert():
    [route] = to_aiohttp("v1/orders/{id}/cancel")
    assert route.path == "/api/v1/orders/{id:[^/]+}/cancel"
    [route] = to_aiohttp("items/{n:int}")
    assert route.path == r"/api/items/{n:-?\d+}"


def test_optional_last_parameter_gives_two_routes():
    paths = [r.path for r in to_aiohttp("v1/profiles/{id?}")]
    assert paths == ["/api/v1/profiles/{id:[^/]+}", "/api/v1/profiles"]


def test_optional_parameter_in_the_middle_is_refused():
    with pytest.raises(RouteTemplateError):
        to_aiohttp("a/{x?}/b")


def test_unknown_constraint_is_refused():
    with pytest.raises(RouteTemplateError, match="constraint"):
        to_aiohttp("a/{x:datetime}")


def test_literal_routes_sort_before_parameter_routes():
    routes = to_aiohttp("orders/{id}") + to_aiohttp("orders/open") + to_aiohttp("files/{*rest}")
    ordered = [r.path for r in sorted(routes, key=priority)]
    assert ordered[0] == "/api/orders/open"
    assert ordered[-1] == "/api/files/{rest:.*}"


async def _ok(request: web.Request) -> web.Response:
    return web.Response()


def test_converted_paths_match_in_aiohttp():
    app = web.Application()
    for route in to_aiohttp("orders/{id:int}"):
        app.router.add_get(route.path, _ok)
    [resource] = list(app.router.resources())
    assert resource.get_info()["pattern"].fullmatch("/api/orders/42")
    assert not resource.get_info()["pattern"].fullmatch("/api/orders/abc")
