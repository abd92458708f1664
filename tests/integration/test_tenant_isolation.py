"""Generated from the route table: a user of tenant B (with every role) calls every
tenant-scoped endpoint with tenant A's ids, finds none of A's data and writes nothing of A's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.api_kit import ROUTES, ApiRoute
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import STORE_FILE
from shared.ports import Query
from shared.services.demo import PROFILES
from tests.support.app_functions import app_specs
from tests.support.devhost_process import DevhostProcess

A = "demo"
B = "tenant-b"
ACCOUNT = PROFILES[0].account_id
PROFILE = PROFILES[0].id
SCOPED = [r for r in ROUTES if r.tenant_scoped]
assert app_specs()  # the app (and so the whole route table) is loaded

BODIES: dict[str, dict[str, Any]] = {
    "ControlChange": {"active": True, "reason": "tenant B tries"},
    "ManualIntent": {"accountId": ACCOUNT, "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001",
                     "clientRequestId": "tenant-b-try"},
    "ProfileWrite": {"accountId": ACCOUNT, "name": "stolen", "symbols": ["BTCUSDT"], "interval": "1h",
                     "strategyId": PROFILES[0].strategy_id, "strategyVersion": 1},
    "ProfileReplace": {"accountId": ACCOUNT, "name": "stolen", "symbols": ["BTCUSDT"], "interval": "1h",
                       "strategyId": PROFILES[0].strategy_id, "strategyVersion": 1},
    "TelemetryBatch": {"events": []},
    "AnnotationWrite": {"symbol": "BTCUSDT", "shapeType": "text", "label": "B was here",
                        "points": [{"time": "2024-01-01T00:00:00Z", "price": 42000}]},
    "StrategyCreate": {"name": "tenant B's own", "params": {"kind": "sma-cross"}},
    "ProposalRequest": {"params": {"kind": "seven-rule"}, "note": "tenant B tries"},
    "ReviewRequest": {"note": "tenant B tries"},
    "SimulateRequest": {"candidateVersion": 1},
    "DecisionRequest": {"reason": "tenant B tries"},
    "RollbackRequest": {"reason": "tenant B tries"},
    "RunStart": {"accountId": ACCOUNT},
}
STRATEGY = PROFILES[0].strategy_id
QUERY = {"accountId": ACCOUNT, "profileId": PROFILE, "symbol": "BTCUSDT", "strategyId": STRATEGY, "limit": "50"}


def snapshot(store: SqliteStore) -> dict[str, set[tuple[str, str]]]:
    """Every document of tenant A's partitions, by id and etag."""
    parts = {"orders": [p.account_id for p in PROFILES], "ledger": [p.account_id for p in PROFILES],
             "profiles": [A], "audit": [A], "decisions": [p.id for p in PROFILES], "events": [f"tenant:{A}"],
             "controls": [f"tenant:{A}", *[f"profile:{p.id}" for p in PROFILES]],
             "strategies": [p.strategy_id for p in PROFILES]}
    return {f"{c}/{pk}": {(d["id"], d["_etag"]) for d in store.container(c).query(Query(), partition_key=pk).items}
            for c, pks in parts.items() for pk in pks}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevhostProcess, dict[str, Any]]]:
    host = DevhostProcess(Path(tmp_path_factory.mktemp("isolation")) / "data", extra_args=["--no-timers"]).start()
    trader = host.auth(user="alice", tenant=A, roles=("trader",))
    status, _, body = host.request("POST", "/api/v1/orders/intents", {**BODIES["ManualIntent"],
                                                                      "clientRequestId": "a-order-1"}, headers=trader)
    assert status == 202, body
    order_id = body["orderId"]
    host.wait_for(lambda: host.request("GET", f"/api/v1/orders/{order_id}", headers=trader)[0] == 200)
    store = SqliteStore(host.data_dir / STORE_FILE)
    secrets = {d["id"] for part in ("orders", "ledger") for d in store.container(part).query(
        Query(), partition_key=ACCOUNT).items} | {d["hash"] for d in store.container("audit").query(
            Query(), partition_key=A).items if "hash" in d}
    store.close()
    yield host, {"order": order_id, "secrets": secrets - {order_id}}
    host.stop()


def url_for(route: ApiRoute, order_id: str) -> str:
    values = {"profileId": PROFILE, "orderId": order_id, "accountId": ACCOUNT, "name": "markets",
              "strategyId": STRATEGY, "version": "1"}
    path = re.sub(r"\{(\w+)[^}]*\}", lambda m: values.get(m.group(1), "x"), route.path)
    return path + ("?" + urlencode(QUERY) if route.method == "GET" else "")


def test_every_tenant_scoped_write_has_an_example_body():
    missing = {r.request_model.__name__ for r in SCOPED if r.request_model and r.request_model.__name__ not in BODIES}
    assert not missing, f"add example bodies for {missing}"


def test_tenant_b_finds_none_of_tenant_a_data_and_writes_nothing(world):
    host, ids = world
    assert len(ids["secrets"]) >= 3  # A really has orders, fills and audit events to leak
    store = SqliteStore(host.data_dir / STORE_FILE)
    before = snapshot(store)
    headers = {**host.auth(user="mallory", tenant=B, roles=("admin",)), "if-match": "*"}
    for route in SCOPED:
        body = BODIES.get(route.request_model.__name__) if route.request_model else None
        status, _, answer = host.request(route.method, url_for(route, ids["order"]), body, headers=headers,
                                         timeout=30)
        assert status < 500, (route.name, status, answer)
        if any(f"{{{name}}}" in route.route for name in ("orderId", "profileId", "strategyId")):
            assert status == 404, (route.name, status, answer)  # A's resource does not exist for B
        if isinstance(answer, dict) and "detail" in answer:
            answer = {k: v for k, v in answer.items() if k not in ("detail", "errors")}  # B's own input echoed
        text = json.dumps(answer)
        leaked = [s for s in ids["secrets"] if s in text]
        assert not leaked, (route.name, leaked)
        assert ACCOUNT not in text or route.request_model is not None, (route.name, text[:300])
    after = snapshot(store)
    store.close()
    changed = {part for part in before if before[part] != after[part]}
    assert not changed, f"tenant B changed tenant A's documents in {changed}"
