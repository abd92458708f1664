"""Executing an order intent: the single writer of orders.

Every delivery of an intent (the queue delivers at least once, maybe concurrently) runs
this; the effects happen once:

1. Our order record's id is the intent id. A record past ``pending-submit`` means done.
2. Before anything reaches the exchange the intent is checked: profile enabled, every
   halt scope (fresh read, fail closed) and the pre-trade risk checks. A refusal is
   recorded as a rejected order with the reason.
3. A ``pending-submit`` record is *created* before submitting (the id makes a second
   one conflict). A delivery that finds ``pending-submit`` cannot know whether the
   exchange got the order, so it asks the exchange by client order id; only if the
   exchange has none does it check again (halts and risk, now) and submit.
4. The exchange is called with client order id = intent id; ``AlreadySubmitted`` means a
   previous delivery placed it: look it up, never place a second one.
5. Order, fills, position and outbox are recorded in one batch (``order_records``).

Fills that arrive after the first record (partial fills, resting limits, Bybit's
asynchronous create) are imported by ``sync_account``, which ticks trigger through the
same queue so this function stays the only writer.

Batches (``handle_order_messages``): the function receives a session's messages (one
account) as a batch. When the account's exchange keeps its book in our store (the paper
exchange), runs of messages share one store unit of work, so one commit (one fsync)
records many intents; each message is a nested unit, so a failing one rolls back alone.
Units are capped in messages and time because they hold SQLite's write lock; a live
exchange is never called inside one (its network calls would hold that lock).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from shared.domain.controls import HALT_ID, Control, profile_scope
from shared.domain.orders import TERMINAL, apply_fill, can_transition, new_order_from_intent, transition
from shared.domain.profiles import Profile, RiskLimits
from shared.domain.risk import RiskDenial, check_order
from shared.domain.trading import Order, OrderIntent, OrderStatus, Side
from shared.ports import (
    AlreadySubmitted,
    Conflict,
    ExchangeOrder,
    ExchangeUnavailable,
    OrderRejected,
    OrderRequest,
    RateLimited,
)
from shared.services.batches import BatchStopped, run_batch
from shared.services.halts import check_halts
from shared.services.optimistic import KeptChanging, update_document
from shared.services.order_records import (
    MAX_FILLS_PER_BATCH,
    SYSTEM_ACTOR,
    BookedFill,
    ExecutionContext,
    ExecutionResult,
    Outcome,
    RetryLater,
    audit_outbox,
    book_fill,
    open_orders,
    position_from_doc,
    position_id,
    project_outbox,
    read_doc,
    realized_on,
    recorded_fill_ids,
    write_order,
)

__all__ = ["BatchStopped", "ExecutionContext", "ExecutionResult", "RetryLater", "execute_intent",
           "handle_order_message", "handle_order_messages", "sync_account", "sync_message"]

SYNC_KIND = "sync"
_DEFAULT_LIMITS = RiskLimits()  # an intent without a profile (a manual order); frozen, so shared
#: A unit of work holds SQLite's write lock: commit at least this often.
MAX_UNIT_MESSAGES = 64
MAX_UNIT_SECONDS = 0.02


@dataclass(frozen=True)
class Refusal:
    outcome: Outcome
    reason: str
    details: dict[str, Any]
    automatic_halt: Control | None = None
    extra: list[dict[str, Any]] = field(default_factory=list)


def execute_intent(intent: OrderIntent, ctx: ExecutionContext) -> ExecutionResult:
    orders = ctx.store.container("orders")
    existing = read_doc(orders, intent.id, intent.account_id)
    if existing is not None:
        order = Order.from_doc(existing)
        if order.status is not OrderStatus.PENDING_SUBMIT:
            project_outbox(ctx, intent.account_id)
            return ExecutionResult("duplicate", order, "intent already executed")
        return _resume_pending(intent, order, existing["_etag"], ctx)
    now = ctx.clock.now()
    exchange_name = ctx.exchange_for(intent.account_id).name
    refusal = _check(intent, ctx, own_order_id=None)
    if refusal is not None:
        rejected = transition(new_order_from_intent(intent, exchange_name, now), OrderStatus.REJECTED, now,
                              reject_reason=refusal.reason)
        return _record_refusal(ctx, rejected, None, refusal)
    pending = new_order_from_intent(intent, exchange_name, now)
    try:
        saved = orders.create(pending.to_doc())
    except Conflict:  # a concurrent delivery got there first: continue from its record
        return execute_intent(intent, ctx)
    return _submit_and_record(intent, pending, saved["_etag"], ctx)


def _profile(ctx: ExecutionContext, intent: OrderIntent) -> Profile | None:
    if intent.profile_id is None:
        return None
    doc = read_doc(ctx.store.container("profiles"), intent.profile_id, intent.tenant_id)
    return Profile.from_doc(doc) if doc else None


def _check(intent: OrderIntent, ctx: ExecutionContext, own_order_id: str | None) -> Refusal | None:
    """Profile, halts, then risk; ``own_order_id`` is left out of the open orders (a
    pending record of this very intent is not a competing order)."""
    now = ctx.clock.now()
    profile = _profile(ctx, intent)
    if intent.profile_id is not None and (profile is None or not profile.enabled):
        return Refusal("rejected", f"profile {intent.profile_id} is missing or disabled", {})
    halt = check_halts(ctx.store.container("controls"), tenant_id=intent.tenant_id,
                       profile_id=intent.profile_id, now=now)
    if halt.halted:
        return Refusal("blocked", f"halted: {halt.summary}", {"halt": halt.scope})
    limits = profile.risk if profile else _DEFAULT_LIMITS
    denial = _risk_denial(intent, ctx, limits, own_order_id)
    if denial is None:
        return None
    reason = f"risk check {denial.check}: {denial.reason}"
    details = {"check": denial.check, **{k: str(v) for k, v in denial.values.items()}}
    if denial.check == "daily-loss-limit" and intent.profile_id:
        control = Control(id=HALT_ID, scope=profile_scope(intent.profile_id), kind="halt", active=True,
                          automatic=True, reason=f"daily loss limit reached: {denial.reason}", actor=SYSTEM_ACTOR,
                          since=now, until=now + timedelta(minutes=limits.halt_cooldown_minutes),
                          request_id=intent.request_id)
        return Refusal("rejected", reason, details, automatic_halt=control)
    return Refusal("rejected", reason, details)


def _risk_denial(
    intent: OrderIntent, ctx: ExecutionContext, limits: RiskLimits, own_order_id: str | None
) -> RiskDenial | None:
    [instrument] = ctx.market.instruments([intent.symbol])
    [ticker] = ctx.market.tickers([intent.symbol])
    price = intent.limit_price if intent.limit_price is not None else ticker.last_price
    balances = ctx.exchange_for(intent.account_id).balances()
    position = position_from_doc(read_doc(ctx.store.container("orders"), position_id(intent.symbol),
                                          intent.account_id), intent.account_id, intent.symbol)
    others = [d for d in open_orders(ctx.store, intent.account_id) if d["id"] != own_order_id]
    open_buy = sum((Decimal(d["qty"]) * Decimal(d.get("limitPrice") or price) for d in others
                    if d["symbol"] == intent.symbol and d["side"] == Side.BUY.value), Decimal(0))
    return check_order(intent, instrument=instrument, price=price, balances=balances, position=position,
                       open_orders=len(others), limits=limits, realized_today=realized_today(ctx, intent.account_id),
                       open_buy_notional=open_buy)


def realized_today(ctx: ExecutionContext, account_id: str) -> Decimal:
    """Realized PnL plus fees booked since UTC midnight (what the daily loss limit caps)."""
    return realized_on(ctx, account_id, ctx.clock.now().isoformat()[:10])  # YYYY-MM-DD, without strftime's cost


def _apply_automatic_halt(ctx: ExecutionContext, control: Control) -> None:
    """Written before the refusal is recorded (safety first); never overwrites blindly."""
    def build(current: dict[str, Any] | None) -> dict[str, Any]:
        version = int(current.get("version") or 0) + 1 if current else 0
        return control.model_copy(update={"version": version}).to_doc()

    try:
        update_document(ctx.store.container("controls"), control.id, control.scope, build)
    except KeptChanging:
        raise RetryLater("the profile halt kept changing; retrying the intent") from None


def _record_refusal(ctx: ExecutionContext, rejected: Order, etag: str | None, refusal: Refusal) -> ExecutionResult:
    extra = list(refusal.extra)
    if refusal.automatic_halt is not None:
        _apply_automatic_halt(ctx, refusal.automatic_halt)
        halt = refusal.automatic_halt
        extra.append({**audit_outbox(rejected, "halt.automatic", {"reason": halt.reason,
                                                                   "until": halt.until.isoformat() if halt.until
                                                                   else None}, ctx.clock.now()),
                      "target": halt.scope})
    quote = ctx.market.instruments([rejected.symbol])[0].quote
    return write_order(ctx, rejected, etag, [], quote, outcome=refusal.outcome, reason=refusal.reason,
                       extra_outbox=extra)


def _resume_pending(intent: OrderIntent, order: Order, etag: str, ctx: ExecutionContext) -> ExecutionResult:
    """A previous delivery created the record and may or may not have reached the exchange."""
    exchange = ctx.exchange_for(intent.account_id)
    try:
        placed = exchange.get_order(intent.symbol, intent.id)
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    if placed is not None:
        return record_exchange_state(order, etag, placed, ctx)
    refusal = _check(intent, ctx, own_order_id=intent.id)  # the world may have changed since
    if refusal is not None:
        rejected = transition(order, OrderStatus.REJECTED, ctx.clock.now(), reject_reason=refusal.reason)
        return _record_refusal(ctx, rejected, etag, refusal)
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
        quote = ctx.market.instruments([intent.symbol])[0].quote
        return write_order(ctx, rejected, etag, [], quote, outcome="rejected", reason=str(exc))
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    return record_exchange_state(order, etag, placed, ctx)


def record_exchange_state(order: Order, etag: str, placed: ExchangeOrder, ctx: ExecutionContext,
            outcome: Outcome = "executed") -> ExecutionResult:
    """Apply the fills we do not have yet and the exchange's status, in batches."""
    exchange = ctx.exchange_for(order.account_id)
    try:
        fills = [f for f in exchange.executions(order.symbol, client_order_id=order.id)
                 if f.client_order_id == order.id]
    except (ExchangeUnavailable, RateLimited) as exc:
        raise RetryLater(f"exchange unavailable: {exc}") from exc
    [instrument] = ctx.market.instruments([order.symbol])
    reported = [book_fill(f, order.account_id, instrument.base, instrument.quote) for f in fills]
    known = recorded_fill_ids(ctx.store, order, [b.order_fill.id for b in reported])
    new = [b for b in reported if b.order_fill.id not in known]
    updated = order.model_copy(update={"exchange_order_id": placed.exchange_order_id})
    result: ExecutionResult | None = None
    chunks: list[list[BookedFill]] = [new[i:i + MAX_FILLS_PER_BATCH] for i in range(0, len(new), MAX_FILLS_PER_BATCH)]
    for index, chunk in enumerate(chunks or [[]]):
        now = ctx.clock.now()
        for booked in chunk:
            updated = apply_fill(updated, booked.order_fill, now)
        last = index == len(chunks or [[]]) - 1
        # Fills decide filled/partially-filled; the exchange's status adds what fills
        # cannot say (acknowledged, canceled, expired, rejected).
        target = placed.status
        if last and target not in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED) \
                and can_transition(updated.status, target):
            updated = transition(updated, target, now, reject_reason=placed.reject_reason)
        if not chunk and updated == order:
            return ExecutionResult("duplicate", order, "nothing new")
        result = write_order(ctx, updated, etag, chunk, instrument.quote, outcome=outcome, reason="")
        if result.outcome == "duplicate" or result.order is None or last:
            return result
        current = read_doc(ctx.store.container("orders"), order.id, order.account_id)
        etag = current["_etag"] if current else etag
    assert result is not None
    return result


def sync_account(ctx: ExecutionContext, account_id: str) -> int:
    """Import fills and status changes of our open orders; returns how many changed."""
    changed = 0
    exchange = ctx.exchange_for(account_id)
    for doc in open_orders(ctx.store, account_id):
        order = Order.from_doc(doc)
        if order.status is OrderStatus.PENDING_SUBMIT or order.status in TERMINAL:
            continue  # pending records are settled by their intent's redelivery
        try:
            placed = exchange.get_order(order.symbol, order.id)
        except (ExchangeUnavailable, RateLimited) as exc:
            raise RetryLater(f"exchange unavailable: {exc}") from exc
        if placed is None:
            continue  # vanished orders are reconciliation's to judge
        if record_exchange_state(order, doc["_etag"], placed, ctx, outcome="synced").outcome == "synced":
            changed += 1
    return changed


def sync_message(account_id: str, marker: str) -> tuple[str, str]:
    """(body, message id) of a request to sync an account's open orders; ``marker`` (the
    candle time) makes one per account and candle however many profiles ask."""
    return json.dumps({"kind": SYNC_KIND, "accountId": account_id}), f"sync:{account_id}:{marker}"


def handle_order_message(body: str, ctx: ExecutionContext) -> ExecutionResult:
    """One message of ``order-intents``: an order intent, a sync of an account, or a
    trader's cancel (``shared.services.cancels``; imported here, as it builds on this module)."""
    return _handle(json.loads(body), ctx)


def handle_order_messages(bodies: Sequence[str], ctx: ExecutionContext,
                          last_delivery: Sequence[bool] | None = None) -> list[ExecutionResult]:
    """What ``execute_order_intent`` runs: a batch of ``order-intents`` messages, in order
    (``shared.services.batches``: units of work, and where a failure stops the batch).

    ``last_delivery[i]``: message i will be dead-lettered if this delivery fails too.
    """
    return run_batch(bodies, handle=lambda data: _handle(data, ctx),
                     groupable=lambda data: _shares_our_store(ctx, data), unit_of_work=ctx.store.unit_of_work,
                     last_delivery=last_delivery, max_unit_messages=MAX_UNIT_MESSAGES,
                     max_unit_seconds=MAX_UNIT_SECONDS)


def _shares_our_store(ctx: ExecutionContext, data: Any) -> bool:
    """Whether the message's account trades on an exchange that keeps its book in our
    store (the paper exchange's ``book_store``): no network calls, and its writes join
    our unit of work. A live exchange is never run inside a unit."""
    account = data.get("accountId") if isinstance(data, dict) else None
    if not isinstance(account, str):
        return False
    return getattr(ctx.exchange_for(account), "book_store", None) is ctx.store


def _handle(data: Any, ctx: ExecutionContext) -> ExecutionResult:
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == SYNC_KIND:
        changed = sync_account(ctx, str(data["accountId"]))
        return ExecutionResult("synced", None, f"{changed} orders changed")
    if kind is not None:  # an intent has no ``kind``: only other messages pay for the import
        from shared.services.cancels import CANCEL_KIND, cancel_order

        if kind == CANCEL_KIND:
            request_id = data.get("requestId")
            return cancel_order(ctx, str(data["accountId"]), str(data["orderId"]),
                                str(data.get("actor") or "unknown"), str(request_id) if request_id else None)
    return execute_intent(OrderIntent.model_validate(data), ctx)
