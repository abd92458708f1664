"""The OpenAPI 3.1 document, generated from the route table: ``GET /api/openapi.json``.

Why generated: ``ROUTES`` already says, for every endpoint, its method, path, minimum
role and pydantic models, and the same table drives authorization and validation. A
document built from it cannot drift from what the host actually serves, which a
hand-written one would. Paths are written exactly as the host serves them (``/api/...``)
with no ``servers`` prefix, so a client joins them to the host origin as they are.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final, Literal

import azure.functions as func
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.api_kit import PUBLIC, ROUTES, ApiContext, ApiResponse, ApiRoute, api_route
from functions.http_kit import JSON, PROBLEM_JSON
from shared.auth.principal import Role
from shared.product import product_info

OPENAPI_VERSION: Final = "3.1.0"
SCHEMA_REF: Final = "#/components/schemas/{model}"
SECURITY_SCHEME: Final = "bearer"

# Azure route templates: {id}, {id:int}, {id?}, {*rest}; OpenAPI wants plain {id}.
_TEMPLATE = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)(?::[^{}?]*)?\??\}")

_ERRORS: Final[dict[str, str]] = {
    "400": "Malformed request (bad JSON, invalid continuation).",
    "401": "Missing or invalid bearer token.",
    "403": "The caller's role is below the endpoint's minimum.",
    "404": "No such resource for this caller.",
    "409": "The resource already exists or changed meanwhile.",
    "412": "The resource changed; read it again and retry.",
    "422": "The body or query failed validation; `errors` names each field.",
    "428": "The resource exists: send `If-Match` with the ETag you read.",
    "429": "Too many writes; wait for the `Retry-After` seconds.",
    "500": "Unexpected failure; quote the request id to support.",
    "503": "Product disabled (kill switch), maintenance (writes), or a dependency is down.",
}

_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "RFC 9457 problem details, with the request id echoed.",
    "required": ["type", "title", "status", "detail", "requestId"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "requestId": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

Mode = Literal["validation", "serialization"]
ModelRefs = dict[tuple[Any, Mode], dict[str, Any]]  # (model, mode) -> {"$ref": ...}


def openapi_path(route: ApiRoute) -> tuple[str, list[str]]:
    """The route's path as OpenAPI writes it, and its path parameter names in order."""
    names = _TEMPLATE.findall(route.path)
    return _TEMPLATE.sub(lambda m: "{" + m.group(1) + "}", route.path), names


def _error_codes(route: ApiRoute) -> list[str]:
    """Only the errors this route can answer with (a public route never says 401)."""
    codes = ["400", "404", "409", "412", "500", *(str(c) for c in route.extra_statuses)]
    if route.role is not PUBLIC:
        codes += ["401", "403"]
        if route.writes:
            codes.append("429")
        if "admin" not in route.tags:
            codes.append("503")  # the kill switch (and maintenance, for writes) closes it
    if route.request_model is not None or route.query_model is not None:
        codes.append("422")
    return sorted(set(codes))


def _success(route: ApiRoute, response_ref: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The success response. ``ApiRoute`` records no status yet, so an explicit
    ``success_status`` attribute wins when present; otherwise a DELETE without a body
    is 204 and everything else 200."""
    declared = getattr(route, "success_status", None)
    status = int(declared) if declared else (204 if route.method == "DELETE" and response_ref is None else 200)
    if status == 204:
        return "204", {"description": "Done; no content."}
    answer: dict[str, Any] = {"description": "Success."}
    if response_ref is not None:
        answer["content"] = {JSON: {"schema": response_ref}}
    return str(status), answer


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as a query parameter is just an optional ``X``: absent means null."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1 and len(rest) < len(options):
            merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**rest[0], **merged}
    return schema


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(model_schema.get("required", []))
    params: list[dict[str, Any]] = []
    for name, prop in model_schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "schema": _non_null(prop)}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _operation(route: ApiRoute, refs: ModelRefs, defs: dict[str, Any]) -> dict[str, Any]:
    _, path_names = openapi_path(route)
    role = route.role.label if isinstance(route.role, Role) else "public"
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": list(route.tags),
        "x-min-role": role,
        "x-tenant-scoped": route.tenant_scoped,
    }
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in path_names]
    if route.query_model is not None:
        ref = refs[(route.query_model, "validation")]["$ref"]
        params += _query_parameters(defs[ref.rsplit("/", 1)[-1]])
    if params:
        op["parameters"] = params
    if route.request_model is not None:
        op["requestBody"] = {"required": True,
                             "content": {JSON: {"schema": refs[(route.request_model, "validation")]}}}
    response_ref = refs.get((route.response_model, "serialization")) if route.response_model else None
    code, success = _success(route, response_ref)
    op["responses"] = {code: success, **{c: {"$ref": f"#/components/responses/{_response_name(c)}"}
                                         for c in _error_codes(route)}}
    if route.role is not PUBLIC:
        op["security"] = [{SECURITY_SCHEME: []}]
    return op


def _response_name(code: str) -> str:
    return f"Problem{code}"


def _model_schemas(routes: list[ApiRoute]) -> tuple[ModelRefs, dict[str, Any]]:
    """All models in one pass, so pydantic names every definition uniquely (two models
    with the same class name, or one model whose input and output shapes differ)."""
    wanted: list[tuple[type[BaseModel], Mode]] = []
    for r in routes:
        uses: tuple[tuple[type[BaseModel] | None, Mode], ...] = (
            (r.request_model, "validation"), (r.query_model, "validation"), (r.response_model, "serialization"))
        for model, mode in uses:
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))
    if not wanted:
        return {}, {}
    refs, top = models_json_schema(wanted, by_alias=True, ref_template=SCHEMA_REF)
    return dict(refs), dict(top.get("$defs", {}))


def build_openapi(routes: list[ApiRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; ``ValueError`` on a duplicate operation."""
    refs, defs = _model_schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for route in routes:
        path, _ = openapi_path(route)
        method = route.method.lower()
        if route.name in seen or method in paths.get(path, {}):
            raise ValueError(f"duplicate operation {route.name} ({route.method} {path})")
        seen.add(route.name)
        paths.setdefault(path, {})[method] = _operation(route, refs, defs)
    product = product_info()
    responses = {_response_name(code): {"description": text, "content": {PROBLEM_JSON: {
        "schema": {"$ref": "#/components/schemas/Problem"}}}} for code, text in _ERRORS.items()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": product.display_name, "version": product.version, "description": product.description},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**defs, "Problem": _PROBLEM_SCHEMA},
            "responses": responses,
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


bp = func.Blueprint()
_document: dict[str, Any] | None = None
_document_lock = threading.Lock()


def current_document() -> dict[str, Any]:
    """Built at the first request, when every blueprint has registered its routes."""
    global _document
    with _document_lock:
        if _document is None:
            _document = build_openapi(list(ROUTES))
        return _document


@api_route(bp, name="openapi", method="GET", route="openapi.json", summary="This API's OpenAPI 3.1 document",
           role=PUBLIC, tenant_scoped=False, tags=("meta",))
def openapi_document(ctx: ApiContext) -> ApiResponse:
    return ApiResponse(current_document(), headers={"cache-control": "public, max-age=300"})
