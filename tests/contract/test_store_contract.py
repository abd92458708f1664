"""The Store port's contract: every adapter must pass this suite unchanged.

Runs on SQLite and on the Cosmos DB stand-in (see conftest). Cases the stand-in cannot
serve (no rollback in batches, only `create` inside batches, no TTL, no persistence)
run on SQLite only and are skipped on cosmos with the limitation named.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.ports import (
    BatchFailed,
    BatchOp,
    Conflict,
    Container,
    Filter,
    InvalidQuery,
    NotFound,
    OrderBy,
    PatchOp,
    PreconditionFailed,
    Query,
    Store,
    StoreUnavailable,
)
from shared.topology import CONTAINERS
from tests.contract.conftest import Backend, sqlite_only

SYSTEM = {"_etag", "_ts"}


def things(store: Store) -> Container:
    return store.container("things")


def user_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in SYSTEM}


def assert_system_shape(doc: dict[str, Any], backend: Backend) -> None:
    """Only ``_etag`` and ``_ts`` among underscore keys; sane types and time."""
    assert {k for k in doc if k.startswith("_")} == SYSTEM, doc
    assert isinstance(doc["_etag"], str) and doc["_etag"]
    assert type(doc["_ts"]) is int
    now = backend.clock.now().timestamp() if backend.clock else time.time()
    assert abs(doc["_ts"] - now) < 120


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# ------------------------------------------------------------------ basics


def test_container_lookup_and_ping(store: Store) -> None:
    assert isinstance(store, Store) and isinstance(things(store), Container)
    store.ping()
    assert things(store).spec.partition_key_path == "/tenantId"
    with pytest.raises(NotFound):
        store.container("no-such-container")


def test_unreachable_store_is_unavailable(backend: Backend) -> None:
    with pytest.raises(StoreUnavailable):
        backend.open_unreachable()


def test_default_topology_containers_work(backend: Backend) -> None:
    store = backend.open(CONTAINERS)
    for spec in CONTAINERS:
        container = store.container(spec.name)
        field = spec.partition_key_field
        item = {"id": "probe", field: "probe"} if field != "id" else {"id": "probe"}
        container.create(item)
        assert container.read("probe", "probe")["id"] == "probe"


def test_create_then_read_round_trips(store: Store, backend: Backend) -> None:
    doc = {
        "id": "a",
        "tenantId": "t1",
        "n": 3,
        "f": 2.5,
        "s": "é ü",
        "b": False,
        "z": None,
        "obj": {"x": [1, {"y": True}]},
    }
    created = things(store).create(doc)
    assert user_fields(created) == doc
    assert_system_shape(created, backend)
    read = things(store).read("a", "t1")
    assert read == created


def test_create_conflict_is_per_partition(store: Store) -> None:
    c = things(store)
    c.create({"id": "a", "tenantId": "t1", "v": 1})
    with pytest.raises(Conflict):
        c.create({"id": "a", "tenantId": "t1", "v": 2})
    assert c.read("a", "t1")["v"] == 1
    c.create({"id": "a", "tenantId": "t2", "v": 3})  # same id, other partition: fine
    assert c.read("a", "t2")["v"] == 3


def test_read_missing_or_wrong_partition_is_not_found(store: Store) -> None:
    c = things(store)
    c.create({"id": "a", "tenantId": "t1"})
    with pytest.raises(NotFound):
        c.read("missing", "t1")
    with pytest.raises(NotFound):
        c.read("a", "t2")


def test_written_system_properties_are_ignored(store: Store, backend: Backend) -> None:
    c = things(store)
    first = c.create({"id": "a", "tenantId": "t1", "v": 1})
    echoed = {**first, "v": 2, "_rid": "x", "_self": "y", "_attachments": "z", "_ts": 1}
    second = c.replace(echoed)
    assert_system_shape(second, backend)
    assert second["v"] == 2 and second["_etag"] != first["_etag"]


def test_system_properties_shape_from_every_operation(store: Store, backend: Backend) -> None:
    c = things(store)
    results = [
        c.create({"id": "a", "tenantId": "t1", "v": 1}),
        c.read("a", "t1"),
        c.upsert({"id": "b", "tenantId": "t1", "v": 2}),
        c.replace({"id": "b", "tenantId": "t1", "v": 3}),
        c.patch("a", "t1", [PatchOp("set", "/v", 9)]),
        *c.query(Query(), partition_key="t1").items,
        *c.query(Query(limit=1)).items,
        *c.batch("t1", [BatchOp("create", item={"id": "c", "tenantId": "t1"})]),
    ]
    assert len(results) == 9
    for doc in results:
        assert_system_shape(doc, backend)


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"tenantId": "t1"}, id="no-id"),
        pytest.param({"id": 7, "tenantId": "t1"}, id="int-id"),
        pytest.param({"id": "", "tenantId": "t1"}, id="empty-id"),
        pytest.param({"id": "a/b", "tenantId": "t1"}, id="slash-id"),
        pytest.param({"id": "a#b", "tenantId": "t1"}, id="hash-id"),
        pytest.param({"id": "a"}, id="no-partition-key"),
        pytest.param({"id": "a", "tenantId": 5}, id="int-partition-key"),
        pytest.param({"id": "a", "tenantId": "t1", "p": Decimal("1.5")}, id="decimal"),
        pytest.param({"id": "a", "tenantId": "t1", "p": float("nan")}, id="nan"),
        pytest.param({"id": "a", "tenantId": "t1", "ttl": 0}, id="ttl-zero"),
        pytest.param({"id": "a", "tenantId": "t1", "ttl": "10"}, id="ttl-string"),
        pytest.param({"id": "a", "tenantId": "t1", "ttl": 1.5}, id="ttl-float"),
    ],
)
def test_invalid_items_are_rejected(store: Store, item: dict[str, Any]) -> None:
    c = things(store)
    for write in (c.create, c.upsert, c.replace):
        with pytest.raises(InvalidQuery):
            write(item)
    assert c.query(Query()).items == []


def test_nested_and_id_partition_keys(store: Store) -> None:
    nested = store.container("nested")
    nested.create({"id": "n1", "owner": {"tenant": "t1"}, "v": 1})
    nested.create({"id": "n2", "owner": {"tenant": "t2"}, "v": 2})
    assert nested.read("n1", "t1")["v"] == 1
    with pytest.raises(NotFound):
        nested.read("n1", "t2")
    assert ids(nested.query(Query(), partition_key="t2").items) == ["n2"]
    with pytest.raises(InvalidQuery):
        nested.create({"id": "n3", "owner": "t1"})
    leases = store.container("leases")
    leases.create({"id": "lock-1", "holder": "w1"})
    assert leases.read("lock-1", "lock-1")["holder"] == "w1"
    with pytest.raises(Conflict):
        leases.create({"id": "lock-1", "holder": "w2"})


# ------------------------------------------------------------------ writes with etags


def test_upsert_creates_then_overwrites(store: Store) -> None:
    c = things(store)
    first = c.upsert({"id": "a", "tenantId": "t1", "v": 1, "old": True})
    second = c.upsert({"id": "a", "tenantId": "t1", "v": 2})
    assert second["_etag"] != first["_etag"]
    assert user_fields(c.read("a", "t1")) == {"id": "a", "tenantId": "t1", "v": 2}


def test_upsert_if_match(store: Store) -> None:
    c = things(store)
    first = c.upsert({"id": "a", "tenantId": "t1", "v": 1})
    second = c.upsert({"id": "a", "tenantId": "t1", "v": 2}, if_match=first["_etag"])
    with pytest.raises(PreconditionFailed):
        c.upsert({"id": "a", "tenantId": "t1", "v": 3}, if_match=first["_etag"])
    assert c.read("a", "t1")["_etag"] == second["_etag"]
    with pytest.raises(PreconditionFailed):  # nothing to match: never a blind create
        c.upsert({"id": "new", "tenantId": "t1"}, if_match=first["_etag"])
    with pytest.raises(NotFound):
        c.read("new", "t1")


def test_replace(store: Store) -> None:
    c = things(store)
    with pytest.raises(NotFound):
        c.replace({"id": "a", "tenantId": "t1"})
    first = c.create({"id": "a", "tenantId": "t1", "v": 1, "extra": "x"})
    second = c.replace({"id": "a", "tenantId": "t1", "v": 2}, if_match=first["_etag"])
    assert user_fields(second) == {"id": "a", "tenantId": "t1", "v": 2}  # whole document
    with pytest.raises(PreconditionFailed):
        c.replace({"id": "a", "tenantId": "t1", "v": 3}, if_match=first["_etag"])
    assert c.read("a", "t1") == second
    third = c.replace({"id": "a", "tenantId": "t1", "v": 4})  # unconditional
    assert third["v"] == 4 and third["_etag"] not in (first["_etag"], second["_etag"])
    with pytest.raises(NotFound):  # another partition is another item
        c.replace({"id": "a", "tenantId": "t2", "v": 5})


def test_delete_with_etag(store: Store) -> None:
    c = things(store)
    first = c.create({"id": "a", "tenantId": "t1", "v": 1})
    second = c.replace({"id": "a", "tenantId": "t1", "v": 2})
    with pytest.raises(PreconditionFailed):
        c.delete("a", "t1", if_match=first["_etag"])
    assert c.read("a", "t1")["v"] == 2
    with pytest.raises(NotFound):
        c.delete("a", "t2")
    c.delete("a", "t1", if_match=second["_etag"])
    with pytest.raises(NotFound):
        c.read("a", "t1")
    with pytest.raises(NotFound):
        c.delete("a", "t1")
    c.create({"id": "a", "tenantId": "t1", "v": 3})  # the id is free again
    assert c.read("a", "t1")["v"] == 3


# ------------------------------------------------------------------ patch


def test_patch_operations(store: Store) -> None:
    c = things(store)
    before = c.create(
        {
            "id": "a",
            "tenantId": "t1",
            "status": "new",
            "qty": 1,
            "price": 1.5,
            "drop": "me",
            "tags": ["x", "z"],
            "halt": {"scope": "tenant", "count": 0},
        }
    )
    after = c.patch(
        "a",
        "t1",
        [
            PatchOp("set", "/status", "filled"),
            PatchOp("set", "/halt/reason", "drift"),
            PatchOp("add", "/tags/1", "y"),
            PatchOp("add", "/tags/-", "end"),
            PatchOp("replace", "/halt/scope", "profile"),
            PatchOp("remove", "/drop"),
            PatchOp("incr", "/qty", 2),
            PatchOp("incr", "/price", 0.25),
            PatchOp("incr", "/halt/count", 1),
            PatchOp("incr", "/fresh", 5),
        ],
    )
    expected = {
        "id": "a",
        "tenantId": "t1",
        "status": "filled",
        "qty": 3,
        "price": 1.75,
        "tags": ["x", "y", "z", "end"],
        "halt": {"scope": "profile", "count": 1, "reason": "drift"},
        "fresh": 5,
    }
    assert user_fields(after) == expected
    assert after["_etag"] != before["_etag"]
    assert c.read("a", "t1") == after


def test_patch_if_match_and_missing_item(store: Store) -> None:
    c = things(store)
    first = c.create({"id": "a", "tenantId": "t1", "v": 1})
    second = c.patch("a", "t1", [PatchOp("set", "/v", 2)], if_match=first["_etag"])
    with pytest.raises(PreconditionFailed):
        c.patch("a", "t1", [PatchOp("set", "/v", 3)], if_match=first["_etag"])
    assert c.read("a", "t1") == second
    with pytest.raises(NotFound):
        c.patch("missing", "t1", [PatchOp("set", "/v", 1)])
    with pytest.raises(NotFound):
        c.patch("a", "t2", [PatchOp("set", "/v", 1)])


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(PatchOp("replace", "/absent", 1), id="replace-absent"),
        pytest.param(PatchOp("remove", "/absent"), id="remove-absent"),
        pytest.param(PatchOp("set", "/no/such/parent", 1), id="set-missing-parent"),
        pytest.param(PatchOp("incr", "/name", 1), id="incr-string"),
        pytest.param(PatchOp("set", "/tenantId", "t2"), id="partition-key"),
        pytest.param(PatchOp("set", "/id", "b"), id="id"),
        pytest.param(PatchOp("set", "/_etag", "x"), id="system-property"),
        pytest.param(PatchOp("set", "status", 1), id="not-a-pointer"),
        pytest.param(PatchOp("incr", "/qty", "1"), id="incr-by-string"),
    ],
)
def test_invalid_patches_change_nothing(store: Store, op: PatchOp) -> None:
    c = things(store)
    before = c.create({"id": "a", "tenantId": "t1", "name": "x", "qty": 1})
    with pytest.raises(InvalidQuery):
        c.patch("a", "t1", [op])
    assert c.read("a", "t1") == before


# ------------------------------------------------------------------ queries

DATA: list[dict[str, Any]] = [
    {"id": "a", "tenantId": "t1", "qty": 5, "name": "apple", "flag": True, "meta": {"level": 1}},
    {"id": "b", "tenantId": "t1", "qty": 10, "name": "banana", "flag": False, "meta": {"level": 2}},
    {"id": "c", "tenantId": "t1", "qty": "7", "name": "cherry", "flag": 1},
    {"id": "d", "tenantId": "t2", "qty": 3, "name": "apricot", "flag": True, "meta": {"level": 3}},
    {"id": "e", "tenantId": "t2", "name": "Avocado", "note": None, "price": 2.5},
]
T1 = {"a", "b", "c"}

FILTER_CASES: list[tuple[str, list[Filter], set[str]]] = [
    ("eq-number", [Filter("qty", "=", 5)], {"a"}),
    ("eq-string-is-not-number", [Filter("qty", "=", "7")], {"c"}),
    ("eq-float", [Filter("price", "=", 2.5)], {"e"}),
    ("ne-skips-other-types-and-missing", [Filter("qty", "!=", 5)], {"b", "d"}),
    ("gt-numbers-only", [Filter("qty", ">", 4)], {"a", "b"}),
    ("ge", [Filter("qty", ">=", 5)], {"a", "b"}),
    ("lt", [Filter("qty", "<", 5)], {"d"}),
    ("le", [Filter("qty", "<=", 3)], {"d"}),
    ("gt-string-case-sensitive", [Filter("name", ">", "b")], {"b", "c"}),
    ("eq-true-is-not-1", [Filter("flag", "=", True)], {"a", "d"}),
    ("eq-false", [Filter("flag", "=", False)], {"b"}),
    ("eq-1-is-not-true", [Filter("flag", "=", 1)], {"c"}),
    ("ne-true", [Filter("flag", "!=", True)], {"b"}),
    ("in-mixed-types", [Filter("qty", "in", [3, 10, "7"])], {"b", "c", "d"}),
    ("in-empty", [Filter("qty", "in", [])], set()),
    ("startswith-case-sensitive", [Filter("name", "startswith", "ap")], {"a", "d"}),
    ("exists-null-counts", [Filter("note", "exists", True)], {"e"}),
    ("not-exists", [Filter("qty", "exists", False)], {"e"}),
    ("eq-null", [Filter("note", "=", None)], {"e"}),
    ("ne-null-matches-nothing", [Filter("note", "!=", None)], set()),
    ("nested-field", [Filter("meta.level", ">=", 2)], {"b", "d"}),
    ("conjunction", [Filter("qty", ">", 1), Filter("name", "startswith", "a")], {"a", "d"}),
    ("id-field", [Filter("id", "in", ["a", "e", "zz"])], {"a", "e"}),
]


@pytest.fixture
def seeded(store: Store) -> Container:
    c = things(store)
    for doc in DATA:
        c.create(doc)
    return c


@pytest.mark.parametrize(
    ("where", "expected"), [pytest.param(w, e, id=name) for name, w, e in FILTER_CASES]
)
def test_filters(seeded: Container, where: list[Filter], expected: set[str]) -> None:
    across = seeded.query(Query(where=where))
    assert sorted(ids(across.items)) == sorted(expected)
    assert across.continuation is None
    within = seeded.query(Query(where=where), partition_key="t1")
    assert sorted(ids(within.items)) == sorted(expected & T1)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(Query(where=[Filter("qty; DROP TABLE items", "=", 1)]), id="field-injection"),
        pytest.param(Query(where=[Filter('qty"]', "=", 1)]), id="field-quote"),
        pytest.param(Query(where=[Filter("a..b", "=", 1)]), id="field-empty-segment"),
        pytest.param(Query(where=[Filter("1a", "=", 1)]), id="field-digit"),
        pytest.param(Query(where=[Filter("qty", "like", 1)]), id="unknown-op"),  # type: ignore[arg-type]
        pytest.param(Query(where=[Filter("flag", ">", True)]), id="range-on-bool"),
        pytest.param(Query(where=[Filter("qty", "in", "abc")]), id="in-string"),
        pytest.param(Query(where=[Filter("qty", "=", [1])]), id="eq-list"),
        pytest.param(Query(where=[Filter("qty", "exists", "yes")]), id="exists-non-bool"),
        pytest.param(Query(where=[Filter("name", "startswith", 1)]), id="startswith-number"),
        pytest.param(Query(order_by=OrderBy("a b")), id="order-field"),
        pytest.param(Query(limit=0), id="limit-zero"),
    ],
)
def test_invalid_queries(seeded: Container, query: Query) -> None:
    with pytest.raises(InvalidQuery):
        seeded.query(query)


def test_order_by_asc_desc(seeded: Container) -> None:
    numbers = [Filter("qty", ">", 0)]
    asc = seeded.query(Query(where=numbers, order_by=OrderBy("qty")))
    assert ids(asc.items) == ["d", "a", "b"]
    desc = seeded.query(Query(where=numbers, order_by=OrderBy("qty", descending=True)))
    assert ids(desc.items) == ["b", "a", "d"]
    by_name = seeded.query(Query(order_by=OrderBy("name")))
    assert ids(by_name.items) == ["e", "a", "d", "b", "c"]  # "Avocado" < "apple": ordinal
    nested = seeded.query(Query(order_by=OrderBy("meta.level", descending=True)), partition_key="t1")
    assert ids(nested.items)[:2] == ["b", "a"]
    within = seeded.query(Query(order_by=OrderBy("name", descending=True)), partition_key="t2")
    assert ids(within.items) == ["d", "e"]


def _walk(c: Container, query: Query, partition_key: str | None = None) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    for _ in range(100):
        page = c.query(
            Query(query.where, query.order_by, query.limit, continuation=token),
            partition_key=partition_key,
        )
        assert len(page.items) <= (query.limit or 10**9)
        pages.append(ids(page.items))
        token = page.continuation
        if token is None:
            return pages
    raise AssertionError("the continuation walk never ended")


@pytest.mark.parametrize(
    "order",
    [None, OrderBy("seq"), OrderBy("seq", descending=True)],
    ids=["unordered", "asc", "desc"],
)
def test_limit_and_continuation_walk(store: Store, order: OrderBy | None) -> None:
    c = things(store)
    for i in range(23):
        c.create({"id": f"x{i:02d}", "tenantId": "t1", "seq": i, "kind": "x"})
    for i in range(9):
        c.create({"id": f"y{i:02d}", "tenantId": "t2", "seq": 100 + i, "kind": "y"})
    c.create({"id": "other", "tenantId": "t1", "seq": 50, "kind": "z"})

    pages = _walk(c, Query(where=[Filter("kind", "in", ["x", "y"])], order_by=order, limit=4))
    walked = [i for page in pages for i in page]
    everything = {f"x{i:02d}" for i in range(23)} | {f"y{i:02d}" for i in range(9)}
    assert len(walked) == len(everything) and set(walked) == everything  # each exactly once
    assert len(pages) >= 8 and max(len(p) for p in pages) == 4
    if order is not None:
        expected = sorted(everything, key=lambda s: (s[0] == "y", s), reverse=order.descending)
        assert walked == expected

    t1_pages = _walk(c, Query(order_by=order, limit=5), partition_key="t1")
    t1 = [i for page in t1_pages for i in page]
    assert sorted(t1) == sorted([f"x{i:02d}" for i in range(23)] + ["other"])


def test_first_page_only_with_limit(seeded: Container) -> None:
    page = seeded.query(Query(order_by=OrderBy("name"), limit=2))
    assert ids(page.items) == ["e", "a"]
    assert page.continuation is not None
    rest = seeded.query(Query(order_by=OrderBy("name"), limit=10, continuation=page.continuation))
    assert ids(rest.items) == ["d", "b", "c"]


# ------------------------------------------------------------------ batch


def test_batch_of_creates(store: Store, backend: Backend) -> None:
    c = things(store)
    results = c.batch(
        "t1",
        [BatchOp("create", item={"id": f"o{i}", "tenantId": "t1", "n": i}) for i in range(3)],
    )
    assert [r["id"] for r in results] == ["o0", "o1", "o2"]
    for i, result in enumerate(results):
        assert_system_shape(result, backend)
        assert c.read(f"o{i}", "t1") == result


def test_batch_failure_names_the_operation(store: Store) -> None:
    c = things(store)
    c.create({"id": "taken", "tenantId": "t1"})
    with pytest.raises(BatchFailed) as failed:
        c.batch(
            "t1",
            [
                BatchOp("create", item={"id": "n1", "tenantId": "t1"}),
                BatchOp("create", item={"id": "taken", "tenantId": "t1"}),
            ],
        )
    assert failed.value.index == 1
    assert isinstance(failed.value.cause, Conflict)


def test_batch_rejects_items_of_another_partition(store: Store) -> None:
    c = things(store)
    with pytest.raises(BatchFailed) as failed:
        c.batch(
            "t1",
            [
                BatchOp("create", item={"id": "n1", "tenantId": "t1"}),
                BatchOp("create", item={"id": "n2", "tenantId": "t2"}),
            ],
        )
    assert failed.value.index == 1
    assert isinstance(failed.value.cause, InvalidQuery)
    assert c.query(Query()).items == []


def test_batch_rolls_back_everything(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "transactional batch has no rollback; ops before a failure stay written")
    c = things(store)
    keep = c.create({"id": "keep", "tenantId": "t1", "v": 1})
    with pytest.raises(BatchFailed) as failed:
        c.batch(
            "t1",
            [
                BatchOp("create", item={"id": "new", "tenantId": "t1"}),
                BatchOp("patch", id="keep", patch=[PatchOp("set", "/v", 2)]),
                BatchOp("upsert", item={"id": "up", "tenantId": "t1"}),
                BatchOp("delete", id="missing"),
            ],
        )
    assert failed.value.index == 3
    assert isinstance(failed.value.cause, NotFound)
    assert ids(c.query(Query()).items) == ["keep"]
    assert c.read("keep", "t1") == keep


def test_batch_of_mixed_operations(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "transactional batch supports only create (others fail on the partition-key header)")
    c = things(store)
    a = c.create({"id": "a", "tenantId": "t1", "v": 1})
    c.create({"id": "b", "tenantId": "t1", "v": 1})
    c.create({"id": "gone", "tenantId": "t1"})
    results = c.batch(
        "t1",
        [
            BatchOp("create", item={"id": "n", "tenantId": "t1", "v": 0}),
            BatchOp("replace", item={"id": "a", "tenantId": "t1", "v": 2}, if_match=a["_etag"]),
            BatchOp("upsert", item={"id": "u", "tenantId": "t1", "v": 3}),
            BatchOp("patch", id="b", patch=[PatchOp("incr", "/v", 5)]),
            BatchOp("delete", id="gone"),
            BatchOp("patch", id="n", patch=[PatchOp("set", "/seen", True)]),  # sees op 0
        ],
    )
    assert results[4] == {}
    assert [r.get("id") for r in results] == ["n", "a", "u", "b", None, "n"]
    state = {d["id"]: user_fields(d) for d in c.query(Query()).items}
    assert state == {
        "a": {"id": "a", "tenantId": "t1", "v": 2},
        "b": {"id": "b", "tenantId": "t1", "v": 6},
        "n": {"id": "n", "tenantId": "t1", "v": 0, "seen": True},
        "u": {"id": "u", "tenantId": "t1", "v": 3},
    }


def test_batch_stale_etag_fails_whole_batch(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "transactional batch supports only create and has no rollback")
    c = things(store)
    a = c.create({"id": "a", "tenantId": "t1", "v": 1})
    c.replace({"id": "a", "tenantId": "t1", "v": 2})
    with pytest.raises(BatchFailed) as failed:
        c.batch(
            "t1",
            [
                BatchOp("create", item={"id": "n", "tenantId": "t1"}),
                BatchOp("replace", item={"id": "a", "tenantId": "t1", "v": 3}, if_match=a["_etag"]),
            ],
        )
    assert failed.value.index == 1 and isinstance(failed.value.cause, PreconditionFailed)
    with pytest.raises(NotFound):
        c.read("n", "t1")


# ------------------------------------------------------------------ TTL


def test_ttl_expiry(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "TTL is not enforced")
    assert backend.clock is not None
    c = things(store)
    c.create({"id": "short", "tenantId": "t1", "ttl": 60})
    c.create({"id": "refreshed", "tenantId": "t1", "ttl": 60})
    c.create({"id": "forever", "tenantId": "t1", "ttl": -1})
    c.create({"id": "plain", "tenantId": "t1"})
    backend.clock.advance(timedelta(seconds=30))
    c.upsert({"id": "refreshed", "tenantId": "t1", "ttl": 60})  # a write restarts the ttl
    backend.clock.advance(timedelta(seconds=29))
    assert c.read("short", "t1")["ttl"] == 60
    backend.clock.advance(timedelta(seconds=1))  # 60 s after the write
    with pytest.raises(NotFound):
        c.read("short", "t1")
    assert sorted(ids(c.query(Query()).items)) == ["forever", "plain", "refreshed"]
    with pytest.raises(NotFound):
        c.replace({"id": "short", "tenantId": "t1"})
    c.create({"id": "short", "tenantId": "t1", "v": "again"})  # the id is free again
    assert c.read("short", "t1")["v"] == "again"
    backend.clock.advance(timedelta(seconds=30))
    assert sorted(ids(c.query(Query(), partition_key="t1").items)) == ["forever", "plain", "short"]
    backend.clock.advance(timedelta(days=3650))
    assert sorted(ids(c.query(Query()).items)) == ["forever", "plain", "short"]


# ------------------------------------------------------------------ concurrency and restarts


def _threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            start.wait()
            target(n)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors


def test_concurrent_upserts_from_threads(store: Store) -> None:
    c = things(store)

    def writer(n: int) -> None:
        for i in range(50):
            c.upsert({"id": f"w{n}-{i % 25}", "tenantId": f"t{n % 2}", "n": n, "i": i})

    _threads(8, writer)
    items = c.query(Query()).items
    assert len(items) == 8 * 25
    for n in range(8):
        mine = [d for d in items if d["n"] == n]
        assert len(mine) == 25 and all(d["i"] >= 25 for d in mine)  # last writes won


def _replace_race(c: Container, round_: int) -> list[str]:
    """8 threads replace the same item with the same etag; returns each one's outcome."""
    base = c.upsert({"id": "race", "tenantId": "t1", "round": round_, "winner": None})
    outcomes: list[str] = []
    lock = threading.Lock()

    def contender(n: int) -> None:
        try:
            c.replace(
                {"id": "race", "tenantId": "t1", "round": round_, "winner": n},
                if_match=base["_etag"],
            )
            result = f"won:{n}"
        except PreconditionFailed:
            result = "lost"
        with lock:
            outcomes.append(result)

    _threads(8, contender)
    return outcomes


def test_concurrent_conditional_replace_has_one_winner(store: Store) -> None:
    c = things(store)
    for round_ in range(10):  # several rounds: a lost race is timing-dependent
        outcomes = _replace_race(c, round_)
        winners = [o for o in outcomes if o.startswith("won")]
        assert len(winners) == 1 and outcomes.count("lost") == 7, outcomes
        assert c.read("race", "t1")["winner"] == int(winners[0].split(":")[1])


def test_data_survives_restart(store: Store, backend: Backend) -> None:
    sqlite_only(backend, "no persistence: the server keeps everything in memory")
    c = things(store)
    written = c.create({"id": "a", "tenantId": "t1", "v": 1})
    c.batch("t1", [BatchOp("create", item={"id": "b", "tenantId": "t1"})])
    store.close()
    with pytest.raises(StoreUnavailable):
        c.read("a", "t1")
    with pytest.raises(StoreUnavailable):
        store.ping()
    reopened = backend.open()
    again = things(reopened)
    assert again.read("a", "t1") == written
    assert sorted(ids(again.query(Query()).items)) == ["a", "b"]
    with pytest.raises(Conflict):
        again.create({"id": "a", "tenantId": "t1"})
