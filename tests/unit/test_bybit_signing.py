"""Bybit v5 request signing (fixtures/bybit/SOURCES.md, "Request signing").

The docs' worked examples do not publish their secret, so the vectors here are the
self-computed ones recorded in SOURCES.md (the documented rule applied with Python's
``hmac``): they pin the string-to-sign and the hex encoding, not Bybit's servers. The
client tests check that what is signed is exactly what goes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest

from shared.adapters.bybit.http import BybitHttpClient, sign, signature_payload
from shared.adapters.clock import ManualClock
from shared.ports import ExchangeError

SECRET = "test-secret-not-real"
KEY = "XXXXXXXXXX"


def test_get_rule_matches_the_documented_string_and_vector():
    payload = signature_payload("1658384314791", KEY, "5000", "category=option&symbol=BTC-29JUL22-25000-C")
    assert payload == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    assert sign(SECRET, payload) == "e9d95f93790258d5680772d879abb9df2571ae26d3edb5f36973f9757eef3a16"


def test_post_rule_signs_the_raw_body_whitespace_included():
    payload = signature_payload(1658385579423, KEY, 5000, '{"category": "option"}')
    assert payload == '1658385579423XXXXXXXXXX5000{"category": "option"}'
    assert sign(SECRET, payload) == "4283a85d657545fbe812cf1dc6f0fd91360428d15b028b0b9e1754fe043fabde"
    # one space less is another signature: the body must be signed exactly as sent
    assert sign(SECRET, payload.replace(": ", ":")) != sign(SECRET, payload)


def test_signature_is_lowercase_hex_sha256():
    value = sign(SECRET, "x")
    assert len(value) == 64 and value == value.lower()
    assert value == hmac.new(SECRET.encode(), b"x", hashlib.sha256).hexdigest()


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"retCode": 0, "retMsg": "OK", "result": {}, "time": 1})


@pytest.fixture
def recorder_client():
    recorder = Recorder()
    clock = ManualClock(datetime(2022, 7, 21, 6, 18, 34, 791000, tzinfo=UTC))
    client = BybitHttpClient(base_url="https://bybit.test", api_key=KEY, api_secret=SECRET, recv_window_ms=5000,
                             clock=clock, transport=httpx.MockTransport(recorder))
    yield client, recorder
    client.close()


def _expected(request: httpx.Request, payload: str) -> str:
    ts, recv = request.headers["X-BAPI-TIMESTAMP"], request.headers["X-BAPI-RECV-WINDOW"]
    return sign(SECRET, f"{ts}{KEY}{recv}{payload}")


def test_get_signs_the_query_exactly_as_sent(recorder_client):
    client, recorder = recorder_client
    client.get("/v5/order/realtime", {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "a b/c", "x": None})
    request = recorder.requests[0]
    sent_query = request.url.query.decode()
    assert sent_query.startswith("category=spot&symbol=BTCUSDT&orderLinkId=")
    assert "x=" not in sent_query  # None parameters are left out, not sent as "None"
    assert request.headers["X-BAPI-API-KEY"] == KEY
    assert request.headers["X-BAPI-TIMESTAMP"] == "1658384314791"
    assert request.headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert request.headers["X-BAPI-SIGN"] == _expected(request, sent_query)


def test_post_signs_the_body_bytes_sent(recorder_client):
    client, recorder = recorder_client
    client.post("/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "qty": "0.1"})
    request = recorder.requests[0]
    body = request.content.decode()
    assert json.loads(body) == {"category": "spot", "symbol": "BTCUSDT", "qty": "0.1"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-BAPI-SIGN"] == _expected(request, body)


def test_public_calls_carry_no_credentials(recorder_client):
    client, recorder = recorder_client
    client.get("/v5/market/tickers", {"category": "spot"}, signed=False)
    assert not any(h.lower().startswith("x-bapi") for h in recorder.requests[0].headers)


def test_secret_never_in_repr():
    client = BybitHttpClient(api_key=KEY, api_secret=SECRET, transport=httpx.MockTransport(Recorder()))
    assert SECRET not in repr(client) and KEY not in repr(client)
    assert SECRET not in repr(vars(client)) and KEY not in repr(vars(client))
    client.close()


def test_an_unexpected_failure_still_surfaces_as_exchange_error():
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    client = BybitHttpClient(api_key=KEY, api_secret=SECRET, transport=httpx.MockTransport(explode))
    with pytest.raises(ExchangeError, match="unexpected RuntimeError"):
        client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})
    client.close()
