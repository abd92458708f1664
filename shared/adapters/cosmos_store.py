"""The Azure Store: Cosmos DB for NoSQL through the real ``azure-cosmos`` SDK (sync client).

Why this shape: services see only the Store port, so this adapter's job is to make
Cosmos DB answer exactly like the SQLite store -- same validation (``store_common``),
same query semantics (``cosmos_query``), same typed errors, and results that carry only
``_etag`` and ``_ts`` as system properties. The contract suite runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from shared.adapters.cosmos_query import build_sql
from shared.adapters.store_common import (
    MAX_BATCH_OPS,
    check_id,
    check_partition_key,
    check_patch_ops,
    prepare_item,
    public_item,
)
from shared.ports import (
    BatchFailed,
    BatchOp,
    Conflict,
    ContainerSpec,
    InvalidQuery,
    NotFound,
    Page,
    PatchOp,
    PreconditionFailed,
    Query,
    StoreError,
    StoreUnavailable,
)
from shared.topology import CONTAINERS

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy, DatabaseProxy

    from shared.config import Settings


def error_for_status(status: int | None, message: str) -> StoreError:
    """The port error for a Cosmos DB HTTP status (anything unexpected is 'unavailable')."""
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 412:
        return PreconditionFailed(message)
    if status in (400, 413):
        return InvalidQuery(message)
    return StoreUnavailable(message)


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Translate SDK exceptions into the port's typed errors."""
    try:
        yield
    except exceptions.CosmosHttpResponseError as exc:
        raise error_for_status(exc.status_code, f"{what}: HTTP {exc.status_code}") from exc
    except AzureError as exc:  # connection refused, timeouts, DNS, TLS
        raise StoreUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


def _if_match(etag: str | None) -> dict[str, Any]:
    if etag is None:
        return {}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _patch_body(ops: Sequence[PatchOp]) -> list[dict[str, Any]]:
    check_patch_ops(ops)
    body = []
    for op in ops:
        entry: dict[str, Any] = {"op": op.op, "path": op.path}
        if op.op != "remove":
            entry["value"] = op.value
        body.append(entry)
    return body


class CosmosStore:
    """A ``Store`` over one Cosmos DB database; containers are the declared topology."""

    def __init__(
        self,
        client: CosmosClient,
        database: str,
        containers: Sequence[ContainerSpec] = CONTAINERS,
        *,
        create_if_missing: bool = True,
    ) -> None:
        self._client = client
        self._credential: Any = None  # closed with the store when from_settings made it
        self.database_name = database
        db: DatabaseProxy
        with _mapped(f"open database {database!r}"):
            if create_if_missing:
                db = client.create_database_if_not_exists(database)
                for spec in containers:
                    # default_ttl=-1 turns TTL on without a default, so per-item `ttl` works.
                    db.create_container_if_not_exists(
                        id=spec.name,
                        partition_key=PartitionKey(path=spec.partition_key_path),
                        default_ttl=-1,
                    )
            else:
                db = client.get_database_client(database)
        self._db = db
        self._containers = {
            spec.name: CosmosContainer(spec, db.get_container_client(spec.name))
            for spec in containers
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> CosmosStore:
        """Key auth when a key is configured, else the managed identity.

        With Entra ID (RBAC) the data plane cannot create databases or containers --
        Bicep provisions them -- so creation is attempted only with a key.
        """
        from shared.config import ConfigError

        if not settings.cosmos_endpoint:
            raise ConfigError("the Cosmos DB endpoint is not configured")
        if settings.cosmos_key:
            with _mapped(f"connect to {settings.cosmos_endpoint}"):
                client = CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key)
            return cls(client, settings.cosmos_database, create_if_missing=True)
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
        with _mapped(f"connect to {settings.cosmos_endpoint}"):
            client = CosmosClient(settings.cosmos_endpoint, credential=credential)
        store = cls(client, settings.cosmos_database, create_if_missing=False)
        store._credential = credential
        return store

    def container(self, name: str) -> CosmosContainer:
        try:
            return self._containers[name]
        except KeyError:
            raise NotFound(f"container {name!r} is not declared") from None

    def ping(self) -> None:
        with _mapped("ping"):
            self._db.read()

    @contextmanager
    def unit_of_work(self) -> Iterator[bool]:
        """A no-op, documented as such by the port (so it says False): Cosmos DB has no
        transaction across partitions or containers, so every write (or transactional
        batch) inside commits on its own, exactly as outside."""
        yield False

    def close(self) -> None:
        self._client.close()
        if self._credential is not None:
            self._credential.close()


class CosmosContainer:
    """One container; every call validates like the SQLite store, then maps errors."""

    def __init__(self, spec: ContainerSpec, proxy: ContainerProxy) -> None:
        self.spec = spec
        self._proxy = proxy

    def _what(self, verb: str, id: str, pk: str) -> str:
        return f"{verb} {self.spec.name}/{pk}/{id}"

    def create(self, item: Mapping[str, Any]) -> dict[str, Any]:
        body, id, pk = prepare_item(self.spec, item)
        with _mapped(self._what("create", id, pk)):
            return public_item(self._proxy.create_item(body))

    def read(self, id: str, partition_key: str) -> dict[str, Any]:
        check_id(id)
        check_partition_key(partition_key)
        with _mapped(self._what("read", id, partition_key)):
            return public_item(self._proxy.read_item(id, partition_key=partition_key))

    def upsert(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """With ``if_match`` the item must exist with that etag (absent: ``PreconditionFailed``).

        Cosmos DB's upsert would create an absent item despite If-Match, which defeats
        optimistic concurrency; a conditional replace gives the port's semantics.
        """
        body, id, pk = prepare_item(self.spec, item)
        what = self._what("upsert", id, pk)
        if if_match is None:
            with _mapped(what):
                return public_item(self._proxy.upsert_item(body))
        try:
            with _mapped(what):
                return public_item(self._proxy.replace_item(id, body, **_if_match(if_match)))
        except NotFound as exc:
            raise PreconditionFailed(f"{what}: no item to match the etag") from exc

    def replace(self, item: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        body, id, pk = prepare_item(self.spec, item)
        with _mapped(self._what("replace", id, pk)):
            return public_item(self._proxy.replace_item(id, body, **_if_match(if_match)))

    def delete(self, id: str, partition_key: str, *, if_match: str | None = None) -> None:
        check_id(id)
        check_partition_key(partition_key)
        with _mapped(self._what("delete", id, partition_key)):
            self._proxy.delete_item(id, partition_key=partition_key, **_if_match(if_match))

    def patch(
        self,
        id: str,
        partition_key: str,
        ops: Sequence[PatchOp],
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        check_id(id)
        check_partition_key(partition_key)
        body = _patch_body(ops)
        with _mapped(self._what("patch", id, partition_key)):
            result = self._proxy.patch_item(
                id, partition_key=partition_key, patch_operations=body, **_if_match(if_match)
            )
        return public_item(result)

    def query(self, query: Query, *, partition_key: str | None = None) -> Page:
        sql, parameters = build_sql(
            query, partition_key_field=self.spec.partition_key_field, partition_key=partition_key
        )
        kwargs: dict[str, Any] = {"query": sql, "parameters": parameters}
        if partition_key is not None:
            kwargs["partition_key"] = partition_key
        else:
            kwargs["enable_cross_partition_query"] = True
        if query.limit is not None:
            kwargs["max_item_count"] = query.limit
        with _mapped(f"query {self.spec.name}"):
            pager = self._proxy.query_items(**kwargs).by_page(query.continuation)
            if query.limit is None:
                return Page(items=[public_item(doc) for page in pager for doc in page])
            for page in pager:
                items = [public_item(doc) for doc in page]
                # by_page() is typed as a plain iterator; the SDK's pager carries the token.
                token: str | None = getattr(pager, "continuation_token", None)
                # A cross-partition page can come back empty with more to read: skip it.
                if items or not token:
                    return Page(items=items, continuation=token or None)
        return Page(items=[])

    def batch(self, partition_key: str, ops: Sequence[BatchOp]) -> list[dict[str, Any]]:
        """A transactional batch; ``BatchFailed.index`` is the op Cosmos DB rejected."""
        check_partition_key(partition_key)
        if len(ops) > MAX_BATCH_OPS:
            raise InvalidQuery(f"a batch takes at most {MAX_BATCH_OPS} operations")
        if not ops:
            return []
        conditional_upserts: set[int] = set()
        operations: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for index, op in enumerate(ops):
            try:
                operations.append(self._batch_operation(partition_key, op))
            except StoreError as exc:
                raise BatchFailed(
                    f"batch op {index} ({op.kind}) failed: {exc}", index=index, cause=exc
                ) from exc
            if op.kind == "upsert" and op.if_match is not None:
                conditional_upserts.add(index)
        with _mapped(f"batch {self.spec.name}/{partition_key}"):
            try:
                results = self._proxy.execute_item_batch(operations, partition_key=partition_key)
            except exceptions.CosmosBatchOperationError as failed:
                index = failed.error_index or 0
                status = failed.status_code
                if index in conditional_upserts and status == 404:
                    status = 412  # a conditional upsert of an absent item: see ``upsert``
                cause = error_for_status(status, f"batch op {index} ({ops[index].kind}): HTTP {status}")
                raise BatchFailed(str(cause), index=index, cause=cause) from failed
        return [public_item(r.get("resourceBody") or {}) for r in results]

    def _batch_operation(
        self, partition_key: str, op: BatchOp
    ) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        options = {} if op.if_match is None else {"if_match_etag": op.if_match}
        if op.kind in ("create", "upsert", "replace"):
            if op.item is None:
                raise InvalidQuery(f"batch {op.kind} needs an item")
            body, id, pk = prepare_item(self.spec, op.item)
            if pk != partition_key:
                raise InvalidQuery(f"item {id!r} is not in the batch's partition {partition_key!r}")
            if op.kind == "create":
                return ("create", (body,), {})
            if op.kind == "upsert" and op.if_match is None:
                return ("upsert", (body,), {})
            return ("replace", (id, body), options)  # conditional upsert: see ``upsert``
        if op.kind in ("delete", "patch"):
            id = check_id(op.id)
            if op.kind == "delete":
                return ("delete", (id,), options)
            return ("patch", (id, _patch_body(op.patch)), options)
        raise InvalidQuery(f"unknown batch operation {op.kind!r}")
