"""Public probes: ``GET /api/health`` and ``GET /api/product/status``."""

from __future__ import annotations

import azure.functions as func

from functions.api_kit import PUBLIC, ApiContext, ApiResponse, api_route
from shared.bootstrap import RuntimeUnavailable, runtime
from shared.services.health import health_report, unavailable_report
from shared.services.product_status import product_status, unknown_status

bp = func.Blueprint()


@api_route(bp, name="health", method="GET", route="health", role=PUBLIC, tenant_scoped=False, tags=("system",),
           extra_statuses=(503,),
           summary="Store and queue reachable, mode and version; 503 when a dependency fails")
def health(ctx: ApiContext) -> ApiResponse:
    try:
        rt = runtime()
    except RuntimeUnavailable as exc:
        return ApiResponse(unavailable_report(str(exc)), status=503)
    healthy, report = health_report(rt)
    return ApiResponse(report, status=200 if healthy else 503)


@api_route(bp, name="product_status", method="GET", route="product/status", role=PUBLIC, tenant_scoped=False,
           extra_statuses=(503,),
           tags=("system",), summary="Kill switch and maintenance; unknown control state answers 503 'disabled'")
def status(ctx: ApiContext) -> ApiResponse:
    try:
        rt = runtime()
    except RuntimeUnavailable:
        return ApiResponse(unknown_status(), status=503)
    known, body = product_status(rt.store.container("controls"), rt.clock.now())
    return ApiResponse(body, status=200 if known else 503)
