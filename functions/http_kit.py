"""Small helpers every HTTP entrypoint uses: request id, JSON and problem+json answers.

Why: every response must echo ``x-request-id`` and every error must be
``application/problem+json`` with that id and never a stack trace, whichever host
(Azure or the devhost) serves the function.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.request_id import HEADER, accept_or_generate

log = logging.getLogger("halyard.http")

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def request_id_of(req: func.HttpRequest) -> str:
    return accept_or_generate(req.headers.get(HEADER))


def json_response(
    body: Any, request_id: str, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    all_headers = {HEADER: request_id, "cache-control": "no-store"}
    all_headers.update(headers or {})
    return func.HttpResponse(
        json.dumps(body, default=str, separators=(",", ":")),
        status_code=status,
        mimetype=JSON,
        headers=all_headers,
    )


def problem(
    status: int,
    title: str,
    detail: str,
    request_id: str,
    *,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "requestId": request_id,
    }
    body.update(extra or {})
    all_headers = {HEADER: request_id, "cache-control": "no-store"}
    all_headers.update(headers or {})
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        mimetype=PROBLEM_JSON,
        headers=all_headers,
    )


class HttpProblem(Exception):
    """Raised inside a handler to answer with a problem; never carries internals."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def _answer_exception(exc: Exception, request_id: str) -> func.HttpResponse:
    if isinstance(exc, HttpProblem):
        return problem(exc.status, exc.title, exc.detail, request_id, extra=exc.extra)
    log.exception("unhandled error", extra={"requestId": request_id})
    return problem(
        500, "Internal error", "The request failed; quote the request id to support.", request_id
    )


def guarded(req: func.HttpRequest, handler: Callable[[str], func.HttpResponse]) -> func.HttpResponse:
    """Run ``handler(request_id)``: problems become problem+json, crashes an opaque 500.

    Entry points call this instead of being wrapped by a decorator, so the signature the
    Functions indexer reads stays exactly the one written in the entry point.
    """
    request_id = request_id_of(req)
    try:
        return handler(request_id)
    except Exception as exc:
        return _answer_exception(exc, request_id)


async def guarded_async(
    req: func.HttpRequest, handler: Callable[[str], Awaitable[func.HttpResponse]]
) -> func.HttpResponse:
    """``guarded`` for async handlers (durable-client functions must be ``async def``)."""
    request_id = request_id_of(req)
    try:
        return await handler(request_id)
    except Exception as exc:
        return _answer_exception(exc, request_id)


def read_json(req: func.HttpRequest) -> Any:
    """Parse the body as JSON or raise a 400 problem naming the issue."""
    raw = req.get_body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpProblem(400, "Malformed JSON", f"The request body is not valid JSON: {exc}") from None
