"""Chart annotations through the devhost: saved per user, validated per shape, private."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.devhost_process import DevhostProcess

LINE: dict[str, Any] = {
    "symbol": "BTCUSDT", "shapeType": "trend-line", "label": "support",
    "points": [{"time": "2023-10-01T00:00:00Z", "price": 26800.5}, {"time": "2023-10-04T00:00:00Z", "price": 27600}],
    "style": {"color": "#ff0000", "lineWidth": 3, "lineStyle": "dashed"}}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    h = DevhostProcess(Path(tmp_path_factory.mktemp("annotations")) / "data", extra_args=["--no-timers"]).start()
    yield h
    h.stop()


def call(h: DevhostProcess, method: str, path: str, body: Any = None, user: str = "alice", tenant: str = "demo",
         role: str = "trader") -> tuple[int, Any]:
    status, _, answer = h.request(method, path, body, headers=h.auth(user=user, tenant=tenant, roles=(role,)))
    return status, answer


def test_a_trader_saves_lists_and_deletes_own_annotations(host: DevhostProcess) -> None:
    status, saved = call(host, "POST", "/api/v1/annotations", LINE)
    assert status == 201, saved
    assert saved["shapeType"] == "trend-line" and saved["style"]["lineStyle"] == "dashed"
    assert saved["points"][1] == {"time": "2023-10-04T00:00:00Z", "price": 27600.0}
    status, text = call(host, "POST", "/api/v1/annotations", {"symbol": "BTCUSDT", "shapeType": "text", "label": "news",
                                                              "points": [{"time": "2023-10-02T00:00:00Z",
                                                                          "price": 27000}]})
    assert status == 201, text
    status, page = call(host, "GET", "/api/v1/annotations?symbol=BTCUSDT")
    assert status == 200 and [a["id"] for a in page["items"]] == [saved["id"], text["id"]]
    assert call(host, "GET", "/api/v1/annotations?symbol=BTCUSDT", user="bob")[1]["items"] == []  # per user
    assert call(host, "GET", "/api/v1/annotations?symbol=BTCUSDT", user="alice", tenant="tenant-b")[1]["items"] == []
    assert call(host, "DELETE", f"/api/v1/annotations/{saved['id']}", user="bob")[0] == 404
    assert call(host, "DELETE", f"/api/v1/annotations/{saved['id']}", tenant="tenant-b")[0] == 404
    assert call(host, "DELETE", f"/api/v1/annotations/{saved['id']}", role="viewer")[0] == 403
    assert call(host, "DELETE", f"/api/v1/annotations/{saved['id']}")[0] == 204
    assert [a["id"] for a in call(host, "GET", "/api/v1/annotations?symbol=BTCUSDT")[1]["items"]] == [text["id"]]


@pytest.mark.parametrize("change, field", [
    ({"points": LINE["points"][:1]}, "body"),                      # a line needs two points
    ({"shapeType": "text", "label": " ", "points": LINE["points"][:1]}, "body"),
    ({"shapeType": "circle"}, "shapeType"),
    ({"symbol": "btc usdt"}, "symbol"),
    ({"style": {"color": "red"}}, "style.color"),
    ({"points": [{"time": "2023-10-01T00:00:00", "price": 1}, {"time": "2023-10-02T00:00:00Z", "price": 2}]},
     "points.0.time"),                                              # times must say they are UTC
])
def test_invalid_shapes_are_refused_naming_the_field(host: DevhostProcess, change: dict[str, Any],
                                                     field: str) -> None:
    status, problem = call(host, "POST", "/api/v1/annotations", {**LINE, **change})
    assert status == 422, problem
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem["errors"]


def test_the_devhost_serves_the_dashboard_and_the_dev_sign_in(host: DevhostProcess) -> None:
    """Wiring: ``/`` is the dashboard (or how to build it), and a dev sign-in token works
    on the API like any other."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{host.url}/", timeout=10) as resp:
        assert resp.status == 200 and "text/html" in resp.headers["content-type"]
    status, _, users = host.request("GET", "/admin/dev/users")
    assert status == 200 and {"demo", "tenant-b"} <= {u["tenant"] for u in users["users"]}
    first = users["users"][0]
    status, _, minted = host.request("POST", "/admin/dev/token", {"user": first["user"], "tenant": first["tenant"]})
    assert status == 200, minted
    status, _, me = host.request("GET", "/api/me", headers={"authorization": f"Bearer {minted['token']}"})
    assert status == 200 and me["userId"] == first["user"] and me["tenantId"] == first["tenant"], json.dumps(me)
    assert host.request("GET", "/api/no-such-route")[0] == 404  # the dashboard never shadows the API
