"""The read API through the real devhost: session, market and the tenant's trading books.

The books come from real paper trading: the devhost first runs with its timers (the
replay at 60x, as ``scripts/run`` does) until both demo accounts hold orders, then is
restarted without timers, so the store stands still while each listing is compared with
it, page by page.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.replay_market import DATA_DIR, DEMO_FILES
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import STORE_FILE
from shared.config import ConfigError, load_settings
from shared.domain import indicators as ind
from shared.domain.candles import CandleSeries, parse_utc, to_ms
from shared.ports import Filter, Query
from shared.services.demo import PROFILES
from shared.services.paging_key import SECRET_FILE, paging_secret
from tests.support.devhost_process import DevhostProcess

ACCOUNTS = sorted({p.account_id for p in PROFILES})
SEVEN_RULE = PROFILES[0].id


def docs(data: Path, container: str, partition: str, *where: Filter) -> list[dict[str, Any]]:
    store = SqliteStore(data / STORE_FILE)
    try:
        return store.container(container).query(Query(where=list(where)), partition_key=partition).items
    finally:
        store.close()


def snapshot(data: Path) -> tuple[int, ...]:
    counts = [len(docs(data, c, a)) for a in ACCOUNTS for c in ("orders", "ledger")]
    return (*counts, *(len(docs(data, "decisions", p.id)) for p in PROFILES))


def traded(data: Path) -> bool:
    orders = [len(docs(data, "orders", a, Filter("kind", "=", "order"))) for a in ACCOUNTS]
    return min(orders) >= 3 and any(docs(data, "orders", a, Filter("kind", "=", "position")) for a in ACCOUNTS)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    data = Path(tmp_path_factory.mktemp("read-api")) / "data"
    trading = DevhostProcess(data, extra_args=["--timer-speed", "60"]).start()
    try:
        trading.wait_for(lambda: traded(data), timeout=150, interval=1)
    finally:
        trading.stop()
    process = DevhostProcess(data, extra_args=["--no-timers"]).start()
    try:
        last, still = snapshot(data), 0
        while still < 3:  # queued intents drain, then nothing moves
            time.sleep(1)
            now = snapshot(data)
            still, last = (still + 1 if now == last else 0), now
        yield process
    finally:
        process.stop()


def get(host: DevhostProcess, path: str, tenant: str = "demo", user: str = "viewer-1") -> tuple[int, Any]:
    status, _, body = host.request("GET", path, headers=host.auth(user=user, tenant=tenant, roles=("viewer",)))
    return status, body


def walk(host: DevhostProcess, path: str, tenant: str = "demo") -> list[dict[str, Any]]:
    """Every item of a listing, following continuations (asserting each page's shape)."""
    found = re.search(r"limit=(\d+)", path)
    limit = int(found.group(1)) if found else 50
    items: list[dict[str, Any]] = []
    token = None
    while True:
        status, body = get(host, path + (f"&continuation={token}" if token else ""), tenant)
        assert status == 200, body
        assert len(body["items"]) <= limit
        items += body["items"]
        token = body["continuation"]
        if token is None:
            return items


def newest_first(found: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    clean = [{k: v for k, v in d.items() if not k.startswith("_")} for d in found]
    return sorted(clean, key=lambda d: (d[field], d["id"]), reverse=True)


def field_of(body: Any) -> list[str]:
    return [e["field"] for e in body["errors"]]


# ----------------------------------------------------------------- session


def test_me_is_the_token(host):
    status, body = get(host, "/api/me", user="alice")
    assert status == 200
    assert body == {"userId": "alice", "tenantId": "demo", "displayName": "alice", "role": "viewer",
                    "roles": ["viewer"]}
    _, _, body = host.request("GET", "/api/me", headers=host.auth(user="bob", roles=("trader", "viewer")))
    assert body["role"] == "trader" and body["roles"] == ["viewer", "trader"]


@pytest.mark.parametrize("path", ["/api/me", "/api/feature-flags", "/api/v1/symbols", "/api/v1/tickers?symbols=BTCUSDT",
                                  "/api/v1/orders", "/api/v1/positions", "/api/v1/ledger", "/api/v1/trades",
                                  f"/api/v1/decisions?profileId={SEVEN_RULE}"])
def test_no_token_is_401(host, path):
    status, headers, _ = host.request("GET", path)
    assert status == 401 and headers["www-authenticate"] == "Bearer"


def test_feature_flags_default_on_and_follow_the_controls_container(host):
    status, body = get(host, "/api/feature-flags")
    assert status == 200 and set(body["flags"]) >= {"markets", "charts", "orders", "positions", "decisions",
                                                    "strategies", "admin"}
    store = SqliteStore(host.data_dir / STORE_FILE)
    try:
        store.container("controls").upsert({"id": "charts", "scope": "flags", "enabled": False})
        store.container("controls").upsert({"id": "beta-alerts", "scope": "flags", "enabled": True})
        _, body = get(host, "/api/feature-flags")
        assert body["flags"]["charts"] is False and body["flags"]["beta-alerts"] is True
        assert body["flags"]["markets"] is True
    finally:
        store.container("controls").delete("charts", "flags")
        store.container("controls").delete("beta-alerts", "flags")
        store.close()


def test_telemetry_is_accepted_and_logged_with_request_id_and_user(host):
    events = [{"name": "tab.open", "at": "2024-01-01T00:00:00Z", "props": {"tab": "charts", "ms": 12}},
              {"name": "chart.zoom", "at": "2024-01-01T00:00:01Z"}]
    headers = {**host.auth(user="carol", roles=("viewer",)), "x-request-id": "telemetry-trace-0001"}
    status, _, body = host.request("POST", "/api/telemetry", {"events": events}, headers=headers)
    assert status == 202 and body == {"accepted": 2}
    logged = host.wait_for(lambda: [json.loads(line[line.index('{"event":"client.telemetry"'):])
                                    for line in list(host.lines) if "telemetry-trace-0001" in line
                                    and '"client.telemetry"' in line] or None)
    assert [r["name"] for r in logged] == ["tab.open", "chart.zoom"]
    assert all(r["userId"] == "carol" and r["tenantId"] == "demo" for r in logged)
    assert logged[0]["props"] == {"tab": "charts", "ms": 12}


@pytest.mark.parametrize(("body", "field"), [
    ({"events": [{"name": "big", "at": "2024-01-01T00:00:00Z", "props": {f"k{i}": "x" * 500 for i in range(9)}}]},
     "events.0"),
    ({"events": [{"name": "e", "at": "2024-01-01T00:00:00Z"}] * 51}, "events"),
    ({"events": [{"name": "e", "at": "2024-01-01T00:00:00Z", "props": {"nested": {"a": 1}}}]}, "events.0.props"),
    ({"events": [{"name": "e"}]}, "events.0.at"),
])
def test_oversized_or_malformed_telemetry_is_refused(host, body, field):
    status, _, answer = host.request("POST", "/api/telemetry", body, headers=host.auth(roles=("viewer",)))
    assert status == 422 and any(f.startswith(field) for f in field_of(answer)), answer


# ----------------------------------------------------------------- market


def recorded(symbol: str) -> CandleSeries:
    return CandleSeries.from_csv(DATA_DIR / DEMO_FILES[symbol][0])


def test_symbols_and_tickers(host):
    status, body = get(host, "/api/v1/symbols")
    btc = next(i for i in body["items"] if i["symbol"] == "BTCUSDT")
    assert status == 200 and btc["tickSize"] == "0.01" and btc["minNotional"] == "5" and btc["quote"] == "USDT"
    status, body = get(host, "/api/v1/tickers?symbols=btcusdt,XRPUSDT")
    assert status == 200 and [t["symbol"] for t in body["items"]] == ["BTCUSDT"] and body["missing"] == ["XRPUSDT"]
    assert Decimal(body["items"][0]["lastPrice"]) > 0 and isinstance(body["items"][0]["lastPrice"], str)
    for query in ("", "?symbols=", "?symbols=" + ",".join(f"S{i:02d}USDT" for i in range(21)), "?symbols=BTC-USD"):
        status, body = get(host, "/api/v1/tickers" + query)
        assert status == 422 and field_of(body) == ["symbols"], (query, body)


def test_candles_are_the_recorded_closed_bars(host):
    status, body = get(host, "/api/v1/candles?symbol=BTCUSDT&interval=1h&limit=50")
    assert status == 200 and len(body["items"]) == 50
    series = recorded("BTCUSDT")
    for c in body["items"]:
        i = series.index_of(to_ms(parse_utc(c["openTime"])))
        assert i is not None and (c["open"], c["close"], c["volume"]) == (
            series.open[i], series.close[i], series.volume[i])
    assert [c["openTime"] for c in body["items"]] == sorted(c["openTime"] for c in body["items"])
    status, body = get(host, "/api/v1/candles?symbol=BTCUSDT&interval=1h&from=2023-10-01T00:00:00Z"
                             "&to=2023-10-01T05:00:00Z")
    assert [c["openTime"] for c in body["items"]] == [f"2023-10-01T0{h}:00:00Z" for h in range(6)]


CANDLES, INDICATORS = "/api/v1/candles?symbol=BTCUSDT&interval=", "/api/v1/indicators?symbol=BTCUSDT&interval=1h"


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/candles?symbol=XRPUSDT&interval=1h", None),
    ("/api/v1/indicators?symbol=XRPUSDT&interval=1h&name=rsi", None),
    ("/api/v1/candles?interval=1h", "symbol"),
    (CANDLES + "7m", "interval"),
    (CANDLES + "1d", "interval"),  # BTCUSDT is served hourly only
    (CANDLES + "1h&limit=1001", "limit"),
    (CANDLES + "1h&from=2023-10-02T00:00:00Z&to=2023-10-01T00:00:00Z", "from"),
    (INDICATORS + "&name=stoch", "name"),
    (INDICATORS + "&name=rsi&params=period=1", "params.period"),
    (INDICATORS + "&name=rsi&params=period=abc", "params.period"),
    (INDICATORS + "&name=sma&params=length=3", "params"),
    (INDICATORS + "&name=macd&params=fast=26,slow=12", "params.fast"),
    (INDICATORS + "&name=bollinger&params=k=nan", "params.k"),
])
def test_bad_market_queries_name_the_field_and_unknown_symbols_are_404(host, path, field):
    status, body = get(host, path)
    if field is None:
        assert status == 404 and body["title"] == "Not found" and "XRPUSDT" in body["detail"]
    else:
        assert status == 422 and field in field_of(body), body


WINDOW = "symbol=BTCUSDT&interval=1h&to=2023-10-04T12:00:00Z&limit=120"


def expected(name: str, s: CandleSeries) -> dict[str, Any]:
    return {
        "sma:period=14": lambda: {"value": ind.sma(s.close, 14)},
        "ema:period=9": lambda: {"value": ind.ema(s.close, 9)},
        "rsi:": lambda: {"value": ind.rsi(s.close, 14)},
        "macd:fast=12,slow=26,signal=9": lambda: dict(zip(("macd", "signal", "histogram"),
                                                          ind.macd(s.close, 12, 26, 9), strict=True)),
        "atr:period=14": lambda: {"value": ind.atr(s.high, s.low, s.close, 14)},
        "bollinger:period=20,k=2.5": lambda: dict(zip(("upper", "middle", "lower"),
                                                      ind.bollinger(s.close, 20, 2.5), strict=True)),
        "vwap:": lambda: {"value": ind.vwap(s.high, s.low, s.close, s.volume, s.open_time)},
    }[name]()


@pytest.mark.parametrize("spec", ["sma:period=14", "ema:period=9", "rsi:", "macd:fast=12,slow=26,signal=9",
                                  "atr:period=14", "bollinger:period=20,k=2.5", "vwap:"])
def test_indicators_equal_the_batch_indicator_on_the_same_candles(host, spec):
    name, params = spec.split(":")
    _, candles = get(host, f"/api/v1/candles?{WINDOW}")
    status, body = get(host, f"/api/v1/indicators?{WINDOW}&name={name}&params={params}")
    assert status == 200, body
    items = candles["items"]
    assert body["time"] == [c["openTime"] for c in items] and len(items) == 120
    series = CandleSeries.from_arrays([to_ms(parse_utc(c["openTime"])) for c in items],
                                      *([c[k] for c in items] for k in ("open", "high", "low", "close", "volume")))
    want = {k: [None if math.isnan(v) else v for v in arr.tolist()] for k, arr in expected(spec, series).items()}
    assert body["values"] == want
    assert any(v is None for v in next(iter(body["values"].values()))) == (name != "vwap")


# ----------------------------------------------------------------- trading books


@pytest.mark.parametrize("account", ACCOUNTS)
def test_orders_walk_every_order_once_newest_first(host, account):
    listed = walk(host, f"/api/v1/orders?accountId={account}&limit=2")
    stored = newest_first(docs(host.data_dir, "orders", account, Filter("kind", "=", "order")), "createdAt")
    assert len(stored) >= 3 and listed == stored
    for wanted in ("filled", "open"):
        values = ["pending-submit", "new", "partially-filled"] if wanted == "open" else [wanted]
        want = [d["id"] for d in stored if d["status"] in values]
        assert [o["id"] for o in walk(host, f"/api/v1/orders?accountId={account}&status={wanted}&limit=2")] == want
    status, body = get(host, "/api/v1/orders")  # the demo tenant has two accounts: name one
    assert status == 422 and field_of(body) == ["accountId"]
    status, body = get(host, f"/api/v1/orders?accountId={account}&status=done")
    assert status == 422 and field_of(body) == ["status"]


def test_trades_and_ledger_match_the_store(host):
    for account in ACCOUNTS:
        fills = newest_first(docs(host.data_dir, "orders", account, Filter("kind", "=", "fill")), "at")
        assert fills and walk(host, f"/api/v1/trades?accountId={account}&limit=2") == fills
        assert walk(host, f"/api/v1/trades?accountId={account}&symbol=BTCUSDT&limit=2") == fills
        assert walk(host, f"/api/v1/trades?accountId={account}&symbol=BTCUSD") == []
        entries = newest_first(docs(host.data_dir, "ledger", account), "at")
        assert walk(host, f"/api/v1/ledger?accountId={account}&limit=2") == entries
        status, body = get(host, f"/api/v1/ledger?accountId={account}&limit=1")
        assert status == 200 and body["accountId"] == account and body["asset"] == "USDT"
        assert Decimal(body["balance"]) == sum(Decimal(e["amount"]) for e in entries)
        assert any(e["id"] == "deposit:initial" for e in entries) and len(entries) > 1


def test_positions_are_the_non_zero_snapshots_marked_to_market(host):
    stored = [d for a in ACCOUNTS for d in docs(host.data_dir, "orders", a, Filter("kind", "=", "position"))
              if Decimal(d["qty"]) != 0]
    status, body = get(host, "/api/v1/positions")
    assert status == 200 and stored
    assert sorted((p["accountId"], p["symbol"], p["qty"], p["avgCost"]) for p in body["items"]) == sorted(
        (d["accountId"], d["symbol"], d["qty"], d["avgCost"]) for d in stored)
    for p in body["items"]:
        mark, qty, cost = Decimal(p["markPrice"]), Decimal(p["qty"]), Decimal(p["avgCost"])
        assert Decimal(p["unrealizedPnl"]) == (mark - cost) * qty and Decimal(p["marketValue"]) == qty * mark


def test_decisions_explain_newest_first(host):
    stored = newest_first(docs(host.data_dir, "decisions", SEVEN_RULE), "createdAt")
    listed = walk(host, f"/api/v1/decisions?profileId={SEVEN_RULE}&limit=7")
    assert len(stored) > 7 and listed == stored and len({d["id"] for d in listed}) == len(listed)
    holds = walk(host, f"/api/v1/decisions?profileId={SEVEN_RULE}&action=hold&limit=5")
    assert [d["id"] for d in holds] == [d["id"] for d in stored if d["action"] == "hold"]
    blocker = next((d["blockedBy"] for d in stored if d["blockedBy"]), None)
    if blocker:
        found = walk(host, f"/api/v1/decisions?profileId={SEVEN_RULE}&blockedBy={blocker}")
        assert found and all(d["blockedBy"] == blocker for d in found)
    status, body = get(host, "/api/v1/decisions")
    assert status == 422 and field_of(body) == ["profileId"]
    assert get(host, "/api/v1/decisions?profileId=no-such-profile")[0] == 404


def test_a_continuation_only_resumes_its_own_listing(host):
    first, second = ACCOUNTS
    _, page = get(host, f"/api/v1/orders?accountId={first}&limit=1")
    token = page["continuation"]
    assert token
    body, _, sig = token.partition(".")
    tampered = f"{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    for path in (f"/api/v1/orders?accountId={first}&limit=1&continuation={tampered}",
                 f"/api/v1/orders?accountId={second}&limit=1&continuation={token}",
                 f"/api/v1/orders?accountId={first}&status=filled&limit=1&continuation={token}",
                 f"/api/v1/trades?accountId={first}&limit=1&continuation={token}",
                 "/api/v1/orders?limit=1&continuation=" + token):
        status, answer = get(host, path, tenant="other" if path.startswith("/api/v1/orders?limit") else "demo")
        assert status == 400 and answer["title"] == "Invalid continuation", (path, answer)
    assert get(host, f"/api/v1/orders?accountId={first}&limit=1&continuation={token}")[0] == 200


def test_another_tenant_sees_nothing_of_demo(host):
    for path in (f"/api/v1/orders?accountId={ACCOUNTS[0]}", f"/api/v1/trades?accountId={ACCOUNTS[0]}",
                 f"/api/v1/ledger?accountId={ACCOUNTS[0]}", f"/api/v1/decisions?profileId={SEVEN_RULE}"):
        status, body = get(host, path, tenant="other")
        assert status == 404 and "demo" not in json.dumps(body), (path, body)
    for path in ("/api/v1/orders", "/api/v1/trades", "/api/v1/positions"):
        status, body = get(host, path, tenant="other")
        assert status == 200 and body["items"] == [], (path, body)
    status, body = get(host, "/api/v1/ledger", tenant="other")
    assert status == 200 and body["items"] == [] and body["balance"] is None


def test_the_paging_secret_is_per_data_dir_in_development_and_required_in_production(host, tmp_path):
    assert get(host, f"/api/v1/orders?accountId={ACCOUNTS[0]}&limit=1")[1]["continuation"]
    path = host.data_dir / SECRET_FILE  # the running devhost signed that token with this file
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    dev = load_settings({"HALYARD_DATA_DIR": str(tmp_path)})
    assert paging_secret(dev) == paging_secret(dev) == (tmp_path / SECRET_FILE).read_bytes()
    azure = {"HALYARD_MODE": "azure", "HALYARD_ENVIRONMENT": "production", "HALYARD_COSMOS_ENDPOINT": "https://c",
             "HALYARD_SERVICEBUS_NAMESPACE": "ns.servicebus.windows.net"}
    with pytest.raises(ConfigError, match="HALYARD_PAGING_SECRET"):
        paging_secret(load_settings(azure))
    assert paging_secret(load_settings({**azure, "HALYARD_PAGING_SECRET": "s" * 32})) == b"s" * 32
    with pytest.raises(ConfigError, match="HALYARD_PAGING_SECRET"):
        load_settings({**azure, "HALYARD_PAGING_SECRET": "short"})
