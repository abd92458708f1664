"""The API route table: every HTTP endpoint declares its route, minimum role and models.

``api_route`` registers the Azure function and records an ``ApiRoute`` in ``ROUTES``, the
one table that drives authorization, validation, the OpenAPI document and the tests
generated from it (tenant isolation, roles). A route that declares no role cannot be
registered: ``role=PUBLIC`` must be said out loud.

Every call: request id accepted or generated; bearer token verified (tenant and roles
come from it, never from the request); role checked; body and query validated against
their pydantic models (422 naming each offending field); the handler runs; store errors
map to 404 / 409 / 412; anything else is an opaque 500 with the request id.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.http_kit import HttpProblem, guarded, guarded_async, json_response, problem, read_json
from shared.auth.principal import AuthError, Forbidden, Principal, Role
from shared.ports import Conflict, InvalidQuery, NotFound, PreconditionFailed
from shared.services.product_status import ProductGate


class _Public:
    """Marker for endpoints anyone may call (health, status, the OpenAPI document)."""

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC: Final = _Public()


@dataclass(frozen=True)
class ApiRoute:
    name: str
    method: str
    route: str
    summary: str
    role: Role | _Public
    tenant_scoped: bool
    writes: bool
    request_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    success_status: int | None = None
    extra_statuses: tuple[int, ...] = ()

    @property
    def path(self) -> str:
        return "/api/" + self.route.strip("/")


ROUTES: list[ApiRoute] = []


@dataclass
class ApiContext:
    req: func.HttpRequest
    request_id: str
    principal: Principal | None
    body: Any = None
    query: Any = None
    route_params: dict[str, str] = field(default_factory=dict)
    client: Any = None  # the durable orchestration client, for routes that asked for it

    @property
    def caller(self) -> Principal:
        """The authenticated caller (routes with a role always have one)."""
        if self.principal is None:
            raise HttpProblem(401, "Unauthorized", "This endpoint needs a bearer token.")
        return self.principal


@dataclass
class ApiResponse:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Authenticator = Callable[[str], Principal]
WriteLimiter = Callable[[Principal], float | None]
Gate = Callable[[], dict[str, Any]]
"""Returns the product status (``productDisabled``, ``maintenance.active``)."""

_authenticator: Authenticator | None = None
_write_limiter: WriteLimiter | None = None
_gate: Gate | None = None
#: The product controls as the gate last read them (at most a second old); an admin
#: write through this API drops them at once (``_after_admin_write``).
PRODUCT_GATE = ProductGate()


def configure(*, authenticator: Authenticator | None = None, write_limiter: WriteLimiter | None = None,
              gate: Gate | None = None) -> None:
    """Install the token verifier, the per-user write limiter and the product gate."""
    global _authenticator, _write_limiter, _gate
    if authenticator is not None:
        _authenticator = authenticator
    if write_limiter is not None:
        _write_limiter = write_limiter
    if gate is not None:
        _gate = gate


def warm_up() -> None:
    """Build the token verifier and the write limiter now rather than in the first
    request (a host calls this once it serves; a cold first call held the GIL for
    0.2 s importing, stalling every request that arrived meanwhile)."""
    if _authenticator is None:
        from shared.auth.setup import authenticator_from_settings

        configure(authenticator=authenticator_from_settings())
    if _write_limiter is None:
        _default_write_limiter()


def _default_write_limiter() -> WriteLimiter:
    from shared.adapters.clock import SystemClock
    from shared.bootstrap import runtime
    from shared.services.rate_limit import RateLimiter

    limiter = RateLimiter(lambda: runtime().store, SystemClock)  # real time, not the replay clock
    configure(write_limiter=limiter)
    return limiter


def _product_gate() -> dict[str, Any]:
    from shared.bootstrap import RuntimeUnavailable, runtime
    from shared.services.product_status import unknown_status

    try:
        rt = runtime()
    except RuntimeUnavailable:
        return unknown_status()
    return PRODUCT_GATE.status(rt.store.container("controls"), rt.clock.now())


def _closed_by_product_state(spec: ApiRoute, request_id: str) -> func.HttpResponse | None:
    """Kill switch: only health, status and the admin API answer. Maintenance: read-only
    (writes refused) except the admin API. Unknown state counts as disabled."""
    if isinstance(spec.role, _Public) or "admin" in spec.tags:
        return None
    status = (_gate or _product_gate)()
    if status.get("productDisabled", True):
        return problem(503, "Product disabled", "The product is disabled by an administrator.", request_id,
                       type_="urn:halyard:product-disabled")
    if spec.writes and (status.get("maintenance") or {}).get("active"):
        return problem(503, "Maintenance", "The product is read-only during maintenance.", request_id,
                       type_="urn:halyard:maintenance")
    return None


def bearer_token(req: func.HttpRequest) -> str:
    header = req.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing bearer token")
    return token.strip()


def _authenticate(req: func.HttpRequest) -> Principal:
    if _authenticator is None:
        from shared.auth.setup import authenticator_from_settings

        configure(authenticator=authenticator_from_settings())
    assert _authenticator is not None
    return _authenticator(bearer_token(req))


def _validation_problem(exc: ValidationError, where: str) -> HttpProblem:
    errors = [{"field": ".".join(str(p) for p in err["loc"]) or where, "message": err["msg"]}
              for err in exc.errors(include_url=False)]
    names = ", ".join(e["field"] for e in errors)
    return HttpProblem(422, "Validation failed", f"Invalid {where}: {names}", errors=errors)


def _parse(model: type[BaseModel] | None, raw: Any, where: str) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise _validation_problem(exc, where) from None


def _serialise(body: Any) -> Any:
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True)
    if isinstance(body, list):
        return [_serialise(b) for b in body]
    if isinstance(body, dict):
        return {k: _serialise(v) for k, v in body.items()}
    return body


def _prepare(spec: ApiRoute, req: func.HttpRequest, request_id: str) -> ApiContext | func.HttpResponse:
    """Authenticate, authorize, rate-limit and validate; a response means "stop here"."""
    principal: Principal | None = None
    closed = _closed_by_product_state(spec, request_id)
    if closed is not None:
        return closed
    try:
        if not isinstance(spec.role, _Public):
            principal = _authenticate(req)
            principal.require(spec.role)
            if spec.writes:
                retry_after = (_write_limiter or _default_write_limiter())(principal)
                if retry_after is not None:
                    wait = max(1, math.ceil(retry_after))
                    return problem(429, "Too many requests", f"Too many writes; retry in {wait} s.", request_id,
                                   headers={"retry-after": str(wait)})
    except AuthError as exc:
        return problem(401, "Unauthorized", str(exc), request_id, headers={"www-authenticate": "Bearer"})
    except Forbidden as exc:
        return problem(403, "Forbidden", str(exc), request_id)
    body = _parse(spec.request_model, read_json(req), "body") if spec.request_model else None
    query = _parse(spec.query_model, dict(req.params), "query") if spec.query_model else None
    return ApiContext(req=req, request_id=request_id, principal=principal, body=body, query=query,
                      route_params=dict(req.route_params))


def _store_problem(exc: Exception) -> HttpProblem:
    if isinstance(exc, InvalidQuery):
        return HttpProblem(400, "Bad request", "A query parameter or continuation token is not valid.")
    if isinstance(exc, NotFound):
        return HttpProblem(404, "Not found", "No such resource for this caller.")
    if isinstance(exc, PreconditionFailed):
        return HttpProblem(412, "Precondition failed", "The resource changed; read it again and retry.")
    return HttpProblem(409, "Conflict", "The resource already exists or changed meanwhile.")


def _after_admin_write(spec: ApiRoute) -> None:
    """An admin write may have changed a control: the gate reads the store again, so the
    caller's very next request already obeys it (other instances within the gate's TTL)."""
    if spec.writes and "admin" in spec.tags:
        PRODUCT_GATE.invalidate()


def _run(spec: ApiRoute, handler: Callable[[ApiContext], Any], req: func.HttpRequest,
         request_id: str) -> func.HttpResponse:
    ctx = _prepare(spec, req, request_id)
    if isinstance(ctx, func.HttpResponse):
        return ctx
    try:
        result = handler(ctx)
    except (NotFound, PreconditionFailed, Conflict, InvalidQuery) as exc:
        raise _store_problem(exc) from None
    finally:
        _after_admin_write(spec)
    return _finish(result, request_id)


async def _run_async(spec: ApiRoute, handler: Callable[[ApiContext], Awaitable[Any]], req: func.HttpRequest,
                     request_id: str, client: Any) -> func.HttpResponse:
    ctx = _prepare(spec, req, request_id)
    if isinstance(ctx, func.HttpResponse):
        return ctx
    ctx.client = client
    try:
        result = await handler(ctx)
    except (NotFound, PreconditionFailed, Conflict, InvalidQuery) as exc:
        raise _store_problem(exc) from None
    finally:
        _after_admin_write(spec)
    return _finish(result, request_id)


def _finish(result: Any, request_id: str) -> func.HttpResponse:
    if not isinstance(result, ApiResponse):
        result = ApiResponse(result)
    if result.status == 204:
        return func.HttpResponse(status_code=204, headers={"x-request-id": request_id, **result.headers})
    return json_response(_serialise(result.body), request_id, status=result.status, headers=result.headers)


def api_route(
    bp: func.Blueprint,
    *,
    name: str,
    method: str,
    route: str,
    summary: str,
    role: Role | _Public,
    tenant_scoped: bool = True,
    request: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    tags: tuple[str, ...] = (),
    durable_client: bool = False,
    success_status: int | None = None,
    extra_statuses: tuple[int, ...] = (),
    writes: bool | None = None,
) -> Callable[[Callable[[ApiContext], Any]], Callable[[ApiContext], Any]]:
    """Register an endpoint. With ``durable_client`` the handler is ``async`` and gets the
    durable orchestration client as ``ctx.client`` (``bp`` must be a ``df.Blueprint``).
    ``writes`` defaults to "the method changes state"; a POST that changes nothing of the
    product (client telemetry) says ``writes=False``, and then a viewer may call it."""
    if not isinstance(role, (Role, _Public)):
        raise TypeError(f"route {route}: declare a minimum role (or PUBLIC)")
    method = method.upper()
    spec = ApiRoute(name=name, method=method, route=route, summary=summary, role=role,
                    tenant_scoped=tenant_scoped and not isinstance(role, _Public),
                    writes=method in ("POST", "PUT", "PATCH", "DELETE") if writes is None else writes,
                    request_model=request, query_model=query,
                    response_model=response, tags=tags, success_status=success_status,
                    extra_statuses=extra_statuses)

    def decorate(handler: Callable[[ApiContext], Any]) -> Callable[[ApiContext], Any]:
        registered: Any
        if durable_client:
            async def durable_entry(req: func.HttpRequest, client: Any) -> func.HttpResponse:
                return await guarded_async(req, lambda rid: _run_async(spec, handler, req, rid, client))

            durable_entry.__name__ = durable_entry.__qualname__ = name
            registered = bp.durable_client_input(client_name="client")(durable_entry)
        else:
            def entry(req: func.HttpRequest) -> func.HttpResponse:
                return guarded(req, lambda request_id: _run(spec, handler, req, request_id))

            entry.__name__ = entry.__qualname__ = name
            registered = entry
        bp.function_name(name)(bp.route(route=route, methods=[method], auth_level=func.AuthLevel.ANONYMOUS)(registered))
        ROUTES.append(spec)
        return handler

    return decorate

