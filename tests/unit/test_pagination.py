"""List paging: query fields, response shape, and continuations bound to tenant and route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from functions.http_kit import HttpProblem
from functions.pagination import (
    MAX_CONTINUATION_LENGTH,
    Paged,
    PageQuery,
    decode_continuation,
    derive_key,
    encode_continuation,
    list_page,
    page_response,
)
from shared.adapters.sqlite_store import SqliteStore
from shared.ports import Filter, OrderBy, Query

KEY = derive_key("a-secret-from-settings-0123456789")
OTHER_KEY = derive_key("another-secret-from-settings-987")


class OrdersQuery(PageQuery):
    status: str | None = None


def test_page_query_defaults_and_bounds():
    assert OrdersQuery.model_validate({}).limit == 50
    assert OrdersQuery.model_validate({"limit": "200", "status": "open"}).limit == 200
    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"},
                {"continuation": "a" * (MAX_CONTINUATION_LENGTH + 1)}):
        with pytest.raises(ValidationError):
            OrdersQuery.model_validate(bad)


def test_page_response_shape():
    assert page_response(iter([{"a": 1}]), None) == {"items": [{"a": 1}], "continuation": None}
    assert page_response([], "tok") == {"items": [], "continuation": "tok"}


def test_paged_model_is_camel_case_and_generic():
    class Item(BaseModel):
        order_id: str

    body = Paged[Item](items=[Item(order_id="o1")], continuation=None).model_dump(by_alias=True)
    assert body == {"items": [{"order_id": "o1"}], "continuation": None}


def roundtrip(token: str | None, **overrides: object) -> str | None:
    args: dict[str, object] = {"key": KEY, "tenant_id": "t1", "route": "list_orders", "context": ""}
    args.update(overrides)
    return decode_continuation(token, **args)  # type: ignore[arg-type]


def test_token_round_trips_and_none_means_no_more():
    token = encode_continuation('{"k":[1,"x"]}', key=KEY, tenant_id="t1", route="list_orders")
    assert token is not None and "t1" not in token
    assert roundtrip(token) == '{"k":[1,"x"]}'
    assert encode_continuation(None, key=KEY, tenant_id="t1", route="list_orders") is None
    assert roundtrip(None) is None
    assert roundtrip("") is None


@pytest.mark.parametrize("override", [
    {"tenant_id": "t2"},
    {"route": "list_trades"},
    {"context": "status=open"},
    {"key": OTHER_KEY},
])
def test_foreign_tokens_are_refused(override: dict[str, object]):
    token = encode_continuation("store-token", key=KEY, tenant_id="t1", route="list_orders")
    with pytest.raises(HttpProblem) as exc:
        roundtrip(token, **override)
    assert exc.value.status == 400
    assert exc.value.title == "Invalid continuation"


def test_tampered_and_malformed_tokens_are_refused():
    token = encode_continuation("store-token", key=KEY, tenant_id="t1", route="list_orders")
    assert token is not None
    body, _, sig = token.partition(".")
    forged = encode_continuation("other-token", key=KEY, tenant_id="t1", route="list_orders")
    assert forged is not None
    for bad in (body, f"{body}.", f".{sig}", f"{forged.partition('.')[0]}.{sig}", f"{body}.{sig}x",
                "!!!.???", "a" * (MAX_CONTINUATION_LENGTH + 1), "%%%%.%%%%"):
        with pytest.raises(HttpProblem) as exc:
            roundtrip(bad)
        assert exc.value.status == 400


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        derive_key("short")
    with pytest.raises(ValueError):
        encode_continuation("x", key=b"short", tenant_id="t1", route="r")
    assert derive_key("a-secret-from-settings-0123456789") == KEY
    assert derive_key("a-secret-from-settings-0123456789", purpose="other") != KEY


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


def test_list_page_walks_a_container_and_binds_the_tenant(store: SqliteStore):
    orders = store.container("orders")
    for i in range(5):
        orders.create({"id": f"o{i}", "accountId": "acc1", "tenantId": "t1", "n": i})
    query = Query(where=[Filter("tenantId", "=", "t1")], order_by=OrderBy("n"))
    seen: list[int] = []
    page = OrdersQuery(limit=2)
    for _ in range(10):
        body = list_page(orders, query, page, key=KEY, tenant_id="t1", route="list_orders", partition_key="acc1")
        seen += [item["n"] for item in body["items"]]
        if body["continuation"] is None:
            break
        token = body["continuation"]
        page = OrdersQuery(limit=2, continuation=token)
    assert seen == [0, 1, 2, 3, 4]

    first = list_page(orders, query, OrdersQuery(limit=2), key=KEY, tenant_id="t1", route="list_orders",
                      partition_key="acc1")
    with pytest.raises(HttpProblem):
        list_page(orders, query, OrdersQuery(limit=2, continuation=first["continuation"]), key=KEY,
                  tenant_id="t2", route="list_orders", partition_key="acc1")


def test_list_page_maps_a_store_refusal_of_our_own_token_to_400(store: SqliteStore):
    orders = store.container("orders")
    for i in range(3):
        orders.create({"id": f"o{i}", "accountId": "acc1", "n": i})
    first = list_page(orders, Query(order_by=OrderBy("n")), OrdersQuery(limit=1), key=KEY, tenant_id="t1",
                      route="list_orders", partition_key="acc1")
    # Same signed token, but the listing's query changed (e.g. a deploy): the store refuses it.
    with pytest.raises(HttpProblem) as exc:
        list_page(orders, Query(order_by=OrderBy("n", descending=True)),
                  OrdersQuery(limit=1, continuation=first["continuation"]), key=KEY, tenant_id="t1",
                  route="list_orders", partition_key="acc1")
    assert exc.value.status == 400


def test_list_page_accepts_a_fetch_function():
    def fetch(query: Query) -> tuple[list[str], str | None]:
        start = int(query.continuation or 0)
        assert query.limit == 2
        items = ["a", "b", "c"][start:start + 2]
        return items, (str(start + 2) if start + 2 < 3 else None)

    first = list_page(fetch, Query(), OrdersQuery(limit=2), key=KEY, tenant_id="t1", route="r")
    assert first["items"] == ["a", "b"] and first["continuation"]
    second = list_page(fetch, Query(), OrdersQuery(limit=2, continuation=first["continuation"]), key=KEY,
                       tenant_id="t1", route="r")
    assert second == {"items": ["c"], "continuation": None}
