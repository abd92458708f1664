"""Public probes: ``GET /api/health`` and ``GET /api/product/status``."""

from __future__ import annotations

import azure.functions as func

from functions.http_kit import guarded, json_response
from shared.bootstrap import RuntimeUnavailable, runtime
from shared.services.health import health_report, unavailable_report
from shared.services.product_status import product_status, unknown_status

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    def answer(request_id: str) -> func.HttpResponse:
        try:
            rt = runtime()
        except RuntimeUnavailable as exc:
            return json_response(unavailable_report(str(exc)), request_id, status=503)
        healthy, report = health_report(rt)
        return json_response(report, request_id, status=200 if healthy else 503)

    return guarded(req, answer)


@bp.function_name("product_status")
@bp.route(route="product/status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status(req: func.HttpRequest) -> func.HttpResponse:
    def answer(request_id: str) -> func.HttpResponse:
        try:
            controls = runtime().store.container("controls")
        except RuntimeUnavailable:
            return json_response(unknown_status(), request_id, status=503)
        known, body = product_status(controls)
        return json_response(body, request_id, status=200 if known else 503)

    return guarded(req, answer)
