"""Public probes: ``GET /api/health`` and ``GET /api/product/status``."""

from __future__ import annotations

import azure.functions as func

from functions.http_kit import guarded, json_response
from shared.bootstrap import runtime
from shared.services.health import health_report
from shared.services.product_status import product_status

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    def answer(request_id: str) -> func.HttpResponse:
        healthy, report = health_report(runtime())
        return json_response(report, request_id, status=200 if healthy else 503)

    return guarded(req, answer)


@bp.function_name("product_status")
@bp.route(route="product/status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status(req: func.HttpRequest) -> func.HttpResponse:
    def answer(request_id: str) -> func.HttpResponse:
        known, body = product_status(runtime().store.container("controls"))
        return json_response(body, request_id, status=200 if known else 503)

    return guarded(req, answer)
