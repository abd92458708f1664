"""The OpenAPI document: valid 3.1, every route present, public routes open, refs resolve."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

import function_app  # noqa: F401  (registers every real route in ROUTES)
from functions import openapi
from functions.api_kit import PUBLIC, ROUTES, ApiContext, api_route
from functions.pagination import Paged, PageQuery
from shared.auth.principal import Role


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Colour(Camel):
    hex_code: str


class Widget(Camel):
    widget_id: str
    colour: Colour | None = None


class CreateWidget(Camel):
    display_name: str = Field(min_length=1)
    colour: Colour


class WidgetQuery(PageQuery):
    kind: str
    owner_id: str | None = None


@pytest.fixture
def throwaway_routes() -> Iterator[list[str]]:
    """Four dummy routes on a blueprint nobody registers; ROUTES is restored afterwards."""
    saved = list(ROUTES)
    bp = func.Blueprint()

    def handler(ctx: ApiContext) -> Any:
        return None

    api_route(bp, name="t_list_widgets", method="GET", route="v1/t-widgets", summary="List", role=Role.VIEWER,
              query=WidgetQuery, response=Paged[Widget], tags=("widgets",))(handler)
    api_route(bp, name="t_create_widget", method="POST", route="v1/t-widgets", summary="Create", role=Role.TRADER,
              request=CreateWidget, response=Widget, tags=("widgets",))(handler)
    api_route(bp, name="t_delete_widget", method="DELETE", route="v1/t-widgets/{widgetId:int}", summary="Delete",
              role=Role.OPERATOR)(handler)
    api_route(bp, name="t_widget_ping", method="GET", route="v1/t-widgets/ping", summary="Ping", role=PUBLIC)(handler)
    try:
        yield ["t_list_widgets", "t_create_widget", "t_delete_widget", "t_widget_ping"]
    finally:
        ROUTES[:] = saved


def operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {op["operationId"]: (path, method, op)
            for path, item in doc["paths"].items() for method, op in item.items()}


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved {ref}"
        node = node[part]
    return node


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def test_document_is_valid_openapi_31(throwaway_routes: list[str]):
    doc = openapi.build_openapi(ROUTES)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert "servers" not in doc
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "JWT"}


def test_every_route_appears_with_its_method_and_security(throwaway_routes: list[str]):
    doc = openapi.build_openapi(ROUTES)
    ops = operations(doc)
    assert set(throwaway_routes) <= {r.name for r in ROUTES}
    assert {"openapi"} <= set(ops)
    assert len(ops) == len(ROUTES)
    for route in ROUTES:
        path, method, op = ops[route.name]
        assert method == route.method.lower()
        assert path.startswith("/api/")
        if route.role is PUBLIC:
            assert "security" not in op
            assert "401" not in op["responses"]
        else:
            assert op["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(op["responses"])


def test_refs_all_resolve(throwaway_routes: list[str]):
    doc = openapi.build_openapi(ROUTES)
    refs = list(all_refs(doc))
    assert refs
    for ref in refs:
        resolve(doc, ref)


def test_parameters_bodies_and_responses(throwaway_routes: list[str]):
    doc = openapi.build_openapi(ROUTES)
    ops = operations(doc)

    path, _, listing = ops["t_list_widgets"]
    assert path == "/api/v1/t-widgets"
    params = {p["name"]: p for p in listing["parameters"]}
    assert set(params) == {"limit", "continuation", "kind", "ownerId"}
    assert params["kind"]["required"] is True and params["limit"]["required"] is False
    assert params["ownerId"]["schema"]["type"] == "string"
    assert params["limit"]["schema"]["maximum"] == 200
    page = resolve(doc, listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert set(page["properties"]) == {"items", "continuation"}
    assert "422" in listing["responses"] and "429" not in listing["responses"]

    _, _, create = ops["t_create_widget"]
    body = resolve(doc, create["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(body["properties"]) == {"displayName", "colour"}
    assert "429" in create["responses"]
    problem = resolve(doc, create["responses"]["409"]["$ref"])
    assert "application/problem+json" in problem["content"]
    schema = resolve(doc, problem["content"]["application/problem+json"]["schema"]["$ref"])
    assert set(schema["required"]) == {"type", "title", "status", "detail", "requestId"}
    assert "errors" in schema["properties"]

    path, _, delete = ops["t_delete_widget"]
    assert path == "/api/v1/t-widgets/{widgetId}"
    assert delete["parameters"] == [{"name": "widgetId", "in": "path", "required": True,
                                     "schema": {"type": "string"}}]
    assert "204" in delete["responses"] and "content" not in delete["responses"]["204"]
    assert delete["x-min-role"] == "operator"

    _, _, ping = ops["t_widget_ping"]
    assert "security" not in ping and ping["x-tenant-scoped"] is False


def test_duplicate_operations_are_refused(throwaway_routes: list[str]):
    with pytest.raises(ValueError, match="duplicate"):
        openapi.build_openapi([*ROUTES, ROUTES[-1]])


def test_endpoint_serves_the_document_lazily(monkeypatch: pytest.MonkeyPatch, throwaway_routes: list[str]):
    monkeypatch.setattr(openapi, "_document", None)
    app = func.FunctionApp()
    app.register_functions(openapi.bp)
    (fn,) = [f for f in app.get_functions() if f.get_function_name() == "openapi"]
    req = func.HttpRequest(method="GET", url="http://h/api/openapi.json", headers={}, body=b"")
    resp = fn.get_user_function()(req)
    assert resp.status_code == 200
    doc = json.loads(resp.get_body())
    assert doc["openapi"] == "3.1.0"
    assert "t_widget_ping" in operations(doc)  # built at the first call, after registration
    assert resp.headers["x-request-id"]
