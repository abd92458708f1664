"""Generated from the route table: every HTTP function declares a role, writes refuse a
viewer, and every endpoint refuses the role just below the one it declares."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.api_kit import PUBLIC, ROUTES, ApiRoute
from shared.auth.principal import Role
from tests.support.app_functions import app_specs
from tests.support.devhost_process import DevhostProcess

HTTP_FUNCTIONS = [s for s in app_specs() if s.kind == "http"]
PROTECTED = [r for r in ROUTES if r.role is not PUBLIC]


def concrete(route: ApiRoute) -> str:
    return re.sub(r"\{[^}]+\}", "x-route-param", route.path)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    process = DevhostProcess(Path(tmp_path_factory.mktemp("roles")) / "data", extra_args=["--no-timers"]).start()
    yield process
    process.stop()


def test_every_http_function_is_in_the_route_table_with_a_role():
    declared = {r.name: r for r in ROUTES}
    for spec in HTTP_FUNCTIONS:
        assert spec.name in declared, f"{spec.name} is not registered through api_route (no declared role)"
        assert isinstance(declared[spec.name].role, Role) or declared[spec.name].role is PUBLIC


def test_a_route_without_a_role_cannot_be_registered():
    import azure.functions as func

    from functions.api_kit import api_route

    with pytest.raises(TypeError, match="declare a minimum role"):
        api_route(func.Blueprint(), name="x", method="GET", route="x", summary="x", role=None)  # type: ignore[arg-type]


def test_writes_need_more_than_viewer_and_public_routes_only_read():
    for route in ROUTES:
        if route.writes:
            assert isinstance(route.role, Role) and route.role > Role.VIEWER, f"{route.name} lets a viewer write"
    assert all(not r.writes for r in ROUTES if r.role is PUBLIC)


@pytest.mark.parametrize("route", PROTECTED, ids=[r.name for r in PROTECTED])
def test_the_role_below_the_declared_one_is_refused(host, route):
    assert isinstance(route.role, Role)
    path = concrete(route)
    if route.role is Role.VIEWER:
        status, headers, _ = host.request(route.method, path, {})  # no token at all
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        return
    below = Role(route.role - 1)
    status, _, body = host.request(route.method, path, {}, headers=host.auth(roles=(below.label,)))
    assert status == 403, (route.name, status, body)
    assert route.role.label in body["detail"]
