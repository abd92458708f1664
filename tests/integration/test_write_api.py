"""The write API through the real devhost: manual orders through the queue and the
execution function, cancels, profiles with If-Match, feature flags, and the event feed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.paper_exchange import PaperExchange
from shared.adapters.replay_market import DEMO_START, load_demo_market
from shared.adapters.sqlite_store import SqliteStore
from shared.bootstrap import STORE_FILE
from shared.domain.orders import new_order_from_intent, transition
from shared.domain.trading import OrderIntent, OrderStatus, OrderType, Side
from shared.ports import Exchange, Filter, OrderRequest, Query
from shared.services.audit import read_chain
from shared.services.cancels import cancel_order
from shared.services.events import read_after
from shared.services.execution import ExecutionContext, execute_intent, handle_order_message
from tests.support.devhost_process import DevhostProcess

TRADER = ("trader",)
VIEWER = ("viewer",)
OPERATOR = ("operator",)
ADMIN = ("admin",)
ACCOUNT_1, ACCOUNT_2 = "demo-paper-1", "demo-paper-2"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    process = DevhostProcess(Path(tmp_path_factory.mktemp("write")) / "data", extra_args=["--no-timers"]).start()
    yield process
    process.stop()


def call(host: DevhostProcess, method: str, path: str, body: Any = None, *, user: str = "trader-1",
         tenant: str = "demo", roles: tuple[str, ...] = TRADER, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    auth = host.auth(user=user, tenant=tenant, roles=roles)
    return host.request(method, path, body, headers={**auth, **(headers or {})}, timeout=timeout)


def intent(client_request_id: str, account: str = ACCOUNT_1, **overrides: Any) -> dict[str, Any]:
    return {"accountId": account, "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001",
            "clientRequestId": client_request_id, **overrides}


def order_in(host: DevhostProcess, order_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        status, _, body = call(host, "GET", f"/api/v1/orders/{order_id}", roles=VIEWER, user="viewer-1")
        return body if status == 200 and body["status"] in statuses else None

    found: dict[str, Any] = host.wait_for(settled, timeout=20)
    return found


def audit_items(host: DevhostProcess, tenant: str = "demo") -> list[dict[str, Any]]:
    status, _, body = call(host, "GET", "/api/admin/audit?limit=200", user="ops-1", tenant=tenant, roles=OPERATOR)
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


def count_docs(host: DevhostProcess, container: str, account: str, **equal: Any) -> int:
    store = SqliteStore(host.data_dir / STORE_FILE)
    try:
        where = [Filter(k, "=", v) for k, v in equal.items()]
        return len(store.container(container).query(Query(where=where), partition_key=account).items)
    finally:
        store.close()


def feed_cursor(host: DevhostProcess, tenant: str, user: str = "watcher-1") -> str:
    status, _, body = call(host, "GET", "/api/v1/events", user=user, tenant=tenant, roles=VIEWER)
    assert status == 200 and body["items"] == [], body
    cursor: str = body["cursor"]
    return cursor


def feed(host: DevhostProcess, tenant: str, cursor: str, wait: float = 0,
         user: str = "watcher-1") -> tuple[list[dict[str, Any]], str]:
    status, _, body = call(host, "GET", f"/api/v1/events?after={cursor}&wait={wait}", user=user, tenant=tenant,
                           roles=VIEWER, timeout=wait + 10)
    assert status == 200, body
    return body["items"], body["cursor"]


# ------------------------------------------------------------------ orders


def test_a_manual_market_buy_is_executed_once_with_its_request_id(host):
    cursor = feed_cursor(host, "demo")
    status, headers, body = call(host, "POST", "/api/v1/orders/intents", intent("buy-0001"),
                                 headers={"x-request-id": "trace-manual-0001"})
    assert status == 202, body
    order_id = body["intentId"]
    assert order_id.startswith("m-") and len(order_id) == 34 and body["orderId"] == order_id
    assert headers["location"] == f"/api/v1/orders/{order_id}" and headers["x-request-id"] == "trace-manual-0001"

    order = order_in(host, order_id, ("filled",))
    assert order["requestId"] == "trace-manual-0001" and order["accountId"] == ACCOUNT_1
    assert order["filledQty"] == order["qty"] == "0.001" and order["profileId"] is None
    trail = [e for e in audit_items(host) if e["target"] == f"order:{order_id}"]
    assert trail and all(e["requestId"] == "trace-manual-0001" for e in trail)
    assert any(e["action"] == "order.executed" and e["details"]["status"] == "filled" for e in trail)

    # A retried POST (same clientRequestId, new request id) is the same intent: still one order.
    status, headers, again = call(host, "POST", "/api/v1/orders/intents", intent("buy-0001"),
                                  headers={"x-request-id": "trace-manual-0002"})
    assert status == 202 and again["intentId"] == order_id and again["status"] == "filled"
    time.sleep(0.5)
    assert count_docs(host, "orders", ACCOUNT_1, kind="order", id=order_id) == 1
    assert count_docs(host, "paper", ACCOUNT_1, kind="order", clientOrderId=order_id) == 1
    assert order_in(host, order_id, ("filled",))["requestId"] == "trace-manual-0001"
    # The same key for a different order is refused rather than silently ignored.
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("buy-0001", qty="0.002"))
    assert status == 409, body

    # The tenant's feed said so.
    items, _ = feed(host, "demo", cursor)
    updates = [e for e in items if e["type"] == "order.updated" and e["data"]["id"] == order_id]
    assert updates and updates[-1]["data"]["status"] == "filled" and updates[-1]["requestId"] == "trace-manual-0001"
    assert all(e["stream"] in ("global", "tenant:demo") for e in items)

    # A filled order cannot be canceled.
    status, _, body = call(host, "POST", f"/api/v1/orders/{order_id}/cancel", {})
    assert status == 409, body


def test_who_may_post_and_read_orders(host):
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("viewer-0001"), roles=VIEWER,
                           user="viewer-2")
    assert status == 403, body
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("other-0001"), tenant="other",
                           user="other-trader")
    assert status == 404, body  # demo's account does not exist for tenant "other"
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("iso-0001"), user="trader-2")
    assert status == 202
    order_id = body["intentId"]
    order_in(host, order_id, ("filled",))
    for method, path in (("GET", f"/api/v1/orders/{order_id}"), ("POST", f"/api/v1/orders/{order_id}/cancel")):
        status, _, body = call(host, method, path, {} if method == "POST" else None, tenant="other",
                               user="other-trader")
        assert status == 404, (path, body)
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("bad-0001", symbol="NOPEUSDT"),
                           user="trader-2")
    assert status == 422 and body["errors"][0]["field"] == "symbol"
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("bad-0002", qty=0.001), user="trader-2")
    assert status == 422  # money is a decimal string, never a float
    status, _, body = call(host, "POST", "/api/v1/orders/intents", intent("bad-0003", limitPrice="100"),
                           user="trader-2")
    assert status == 422  # a market order takes no limit price


def test_a_resting_limit_order_can_be_canceled(host):
    body = intent("limit-0001", account=ACCOUNT_2, type="limit", qty="0.01", limitPrice="1000.00")
    status, _, posted = call(host, "POST", "/api/v1/orders/intents", body, user="trader-3")
    assert status == 202, posted
    order_id = posted["intentId"]
    assert order_in(host, order_id, ("new",))["limitPrice"] == "1000.00"
    status, headers, body = call(host, "POST", f"/api/v1/orders/{order_id}/cancel", {}, user="trader-3",
                                 headers={"x-request-id": "trace-cancel-0001"})
    assert status == 202 and headers["location"] == f"/api/v1/orders/{order_id}", body
    assert order_in(host, order_id, ("canceled",))["filledQty"] == "0"
    cancel = [e for e in audit_items(host) if e["target"] == f"order:{order_id}" and e["action"] == "order.cancel"]
    assert len(cancel) == 1 and cancel[0]["actor"] == "trader-3" and cancel[0]["requestId"] == "trace-cancel-0001"
    status, _, body = call(host, "POST", f"/api/v1/orders/{order_id}/cancel", {}, user="trader-3")
    assert status == 409  # already canceled


# ------------------------------------------------------------------ profiles


def profile_body(**overrides: Any) -> dict[str, Any]:
    return {"accountId": "demo-paper-9", "name": "ETH trial", "symbols": ["BTCUSDT"], "interval": "1h",
            "strategyId": "demo-sma-cross", "strategyVersion": 1, "enabled": False, **overrides}


def test_profiles_crud_with_if_match_and_tenant_isolation(host):
    user: dict[str, Any] = {"user": "trader-4"}
    assert call(host, "POST", "/api/v1/profiles", profile_body(tenantId="other"), **user)[0] == 422
    status, _, body = call(host, "POST", "/api/v1/profiles", profile_body(strategyVersion=99), **user)
    assert status == 422 and body["errors"][0]["field"] == "strategyVersion"
    status, _, body = call(host, "POST", "/api/v1/profiles", profile_body(accountId="other-acct"), tenant="other",
                           user="other-trader")
    assert status == 422 and body["errors"][0]["field"] == "strategyId"  # demo's strategy is not other's to run
    status, _, own = call(host, "POST", "/api/v1/strategies", {"name": "mine", "params": {"kind": "sma-cross"}},
                          tenant="other", user="other-trader")
    assert status == 201, own
    status, _, body = call(host, "POST", "/api/v1/profiles",
                           profile_body(accountId=ACCOUNT_1, strategyId=own["strategyId"]), tenant="other",
                           user="other-trader")
    assert status == 422 and body["errors"][0]["field"] == "accountId"  # demo's account is not other's to take
    assert call(host, "POST", "/api/v1/profiles", profile_body(), roles=VIEWER, user="viewer-3")[0] == 403

    status, headers, created = call(host, "POST", "/api/v1/profiles", profile_body(), **user,
                                    headers={"x-request-id": "trace-profile-0001"})
    assert status == 201, created
    pid, etag = created["id"], headers["etag"]
    assert pid.startswith("p-") and created["tenantId"] == "demo" and headers["location"] == f"/api/v1/profiles/{pid}"
    status, headers, read = call(host, "GET", f"/api/v1/profiles/{pid}", roles=VIEWER, user="viewer-3")
    assert status == 200 and headers["etag"] == etag and read["name"] == "ETH trial"
    status, _, listed = call(host, "GET", "/api/v1/profiles", roles=VIEWER, user="viewer-3")
    assert pid in [p["id"] for p in listed["items"]] and "demo-btc-seven-rule" in [p["id"] for p in listed["items"]]

    changed = {**read, "name": "BTC trial"}
    assert call(host, "PUT", f"/api/v1/profiles/{pid}", changed, **user)[0] == 428
    assert call(host, "PUT", f"/api/v1/profiles/{pid}", changed, **user, headers={"if-match": '"stale"'})[0] == 412
    status, _, body = call(host, "PUT", f"/api/v1/profiles/{pid}", {**changed, "tenantId": "other"}, **user,
                           headers={"if-match": etag})
    assert status == 422, body
    status, headers, updated = call(host, "PUT", f"/api/v1/profiles/{pid}", changed, **user,
                                    headers={"if-match": etag, "x-request-id": "trace-profile-0002"})
    assert status == 200 and updated["name"] == "BTC trial" and headers["etag"] != etag, updated
    assert updated["createdAt"] == created["createdAt"]
    new_etag = headers["etag"]

    other: dict[str, Any] = {"tenant": "other", "user": "other-trader"}
    assert call(host, "GET", f"/api/v1/profiles/{pid}", **other)[0] == 404
    assert call(host, "PUT", f"/api/v1/profiles/{pid}", changed, **other, headers={"if-match": new_etag})[0] == 404
    assert call(host, "DELETE", f"/api/v1/profiles/{pid}", **other, headers={"if-match": new_etag})[0] == 404
    assert pid not in [p["id"] for p in call(host, "GET", "/api/v1/profiles", **other)[2]["items"]]

    assert call(host, "DELETE", f"/api/v1/profiles/{pid}", **user)[0] == 428
    assert call(host, "DELETE", f"/api/v1/profiles/{pid}", **user, headers={"if-match": etag})[0] == 412
    status, headers, _ = call(host, "DELETE", f"/api/v1/profiles/{pid}", **user, headers={"if-match": new_etag})
    assert status == 204
    assert call(host, "GET", f"/api/v1/profiles/{pid}", **user)[0] == 404

    trail = [(e["action"], e["actor"], e["requestId"]) for e in audit_items(host) if e["target"] == f"profile:{pid}"]
    assert ("profile.created", "trader-4", "trace-profile-0001") in trail
    assert ("profile.updated", "trader-4", "trace-profile-0002") in trail
    assert [a for a, _, _ in trail].count("profile.deleted") == 1


def test_an_account_stays_with_its_tenant_after_its_last_profile_is_deleted(host):
    """Its orders, positions and ledger outlive the profile: another tenant naming the
    account would see and trade on them. The first tenant to name it keeps it."""
    mine: dict[str, Any] = {"tenant": "claim-a", "user": "claim-a-trader"}
    theirs: dict[str, Any] = {"tenant": "claim-b", "user": "claim-b-trader"}
    strategies = {}
    for who in (mine, theirs):
        status, _, made = call(host, "POST", "/api/v1/strategies", {"name": "s", "params": {"kind": "sma-cross"}},
                               **who)
        assert status == 201, made
        strategies[who["tenant"]] = made["strategyId"]

    def body(tenant: str) -> dict[str, Any]:
        return profile_body(accountId="acct-claimed-1", strategyId=strategies[tenant])

    status, headers, created = call(host, "POST", "/api/v1/profiles", body("claim-a"), **mine)
    assert status == 201, created
    assert call(host, "DELETE", f"/api/v1/profiles/{created['id']}", **mine,
                headers={"if-match": headers["etag"]})[0] == 204
    status, _, refused = call(host, "POST", "/api/v1/profiles", body("claim-b"), **theirs)
    assert status == 422 and refused["errors"][0]["field"] == "accountId", refused  # still claim-a's
    status, headers, again = call(host, "POST", "/api/v1/profiles", body("claim-a"), **mine)
    assert status == 201, again  # its own tenant may name it again

    # A write that cannot land (stale If-Match) claims nothing: the account stays free.
    moved = {**again, "accountId": "acct-claimed-2"}
    assert call(host, "PUT", f"/api/v1/profiles/{again['id']}", moved, **mine,
                headers={"if-match": '"stale"'})[0] == 412
    status, _, free = call(host, "POST", "/api/v1/profiles", body("claim-b") | {"accountId": "acct-claimed-2"},
                           **theirs)
    assert status == 201, free


def test_deleting_a_profile_from_before_claims_claims_its_account(host):
    """A profile written before claims existed has none; its deletion must not free the
    account: the delete claims it for the profile's tenant."""
    store = SqliteStore(host.data_dir / STORE_FILE)
    try:
        profiles = store.container("profiles").query(Query(where=[Filter("kind", "=", "profile")]),
                                                     partition_key="demo").items
        [demo_profile] = [d for d in profiles if d["id"] == "demo-btc-seven-rule"]
        legacy = {k: v for k, v in demo_profile.items() if not k.startswith("_")} | {
            "id": "p-legacy-1", "tenantId": "legacy-t", "accountId": "acct-legacy-1"}
        saved = store.container("profiles").create(legacy)
    finally:
        store.close()
    status, _, _ = call(host, "DELETE", "/api/v1/profiles/p-legacy-1", tenant="legacy-t", user="legacy-trader",
                        headers={"if-match": saved["_etag"]})
    assert status == 204
    status, _, own = call(host, "POST", "/api/v1/strategies", {"name": "s", "params": {"kind": "sma-cross"}},
                          tenant="claim-c", user="claim-c-trader")
    assert status == 201, own
    status, _, refused = call(host, "POST", "/api/v1/profiles",
                              profile_body(accountId="acct-legacy-1", strategyId=own["strategyId"]),
                              tenant="claim-c", user="claim-c-trader")
    assert status == 422 and refused["errors"][0]["field"] == "accountId", refused


# ------------------------------------------------------------------ feature flags


def test_feature_flags_are_admin_switched_with_if_match(host):
    watcher = feed_cursor(host, "other", user="flag-watcher")
    assert call(host, "GET", "/api/admin/feature-flags", roles=TRADER)[0] == 403
    assert call(host, "PUT", "/api/admin/feature-flags/charts", {"enabled": False}, roles=OPERATOR)[0] == 403
    status, headers, flag = call(host, "PUT", "/api/admin/feature-flags/charts", {"enabled": False}, roles=ADMIN,
                                 user="admin-1")
    assert status == 200 and flag["enabled"] is False and flag["version"] == 1, flag
    etag = headers["etag"]
    admin: dict[str, Any] = {"roles": ADMIN, "user": "admin-1"}
    assert call(host, "PUT", "/api/admin/feature-flags/charts", {"enabled": True}, **admin)[0] == 428
    assert call(host, "PUT", "/api/admin/feature-flags/charts", {"enabled": True}, roles=ADMIN, user="admin-1",
                headers={"if-match": '"stale"'})[0] == 412
    assert call(host, "PUT", "/api/admin/feature-flags/bad%20name!", {"enabled": True}, roles=ADMIN,
                user="admin-1")[0] in (404, 422)
    status, _, listed = call(host, "GET", "/api/admin/feature-flags", roles=OPERATOR, user="ops-1")
    assert status == 200 and [(f["id"], f["enabled"], f["etag"]) for f in listed["items"]] == [("charts", False, etag)]
    items, _ = feed(host, "other", watcher, user="flag-watcher")  # global: every tenant sees it
    assert [(e["type"], e["data"]["id"], e["data"]["enabled"]) for e in items] == [("flags.changed", "charts", False)]
    assert any(e["action"] == "flag.disabled" and e["actor"] == "admin-1" for e in audit_items(host))
    status, _, flag = call(host, "PUT", "/api/admin/feature-flags/charts", {"enabled": True}, roles=ADMIN,
                           user="admin-1", headers={"if-match": etag})
    assert status == 200 and flag["enabled"] is True and flag["version"] == 2


# ------------------------------------------------------------------ event feed


def test_a_global_halt_reaches_another_tenants_long_poll_within_two_seconds(host):
    cursor = feed_cursor(host, "other", user="other-viewer")
    answer: dict[str, Any] = {}

    def long_poll() -> None:
        answer["result"] = feed(host, "other", cursor, wait=5, user="other-viewer")
        answer["at"] = time.monotonic()

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # the poll is waiting now
    status, headers, body = call(host, "PUT", "/api/admin/controls/global-halt",
                                 {"active": True, "reason": "exchange incident"}, user="ops-1", roles=OPERATOR,
                                 headers={"x-request-id": "trace-feed-halt-1"})
    published = time.monotonic()
    assert status == 200, body
    try:
        poller.join(timeout=10)
        items, next_cursor = answer["result"]
        assert answer["at"] - published < 2.0  # long before the 5 s wait ran out
        [event] = items
        assert event["type"] == "control.changed" and event["stream"] == "global"
        assert event["data"]["scope"] == "global" and event["data"]["active"] is True
        assert event["data"]["reason"] == "exchange incident" and event["requestId"] == "trace-feed-halt-1"
        assert next_cursor != cursor
        # Nothing new: the poll waits out its time and answers the same cursor.
        started = time.monotonic()
        items, same = feed(host, "other", next_cursor, wait=1, user="other-viewer")
        assert items == [] and same == next_cursor and time.monotonic() - started >= 0.9
    finally:
        status, _, body = call(host, "PUT", "/api/admin/controls/global-halt", {"active": False}, user="ops-1",
                               roles=OPERATOR, headers={"if-match": headers["etag"]})
        assert status == 200, body


def test_a_tenant_halt_stays_in_its_tenants_feed(host):
    theirs = feed_cursor(host, "other", user="other-viewer")
    ours = feed_cursor(host, "demo", user="demo-viewer")
    status, headers, body = call(host, "PUT", "/api/admin/controls/tenant-halt", {"active": True, "reason": "audit"},
                                 user="ops-1", roles=OPERATOR)
    assert status == 200, body
    try:
        items, _ = feed(host, "demo", ours, wait=2, user="demo-viewer")
        assert [(e["type"], e["stream"], e["data"]["scope"]) for e in items] == [
            ("control.changed", "tenant:demo", "tenant:demo")]
        items, _ = feed(host, "other", theirs, wait=0.5, user="other-viewer")
        assert items == []
    finally:
        status, _, body = call(host, "PUT", "/api/admin/controls/tenant-halt", {"active": False}, user="ops-1",
                               roles=OPERATOR, headers={"if-match": headers["etag"]})
        assert status == 200, body


def test_a_malformed_cursor_is_a_bad_request(host):
    status, _, body = call(host, "GET", "/api/v1/events?after=not-a-cursor!&wait=0", roles=VIEWER, user="viewer-4")
    assert status == 400 and body["title"] == "Bad request", body
    assert call(host, "GET", "/api/v1/events?wait=26", roles=VIEWER, user="viewer-4")[0] == 422
    assert host.request("GET", "/api/v1/events")[0] == 401


# ------------------------------------------------------------------ cancels, at the service


@pytest.fixture
def paper(tmp_path: Path) -> Iterator[tuple[SqliteStore, ExecutionContext]]:
    store = SqliteStore(tmp_path / "store.sqlite")
    clock = ManualClock(DEMO_START + timedelta(hours=5, minutes=1))
    market = load_demo_market(clock)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(account: str) -> Exchange:
        return exchanges.setdefault(account, PaperExchange(store, market, clock, account_id=account,
                                                           initial_balances={"USDT": Decimal("10000")}))

    yield store, ExecutionContext(store=store, market=market, exchange_for=exchange_for, clock=clock)
    store.close()


def manual(ctx: ExecutionContext, **kw: Any) -> OrderIntent:
    fields: dict[str, Any] = dict(id="m-cancel-test", tenant_id="t", account_id="acct", profile_id=None,
                                  symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT, qty=Decimal("0.01"),
                                  limit_price=Decimal("1000"), source="manual", request_id="req-intent",
                                  created_at=ctx.clock.now())
    return OrderIntent(**{**fields, **kw})


def test_a_cancel_delivered_twice_cancels_once_and_is_audited_once(paper):
    store, ctx = paper
    resting = execute_intent(manual(ctx), ctx).order
    assert resting is not None and resting.status is OrderStatus.NEW
    body = '{"kind": "cancel", "orderId": "m-cancel-test", "accountId": "acct", "requestId": "req-c", "actor": "u1"}'
    first = handle_order_message(body, ctx)
    assert first.outcome == "executed" and first.order is not None and first.order.status.value == "canceled"
    assert handle_order_message(body, ctx).outcome == "duplicate"
    cancels = [e for e in read_chain(store.container("audit"), "t") if e.action == "order.cancel"]
    assert [(e.actor, e.request_id) for e in cancels] == [("u1", "req-c")]
    statuses = [e["data"]["status"] for e in read_after(store, ["tenant:t"], None).items]
    assert statuses[-1] == "canceled"


def test_a_cancel_of_an_order_that_never_reached_the_exchange_stops_its_submission(paper):
    store, ctx = paper
    the_intent = manual(ctx)
    store.container("orders").create(new_order_from_intent(the_intent, "paper", ctx.clock.now()).to_doc())
    result = cancel_order(ctx, "acct", the_intent.id, "u1", "req-c")
    assert result.order is not None and result.order.status.value == "canceled"
    assert execute_intent(the_intent, ctx).outcome == "duplicate"  # the redelivered intent submits nothing
    assert ctx.exchange_for("acct").get_order("BTCUSDT", the_intent.id) is None


def test_a_cancel_that_lost_the_race_to_a_fill_records_the_fill(paper):
    store, ctx = paper
    market_buy = manual(ctx, type=OrderType.MARKET, limit_price=None)
    ctx.exchange_for("acct").submit(OrderRequest(
        client_order_id=market_buy.id, symbol="BTCUSDT", side=market_buy.side, type=market_buy.type,
        qty=market_buy.qty))  # filled on the exchange, while our record still says "new"
    record = transition(new_order_from_intent(market_buy, "paper", ctx.clock.now()), OrderStatus.NEW,
                        ctx.clock.now())
    store.container("orders").create(record.to_doc())
    result = cancel_order(ctx, "acct", market_buy.id, "u1", "req-c")
    assert result.order is not None and result.order.status is OrderStatus.FILLED
    assert store.container("orders").read(market_buy.id, "acct")["status"] == "filled"
