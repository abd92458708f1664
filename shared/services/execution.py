"""Executing an order intent: the single writer of orders.

Every delivery of an intent (the queue delivers at least once, maybe concurrently) runs
this; the effects happen once:

1. Our order record's id is the intent id. A terminal record means "already done".
2. A new intent is checked against every halt scope (fresh read, fail closed) and the
   pre-trade risk checks; a refusal is recorded as a rejected order with the reason.
3. Before submitting, a ``pending-submit`` record is *created* (the id makes a second
   one conflict). A delivery that finds ``pending-submit`` cannot know whether the
   exchange got the order, so it asks the exchange by client order id first.
4. The exchange is called with client order id = intent id; ``AlreadySubmitted`` means a
   previous delivery placed it: look it up, never place a second one.
5. Order, fills, position and the outbox (ledger entries, audit event) are written in
   one transactional batch in the account's partition of ``orders``, under the etags
   read, then projected idempotently into ``ledger`` and ``audit``.

Transient exchange failures raise ``RetryLater``: the message is abandoned and
redelivered; nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from shared.domain.controls import HALT_ID, Control, profile_scope
from shared.domain.ledger import entries_for_fill
from shared.domain.orders import apply_fill, can_transition, new_order_from_intent, transition
from shared.domain.positions import apply_fill as apply_fill_to_position
from shared.domain.positions import empty_position
from shared.domain.profiles import Profile, RiskLimits
from shared.domain.risk import RiskDenial, check_order
from shared.domain.trading import Fill, Order, OrderIntent, OrderStatus, Position, Side
from shared.ports import (
    AlreadySubmitted,
    BatchFailed,
    BatchOp,
    Clock,
    Conflict,
    Exchange,
    ExchangeFill,
    ExchangeOrder,
    ExchangeUnavailable,
    Filter,
    MarketData,
    NotFound,
    OrderRejected,
    OrderRequest,
    PreconditionFailed,
    Query,
    RateLimited,
    Store,
)
from shared.services.audit import AlreadyAppended, append_audit
from shared.services.halts import check_halts

Outcome = Literal["executed", "duplicate", "blocked", "rejected"]
SYSTEM_ACTOR = "system:execution"
MAX_RECORD_ATTEMPTS = 10


class RetryLater(Exception):
    """A transient failure (exchange down, rate limit): redeliver the intent later."""


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


def position_id(symbol: str) -> str:
    return f"position:{symbol}"


def _read(container: Any, id: str, pk: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = container.read(id, pk)
        return doc
    except NotFound:
        return None


def _profile_limits(ctx: ExecutionContext, intent: OrderIntent) -> RiskLimits:
    if intent.profile_id is None:
        return RiskLimits()
    doc = _read(ctx.store.container("profiles"), intent.profile_id, intent.tenant_id)
    return Profile.from_doc(doc).risk if doc else RiskLimits()


def execute_intent(intent: OrderIntent, ctx: ExecutionContext) -> ExecutionResult:
    orders = ctx.store.container("orders")
    existing = _read(orders, intent.id, intent.account_id)
    if existing is not None:
        order = Order.from_doc(existing)
        if order.status is not OrderStatus.PENDING_SUBMIT:
            project_outbox(ctx, intent.account_id)
            return ExecutionResult("duplicate", order, "intent already executed")
        return _resume_pending(intent, order, existing["_etag"], ctx)
    refusal = _refusal(intent, ctx)
    if refusal is not None:
        return refusal
    now = ctx.clock.now()
    pending = new_order_from_intent(intent, ctx.exchange_for(intent.account_id).name, now)
    try:
        saved = orders.create(pending.to_doc())
    except Conflict:  # a concurrent delivery got there first: continue from its record
        return execute_intent(intent, ctx)
    return _submit_and_record(intent, pending, saved["_etag"], ctx)


def _refusal(intent: OrderIntent, ctx: ExecutionContext) -> ExecutionResult | None:
    """Halts, then risk; a refusal is recorded as a rejected order (once)."""
    now = ctx.clock.now()
    halt = check_halts(ctx.store.container("controls"), tenant_id=intent.tenant_id,
                       profile_id=intent.profile_id, now=now)
    if halt.halted:
        return _record_refusal(intent, ctx, "blocked", f"halted: {halt.summary}", {"halt": halt.scope})
    denial = _risk_denial(intent, ctx)
    if denial is not None:
        if denial.check == "daily-loss-limit" and intent.profile_id:
            _automatic_halt(intent, ctx, denial)
        return _record_refusal(intent, ctx, "rejected", f"risk check {denial.check}: {denial.reason}",
                               {"check": denial.check, **{k: str(v) for k, v in denial.values.items()}})
    return None


def _risk_denial(intent: OrderIntent, ctx: ExecutionContext) -> RiskDenial | None:
    orders = ctx.store.container("orders")
    [instrument] = ctx.market.instruments([intent.symbol])
    [ticker] = ctx.market.tickers([intent.symbol])
    price = intent.limit_price if intent.limit_price is not None else ticker.last_price
    balances = ctx.exchange_for(intent.account_id).balances()
    doc = _read(orders, position_id(intent.symbol), intent.account_id)
    position = Position.from_doc(_position_fields(doc)) if doc else empty_position(intent.account_id, intent.symbol)
    open_docs = orders.query(Query(where=[Filter("kind", "=", "order"),
                                          Filter("status", "in", [s.value for s in OrderStatus if s.is_open])]),
                             partition_key=intent.account_id).items
    open_buy = sum((Decimal(d["qty"]) * Decimal(d.get("limitPrice") or price) for d in open_docs
                    if d["symbol"] == intent.symbol and d["side"] == Side.BUY.value), Decimal(0))
    return check_order(intent, instrument=instrument, price=price, balances=balances, position=position,
                       open_orders=len(open_docs), limits=_profile_limits(ctx, intent),
                       realized_today=realized_today(ctx, intent.account_id), open_buy_notional=open_buy)


def realized_today(ctx: ExecutionContext, account_id: str) -> Decimal:
    """Realized PnL plus fees booked since UTC midnight (what the daily loss limit caps)."""
    midnight = ctx.clock.now().strftime("%Y-%m-%dT00:00:00Z")  # the stored form of a UTC time
    entries = ctx.store.container("ledger").query(
        Query(where=[Filter("kind", "in", ["realized-pnl", "fee"]), Filter("at", ">=", midnight)]),
        partition_key=account_id,
    ).items
    return sum((Decimal(e["amount"]) for e in entries), Decimal(0))


def _automatic_halt(intent: OrderIntent, ctx: ExecutionContext, denial: RiskDenial) -> None:
    assert intent.profile_id is not None
    now = ctx.clock.now()
    limits = _profile_limits(ctx, intent)
    control = Control(
        id=HALT_ID, scope=profile_scope(intent.profile_id), kind="halt", active=True, automatic=True,
        reason=f"daily loss limit reached: {denial.reason}", actor=SYSTEM_ACTOR, since=now,
        until=now + timedelta(minutes=limits.halt_cooldown_minutes), request_id=intent.request_id,
    )
    ctx.store.container("controls").upsert(control.to_doc())
    append_audit(ctx.store.container("audit"), tenant_id=intent.tenant_id, action="halt.automatic",
                 actor=SYSTEM_ACTOR, target=control.scope, details={"reason": control.reason,
                                                                   "until": control.until},
                 request_id=intent.request_id, at=now)


def _record_refusal(intent: OrderIntent, ctx: ExecutionContext, outcome: Outcome, reason: str,
                    details: dict[str, Any]) -> ExecutionResult:
    now = ctx.clock.now()
    order = transition(new_order_from_intent(intent, "none", now), OrderStatus.REJECTED, now, reject_reason=reason)
    audit = _audit_outbox(intent, f"order.{outcome}", {"reason": reason, **details}, now)
    try:
        ctx.store.container("orders").batch(intent.account_id, [BatchOp("create", item=order.to_doc()),
                                                                BatchOp("create", item=audit)])
    except Exception as exc:
        if not _already_recorded(ctx, intent):
            raise RetryLater(f"could not record the refusal: {type(exc).__name__}") from exc
        return execute_intent(intent, ctx)
    project_outbox(ctx, intent.account_id)
    return ExecutionResult(outcome, order, reason)


def _already_recorded(ctx: ExecutionContext, intent: OrderIntent) -> bool:
    return _read(ctx.store.container("orders"), intent.id, intent.account_id) is not None


def _resume_pending(intent: OrderIntent, order: Order, etag: str, ctx: ExecutionContext) -> ExecutionResult:
    """A previous delivery created the record and may or may not have reached the exchange."""
    exchange = ctx.exchange_for(intent.account_id)
    try:
        placed = exchange.get_order(intent.symbol, intent.id)
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    if placed is not None:
        return _record(intent, order, etag, placed, ctx)
    return _submit_and_record(intent, order, etag, ctx)


def _submit_and_record(intent: OrderIntent, order: Order, etag: str, ctx: ExecutionContext) -> ExecutionResult:
    exchange = ctx.exchange_for(intent.account_id)
    request = OrderRequest(client_order_id=intent.id, symbol=intent.symbol, side=intent.side, type=intent.type,
                           qty=intent.qty, limit_price=intent.limit_price)
    try:
        placed = exchange.submit(request)
    except AlreadySubmitted:
        found = exchange.get_order(intent.symbol, intent.id)
        if found is None:
            raise RetryLater("exchange says the order exists but cannot find it yet") from None
        placed = found
    except OrderRejected as exc:
        rejected = transition(order, OrderStatus.REJECTED, ctx.clock.now(), reject_reason=f"exchange: {exc}")
        return _write(intent, rejected, etag, [], None, ctx, "rejected", str(exc))
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    return _record(intent, order, etag, placed, ctx)


def _record(intent: OrderIntent, order: Order, etag: str, placed: ExchangeOrder,
            ctx: ExecutionContext) -> ExecutionResult:
    exchange = ctx.exchange_for(intent.account_id)
    try:
        fills = [f for f in exchange.executions(intent.symbol, client_order_id=intent.id)
                 if f.client_order_id == intent.id]
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    quote = ctx.market.instruments([intent.symbol])[0].quote
    now = ctx.clock.now()
    updated = order.model_copy(update={"exchange_order_id": placed.exchange_order_id})
    domain_fills = [_to_fill(f, intent.account_id, quote) for f in fills]
    for fill in domain_fills:
        updated = apply_fill(updated, fill, now)
    # Fills decide filled/partially-filled; the exchange's status adds what fills cannot
    # say (acknowledged, canceled, expired, rejected). Fills not visible yet are imported
    # later by reconciliation.
    target = placed.status
    if target not in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED) and can_transition(updated.status, target):
        updated = transition(updated, target, now, reject_reason=placed.reject_reason)
    return _write(intent, updated, etag, domain_fills, quote, ctx, "executed", "")


def _to_fill(f: ExchangeFill, account_id: str, quote: str) -> Fill:
    fee = f.fee if f.fee_asset == quote else f.fee * f.price  # a base-coin fee, valued in quote
    return Fill(id=f"fill:{f.exchange_fill_id}", order_id=f.client_order_id, account_id=account_id,
                symbol=f.symbol, side=f.side, price=f.price, qty=f.qty, fee=fee, fee_asset=quote,
                liquidity=f.liquidity, exchange_fill_id=f.exchange_fill_id, at=f.at)


def _position_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("id", "kind")}


def _write(intent: OrderIntent, order: Order, etag: str, fills: list[Fill], quote: str | None,
           ctx: ExecutionContext, outcome: Outcome, reason: str) -> ExecutionResult:
    """One transactional batch in the account partition; retried on a position race."""
    orders = ctx.store.container("orders")
    for _ in range(MAX_RECORD_ATTEMPTS):
        now = ctx.clock.now()
        ops: list[BatchOp] = [BatchOp("replace", item=order.to_doc(), if_match=etag)]
        ledger: list[dict[str, Any]] = []
        if fills:
            assert quote is not None
            pos_doc = _read(orders, position_id(intent.symbol), intent.account_id)
            position = (Position.from_doc(_position_fields(pos_doc)) if pos_doc
                        else empty_position(intent.account_id, intent.symbol))
            for fill in fills:
                ops.append(BatchOp("create", item=fill.to_doc()))
                position, realized = apply_fill_to_position(position, fill)
                ledger.extend(e.to_doc() for e in entries_for_fill(fill, realized, "led", quote_asset=quote))
            snapshot = {**position.to_doc(), "id": position_id(intent.symbol), "kind": "position"}
            ops.append(BatchOp("replace", item=snapshot, if_match=pos_doc["_etag"]) if pos_doc
                       else BatchOp("create", item=snapshot))
        for entry in ledger:
            ops.append(BatchOp("create", item={**entry, "id": f"outbox:{entry['id']}", "kind": "outbox-ledger",
                                               "entry": entry}))
        ops.append(BatchOp("create", item=_audit_outbox(intent, f"order.{outcome}", {
            "status": order.status.value, "filledQty": str(order.filled_qty), "reason": reason,
            "exchangeOrderId": order.exchange_order_id}, now)))
        try:
            orders.batch(intent.account_id, ops)
        except Exception as exc:
            current = _read(orders, intent.id, intent.account_id)
            if current is not None and Order.from_doc(current).status is not OrderStatus.PENDING_SUBMIT:
                return ExecutionResult("duplicate", Order.from_doc(current), "recorded by another delivery")
            if isinstance(getattr(exc, "cause", None), (PreconditionFailed, Conflict)) and current is not None:
                etag = current["_etag"]
                continue
            raise RetryLater(f"could not record the order: {type(exc).__name__}") from exc
        project_outbox(ctx, intent.account_id)
        return ExecutionResult(outcome, order, reason)
    raise RetryLater("position kept changing while recording")


def _audit_outbox(intent: OrderIntent, action: str, details: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"id": f"outbox:audit:{intent.id}", "kind": "outbox-audit", "accountId": intent.account_id,
            "tenantId": intent.tenant_id, "action": action, "actor": SYSTEM_ACTOR if intent.source == "strategy"
            else f"user-intent:{intent.id}", "target": f"order:{intent.id}", "details": details,
            "requestId": intent.request_id, "at": now.isoformat()}


def project_outbox(ctx: ExecutionContext, account_id: str) -> int:
    """Copy outbox docs into ``ledger`` and ``audit`` (idempotent), then delete them."""
    orders = ctx.store.container("orders")
    pending = orders.query(Query(where=[Filter("kind", "in", ["outbox-ledger", "outbox-audit"])]),
                           partition_key=account_id).items
    if not pending:
        return 0
    entries = [doc["entry"] for doc in pending if doc["kind"] == "outbox-ledger"]
    for chunk in _chunks(entries):  # upserts of deterministic ids: a repeat changes nothing
        ctx.store.container("ledger").batch(account_id, [BatchOp("upsert", item=e) for e in chunk])
    for doc in pending:
        if doc["kind"] == "outbox-audit":
            _project_audit(ctx, doc)
    for chunk in _chunks(pending):
        try:
            orders.batch(account_id, [BatchOp("delete", id=doc["id"]) for doc in chunk])
        except BatchFailed:  # another delivery projected some meanwhile: delete what is left
            for doc in chunk:
                with contextlib.suppress(NotFound):
                    orders.delete(doc["id"], account_id)
    return len(pending)


def _chunks(items: list[dict[str, Any]], size: int = 90) -> list[list[dict[str, Any]]]:
    """Transactional batches hold at most 100 operations (Cosmos DB's limit)."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def _project_audit(ctx: ExecutionContext, doc: dict[str, Any]) -> None:
    """Append the outbox's audit event exactly once: its id derives from the outbox id."""
    with contextlib.suppress(AlreadyAppended):
        append_audit(ctx.store.container("audit"), tenant_id=doc["tenantId"], action=doc["action"],
                     actor=doc["actor"], target=doc["target"], details=doc["details"],
                     request_id=doc.get("requestId"), at=datetime.fromisoformat(doc["at"]), event_id=doc["id"])
