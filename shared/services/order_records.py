"""Recording what happened to an order: one transactional batch, then the outbox.

Everything about one order change (the order record, its new fills, the position
snapshot, the account's realized-today total and an outbox of ledger entries and audit
events) is written in one transactional batch in the account's partition of ``orders``,
under the etags that were read. The outbox is then projected into ``ledger`` and
``audit``; its ids are derived from the fill and the order, so a projection that runs
twice changes nothing. Where the store's units of work are atomic (SQLite), the batch,
the ledger and audit entries and the feed event commit as one transaction, and the
entries skip the outbox (see ``write_order``).

Why a realized-today document: the daily loss limit needs "realized PnL plus fees booked
today" before every order. Summing today's ledger entries costs one document per fill of
the day, on every intent; the total kept beside the fills that change it (exactly once:
same batch, under its etag) costs one point read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.domain.ledger import entries_for_fill
from shared.domain.positions import apply_fill as apply_fill_to_position
from shared.domain.positions import empty_position
from shared.domain.trading import Fill, Order, OrderStatus, Position
from shared.ports import (
    BatchFailed,
    BatchOp,
    Clock,
    Conflict,
    Exchange,
    ExchangeFill,
    Filter,
    MarketData,
    NotFound,
    PreconditionFailed,
    Query,
    Store,
)
from shared.services.audit import AlreadyAppended, append_audit
from shared.services.events import publish, tenant_stream

log = logging.getLogger("halyard.orders")

Outcome = Literal["executed", "duplicate", "blocked", "rejected", "synced"]
SYSTEM_ACTOR = "system:execution"
MAX_RECORD_ATTEMPTS = 10
MAX_FILLS_PER_BATCH = 25  # 4 + 3 per fill stays below Cosmos DB's 100 operations per batch
REALIZED_DAY_ID = "realized-day"
REALIZED_DAY_KIND = "realized-day"
DAILY_LOSS_KINDS = ("realized-pnl", "fee")  # the ledger entries the daily loss limit counts


class RetryLater(Exception):
    """A transient failure (exchange down, rate limit, a race): redeliver later."""


@dataclass(frozen=True)
class ExecutionResult:
    outcome: Outcome
    order: Order | None
    reason: str = ""


@dataclass
class ExecutionContext:
    store: Store
    market: MarketData
    exchange_for: Callable[[str], Exchange]
    clock: Clock


@dataclass(frozen=True)
class BookedFill:
    """A fill as the order sees it (gross, fee valued in quote) and as the position and
    ledger see it: a fee the exchange took in the bought coin reduces the quantity held
    and is part of its cost, never a quote-currency ledger fee."""

    order_fill: Fill
    position_fill: Fill


def position_id(symbol: str) -> str:
    return f"position:{symbol}"


def read_doc(container: Any, id: str, pk: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = container.read(id, pk)
        return doc
    except NotFound:
        return None


#: (account, symbol, etag) -> the position that version of the snapshot holds: each intent
#: reads the position twice (risk, then recording) and the next one reads what this one
#: wrote. An etag names one version of one document for good, so entries are never stale.
_PARSED_POSITIONS: dict[tuple[str, str, str], Position] = {}
_PARSED_POSITIONS_MAX = 4096


def position_from_doc(doc: dict[str, Any] | None, account_id: str, symbol: str) -> Position:
    if doc is None:
        return empty_position(account_id, symbol)
    etag = doc.get("_etag")
    if isinstance(etag, str) and (known := _PARSED_POSITIONS.get((account_id, symbol, etag))) is not None:
        return known
    position = Position.from_doc({k: v for k, v in doc.items() if k not in ("id", "kind")})
    if isinstance(etag, str):
        _remember_position(account_id, symbol, etag, position)
    return position


def _remember_position(account_id: str, symbol: str, etag: str, position: Position) -> None:
    if len(_PARSED_POSITIONS) >= _PARSED_POSITIONS_MAX:
        _PARSED_POSITIONS.clear()  # cheap to rebuild: no eviction order needed
    _PARSED_POSITIONS[(account_id, symbol, etag)] = position


def book_fill(f: ExchangeFill, account_id: str, base: str, quote: str) -> BookedFill:
    common = dict(id=f"fill:{f.exchange_fill_id}", order_id=f.client_order_id, account_id=account_id,
                  symbol=f.symbol, side=f.side, liquidity=f.liquidity, exchange_fill_id=f.exchange_fill_id, at=f.at)
    if f.fee_asset == base and f.fee > 0 and f.qty > f.fee:
        gross = Fill(price=f.price, qty=f.qty, fee=f.fee * f.price, fee_asset=quote, **common)  # type: ignore[arg-type]
        net = f.qty - f.fee
        held = Fill(price=f.price * f.qty / net, qty=net, fee=Decimal(0), fee_asset=quote, **common)  # type: ignore[arg-type]
        return BookedFill(gross, held)
    fee = f.fee if f.fee_asset in (quote, "") else f.fee * f.price
    fill = Fill(price=f.price, qty=f.qty, fee=fee, fee_asset=quote, **common)  # type: ignore[arg-type]
    return BookedFill(fill, fill)


def known_fill_ids(store: Store, order: Order) -> set[str]:
    docs = store.container("orders").query(
        Query(where=[Filter("kind", "=", "fill"), Filter("orderId", "=", order.id)]), partition_key=order.account_id)
    return {d["id"] for d in docs.items}


def recorded_fill_ids(store: Store, order: Order, fill_ids: list[str]) -> set[str]:
    """Which of these fills of ``order`` are recorded: point reads by their derived ids
    (``fill:<exchange fill id>``), cheaper than listing the order's fills when the
    exchange reports one or two; a long list is one query instead."""
    if len(fill_ids) > 4:
        return known_fill_ids(store, order) & set(fill_ids)
    orders = store.container("orders")
    return {i for i in fill_ids if read_doc(orders, i, order.account_id) is not None}


def audit_outbox(order: Order, action: str, details: dict[str, Any], now: datetime, *,
                 actor: str = SYSTEM_ACTOR, suffix: str = "") -> dict[str, Any]:
    return {"id": f"outbox:audit:{order.id}:{action}{suffix}", "kind": "outbox-audit", "accountId": order.account_id,
            "tenantId": order.tenant_id, "action": action, "actor": actor, "target": f"order:{order.id}",
            "details": details, "requestId": order.request_id, "at": now.isoformat()}


def write_order(ctx: ExecutionContext, order: Order, etag: str | None, fills: list[BookedFill], quote: str,
                *, outcome: Outcome, reason: str, extra_outbox: list[dict[str, Any]] | None = None) -> ExecutionResult:
    """Record the order (create when ``etag`` is None, else replace under it) with its new
    fills, position and outbox in one batch; retried when the position moved meanwhile.

    It all runs in one unit of work. Where units are atomic (SQLite) the ledger entries
    and audit events are written straight into their containers inside it: the outbox
    exists to carry them across separate commits, and inside one transaction there are
    none. Elsewhere (Cosmos DB) they travel through the outbox as described above.
    """
    orders = ctx.store.container("orders")
    for _ in range(MAX_RECORD_ATTEMPTS):
        with ctx.store.unit_of_work() as atomic:
            now = ctx.clock.now()
            order_doc = order.to_doc()
            ops: list[BatchOp] = [BatchOp("replace", item=order_doc, if_match=etag) if etag
                                  else BatchOp("create", item=order_doc)]
            outbox: list[dict[str, Any]] = []
            if fills:
                pos_doc = read_doc(orders, position_id(order.symbol), order.account_id)
                position = position_from_doc(pos_doc, order.account_id, order.symbol)
                for booked in fills:
                    ops.append(BatchOp("create", item=booked.order_fill.to_doc()))
                    position, realized = apply_fill_to_position(position, booked.position_fill)
                    for entry in entries_for_fill(booked.position_fill, realized, "led", quote_asset=quote):
                        doc = entry.to_doc()
                        outbox.append({"id": f"outbox:{doc['id']}", "kind": "outbox-ledger",
                                       "accountId": order.account_id, "entry": doc})
                snapshot = {**position.to_doc(), "id": position_id(order.symbol), "kind": "position"}
                ops.append(BatchOp("replace", item=snapshot, if_match=pos_doc["_etag"]) if pos_doc
                           else BatchOp("create", item=snapshot))
                ops.extend(_realized_day_ops(ctx, order.account_id, [o["entry"] for o in outbox]))
            outbox.append(audit_outbox(order, f"order.{outcome}", {
                "status": order.status.value, "filledQty": str(order.filled_qty), "reason": reason,
                "exchangeOrderId": order.exchange_order_id}, now, suffix=f":{len(fills)}:{order.filled_qty}"))
            outbox.extend(extra_outbox or [])
            if not atomic:
                ops.extend(BatchOp("create", item=doc) for doc in outbox)
            try:
                written = orders.batch(order.account_id, ops)
            except BatchFailed as exc:
                current = read_doc(orders, order.id, order.account_id)
                if current is not None and current["_etag"] != etag and (etag is not None or exc.index == 0):
                    project_outbox(ctx, order.account_id)
                    return ExecutionResult("duplicate", Order.from_doc(current), "recorded by another delivery")
                if isinstance(exc.cause, (PreconditionFailed, Conflict)):
                    continue  # the position moved: re-read it and rebuild the batch
                raise RetryLater(f"could not record the order: {type(exc.cause).__name__}") from exc
            if fills and isinstance(etag_now := written[len(fills) + 1].get("_etag"), str):
                # the position just written, parsed already: its next reader needs no parse
                _remember_position(order.account_id, order.symbol, etag_now, position)
            if atomic:
                _project(ctx, order.account_id, outbox)
            try:  # surfaces follow orders through the feed; the record above is what counts
                publish(ctx.store, tenant_stream(order.tenant_id), "order.updated",
                        {**order_doc, "outcome": outcome}, now, order.request_id)
            except Exception:
                log.exception("could not publish order.updated for %s", order.id)
        if not atomic:
            project_outbox(ctx, order.account_id)
        return ExecutionResult(outcome, order, reason)
    raise RetryLater("position kept changing while recording")


def _realized_day_ops(ctx: ExecutionContext, account_id: str, entries: list[dict[str, Any]]) -> list[BatchOp]:
    """The batch op moving the account's realized-today total by these ledger entries.

    Keyed by the entries' UTC day (``at``), like the ledger sum it replaces: a later day
    starts a new total, an entry of an earlier day (a late fill) is not today's. The
    first total of an account starts from the ledger, so history before it counts.
    """
    orders = ctx.store.container("orders")
    current = read_doc(orders, REALIZED_DAY_ID, account_id)
    day, amount = (current["day"], Decimal(current["amount"])) if current else (None, Decimal(0))
    for entry in entries:
        if entry["kind"] not in DAILY_LOSS_KINDS:
            continue
        entry_day = entry["at"][:10]  # stored ISO-8601 UTC: the date is its first 10 characters
        if day is None:
            day, amount = entry_day, ledger_realized_since(ctx, account_id, entry_day)
        if entry_day > day:
            day, amount = entry_day, Decimal(0)
        if entry_day == day:
            amount += Decimal(entry["amount"])
    if day is None or (current is not None and day == current["day"] and amount == Decimal(current["amount"])):
        return []
    doc = {"id": REALIZED_DAY_ID, "kind": REALIZED_DAY_KIND, "accountId": account_id, "day": day,
           "amount": str(amount)}
    return [BatchOp("replace", item=doc, if_match=current["_etag"]) if current else BatchOp("create", item=doc)]


def ledger_realized_since(ctx: ExecutionContext, account_id: str, day: str) -> Decimal:
    """Realized PnL plus fees in the ledger from the start of ``day`` (YYYY-MM-DD, UTC)."""
    entries = ctx.store.container("ledger").query(
        Query(where=[Filter("kind", "in", list(DAILY_LOSS_KINDS)), Filter("at", ">=", f"{day}T00:00:00Z")]),
        partition_key=account_id,
    ).items
    return sum((Decimal(e["amount"]) for e in entries), Decimal(0))


def realized_on(ctx: ExecutionContext, account_id: str, day: str) -> Decimal:
    """Realized PnL plus fees booked on ``day`` (the account's running total)."""
    doc = read_doc(ctx.store.container("orders"), REALIZED_DAY_ID, account_id)
    if doc is None:  # nothing recorded since the total exists: the ledger is the record
        return ledger_realized_since(ctx, account_id, day)
    return Decimal(doc["amount"]) if doc["day"] == day else Decimal(0)


def project_outbox(ctx: ExecutionContext, account_id: str) -> int:
    """Copy outbox docs into ``ledger`` and ``audit`` (idempotent), then delete them."""
    orders = ctx.store.container("orders")
    pending = orders.query(Query(where=[Filter("kind", "in", ["outbox-ledger", "outbox-audit"])]),
                           partition_key=account_id).items
    if not pending:
        return 0
    _project(ctx, account_id, pending)
    for chunk in _chunks(pending):
        try:
            orders.batch(account_id, [BatchOp("delete", id=doc["id"]) for doc in chunk])
        except BatchFailed:  # another delivery projected some meanwhile: delete what is left
            for doc in chunk:
                with contextlib.suppress(NotFound):
                    orders.delete(doc["id"], account_id)
    return len(pending)


def _project(ctx: ExecutionContext, account_id: str, docs: list[dict[str, Any]]) -> None:
    """Write outbox-shaped docs into ``ledger`` and ``audit``; ids are derived, so a repeat
    (an upsert of the same entry, an audit event already appended) changes nothing."""
    entries = [doc["entry"] for doc in docs if doc["kind"] == "outbox-ledger"]
    for chunk in _chunks(entries):
        ctx.store.container("ledger").batch(account_id, [BatchOp("upsert", item=e) for e in chunk])
    for doc in docs:
        if doc["kind"] == "outbox-audit":
            with contextlib.suppress(AlreadyAppended):
                append_audit(ctx.store.container("audit"), tenant_id=doc["tenantId"], action=doc["action"],
                             actor=doc["actor"], target=doc["target"], details=doc["details"],
                             request_id=doc.get("requestId"), at=datetime.fromisoformat(doc["at"]),
                             event_id=doc["id"])


def _chunks(items: list[dict[str, Any]], size: int = 90) -> list[list[dict[str, Any]]]:
    """Transactional batches hold at most 100 operations (Cosmos DB's limit)."""
    return [items[i:i + size] for i in range(0, len(items), size)]


_OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)  # every intent's risk check lists them


def open_orders(store: Store, account_id: str) -> list[dict[str, Any]]:
    return store.container("orders").query(
        Query(where=[Filter("kind", "=", "order"), Filter("status", "in", list(_OPEN_STATUSES))]),
        partition_key=account_id).items
