from __future__ import annotations

import json

import azure.functions as func

from functions.http_kit import HttpProblem, guarded, json_response, read_json


def make_request(body: bytes = b"", request_id: str | None = None) -> func.HttpRequest:
    headers = {"x-request-id": request_id} if request_id else {}
    return func.HttpRequest(method="POST", url="http://h/api/x", headers=headers, body=body)


def test_problem_raised_in_handler_becomes_problem_json():
    def handler(request_id: str) -> func.HttpResponse:
        raise HttpProblem(409, "Conflict", "already there", field="id")

    resp = guarded(make_request(request_id="trace-12345678"), handler)
    body = json.loads(resp.get_body())
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert body == {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "already there",
                    "requestId": "trace-12345678", "field": "id"}
    assert resp.headers["x-request-id"] == "trace-12345678"


def test_crash_becomes_opaque_500_without_internals():
    def handler(request_id: str) -> func.HttpResponse:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 3")

    resp = guarded(make_request(), handler)
    text = resp.get_body().decode()
    assert resp.status_code == 500
    assert "hunter2" not in text and "Traceback" not in text and "secret.py" not in text
    assert json.loads(text)["requestId"] == resp.headers["x-request-id"]


def test_json_response_echoes_request_id():
    resp = json_response({"a": 1}, "trace-12345678", status=201)
    assert resp.status_code == 201 and resp.headers["x-request-id"] == "trace-12345678"
    assert json.loads(resp.get_body()) == {"a": 1}


def test_read_json_rejects_malformed_body():
    try:
        read_json(make_request(b"{oops"))
    except HttpProblem as p:
        assert p.status == 400 and p.title == "Malformed JSON"
    else:
        raise AssertionError("malformed JSON accepted")
    assert read_json(make_request(b"")) is None
    assert read_json(make_request(b'{"x": [1]}')) == {"x": [1]}
