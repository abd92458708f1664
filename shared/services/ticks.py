"""Strategy ticks: schedule one per enabled (profile, symbol), then decide and explain.

``schedule_ticks`` runs on the timer: one message per enabled profile and symbol, its
id derived from the latest closed candle, so a timer that fires twice (or a replay that
restarts) cannot make two ticks for one candle.

``run_tick`` runs per message: it reads the candle window, runs the profile's strategy
version (data checks first), re-reads the halts, and records a ``Decision`` with every
verdict and the hash of the candles it saw. Only a buy or sell with no halt becomes an
``OrderIntent`` on ``order-intents``, its message id the intent id (the idempotency
key: profile, symbol, candle time, action) and its session the account.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.decisions import Decision, RuleVerdict
from shared.domain.market import INTERVAL_SECONDS
from shared.domain.profiles import Profile
from shared.domain.rules import pipeline, sma_cross
from shared.domain.rules.context import TickInput
from shared.domain.rules.pipeline import Evaluation
from shared.domain.strategy import SmaCrossParams, StrategyVersion, warmup_bars
from shared.domain.trading import OrderIntent, OrderType, Side
from shared.ports import (
    Clock,
    Conflict,
    Exchange,
    Filter,
    MarketData,
    NotFound,
    OutgoingMessage,
    Query,
    QueueBroker,
    Store,
)
from shared.services.execution import sync_message
from shared.services.halts import check_halts
from shared.services.listing import all_items
from shared.services.order_records import open_orders, position_from_doc, position_id, read_doc
from shared.services.strategies import load_version
from shared.services.strategy_changes import running_version
from shared.topology import ORDER_INTENTS, STRATEGY_TICKS

WINDOW_BARS = 300


@dataclass
class TickContext:
    store: Store
    broker: QueueBroker
    market: MarketData
    exchange_for: Callable[[str], Exchange]
    clock: Clock


def enabled_profiles(store: Store) -> list[Profile]:
    query = Query(where=[Filter("kind", "=", "profile"), Filter("enabled", "=", True)], limit=200)
    return [Profile.from_doc(d) for d in all_items(store.container("profiles"), query)]


def tick_message_id(profile_id: str, symbol: str, candle_time: datetime) -> str:
    return f"tick:{profile_id}:{symbol}:{to_ms(candle_time)}"


def schedule_ticks(ctx: TickContext, request_id: str | None = None) -> int:
    """Enqueue one tick per enabled (profile, symbol) for its latest closed candle."""
    queue = ctx.broker.queue(STRATEGY_TICKS)
    sent = 0
    for profile in enabled_profiles(ctx.store):
        for symbol in profile.symbols:
            latest = ctx.market.candles(symbol, profile.interval, limit=1)
            if not latest:
                continue
            candle_time = latest[-1].open_time
            body = {"profileId": profile.id, "tenantId": profile.tenant_id, "symbol": symbol,
                    "candleTime": candle_time.isoformat(), "requestId": request_id}
            message_id = tick_message_id(profile.id, symbol, candle_time)
            queue.send(OutgoingMessage(body=json.dumps(body), message_id=message_id,
                                       application_properties={"requestId": request_id or ""}))
            sent += 1
    return sent


def decision_id(profile_id: str, symbol: str, candle_time: datetime) -> str:
    return f"{profile_id}:{symbol}:{to_ms(candle_time)}"


def intent_id(profile_id: str, symbol: str, candle_time: datetime, action: str) -> str:
    """The idempotency key: the same decision can only ever ask for one order. Hashed to
    fit every exchange's client order id (Bybit ``orderLinkId``: at most 36 of
    ``[A-Za-z0-9_-]``)."""
    digest = hashlib.sha256(f"{profile_id}|{symbol}|{to_ms(candle_time)}|{action}".encode()).hexdigest()
    return f"i-{digest[:32]}"


def run_tick(body: str, ctx: TickContext) -> Decision | None:
    msg = json.loads(body)
    tenant_id, profile_id, symbol = msg["tenantId"], msg["profileId"], msg["symbol"]
    candle_time = datetime.fromisoformat(msg["candleTime"])
    request_id = msg.get("requestId")
    try:
        doc = ctx.store.container("profiles").read(profile_id, tenant_id)
    except NotFound:
        return None  # the profile was deleted after the tick was scheduled
    profile = Profile.from_doc(doc)
    if not profile.enabled or symbol not in profile.symbols:
        return None
    # The strategy's head decides which version runs (approval and rollback move it);
    # the profile's own number serves strategies without a head.
    version = load_version(ctx.store, profile.strategy_id,
                           running_version(ctx.store, profile.strategy_id, profile.strategy_version))
    _request_sync(ctx, profile.account_id, candle_time)
    now = ctx.clock.now()
    evaluation = _evaluate(ctx, profile, version, symbol, candle_time, now)
    halt = check_halts(ctx.store.container("controls"), tenant_id=tenant_id, profile_id=profile_id, now=now)
    verdicts = [*evaluation.verdicts, RuleVerdict(
        rule="halt", outcome="block" if halt.halted else "pass", reason=halt.summary,
        values={"scope": halt.scope})]
    action, blocked_by = evaluation.action, evaluation.blocked_by
    if halt.halted and action in ("buy", "sell"):
        action, blocked_by = "blocked", "halt"
    new_intent = None
    if action in ("buy", "sell") and evaluation.qty is not None and evaluation.qty > 0:
        new_intent = OrderIntent(
            id=intent_id(profile_id, symbol, candle_time, action), tenant_id=tenant_id,
            account_id=profile.account_id, profile_id=profile_id, symbol=symbol,
            side=Side.BUY if action == "buy" else Side.SELL, type=OrderType.MARKET, qty=evaluation.qty,
            source="strategy", decision_id=decision_id(profile_id, symbol, candle_time), candle_time=candle_time,
            reason=_reason(evaluation), request_id=request_id, created_at=now)
    decision = Decision(
        id=decision_id(profile_id, symbol, candle_time), tenant_id=tenant_id, profile_id=profile_id,
        account_id=profile.account_id, symbol=symbol, interval=profile.interval, candle_time=candle_time,
        strategy_id=profile.strategy_id, strategy_version=version.version, action=action,
        blocked_by=blocked_by, verdicts=verdicts, candles_hash=evaluation.candles_hash,
        intent_id=new_intent.id if new_intent else None, request_id=request_id, created_at=now)
    decision = decision.model_copy(update={"intent": new_intent})
    try:
        ctx.store.container("decisions").create(decision.to_doc())
    except Conflict:  # a redelivered tick: the first decision stands, re-send exactly its intent
        decision = Decision.from_doc(ctx.store.container("decisions").read(decision.id, profile_id))
    if decision.intent is not None:
        _send_intent(ctx, decision.intent, request_id)
    return decision


def _send_intent(ctx: TickContext, intent: OrderIntent, request_id: str | None) -> None:
    ctx.broker.queue(ORDER_INTENTS).send(OutgoingMessage(
        body=json.dumps(intent.to_doc()), message_id=intent.id, session_id=intent.account_id,
        application_properties={"requestId": request_id or ""}))


def _request_sync(ctx: TickContext, account_id: str, candle_time: datetime) -> None:
    """Open orders (partial fills, resting limits) are brought up to date by the execution
    function, the only writer of orders, before this account trades again."""
    if any(d["status"] != "pending-submit" for d in open_orders(ctx.store, account_id)):
        body, message_id = sync_message(account_id, str(to_ms(candle_time)))
        ctx.broker.queue(ORDER_INTENTS).send(OutgoingMessage(body=body, message_id=message_id, session_id=account_id))


def _reason(evaluation: Evaluation) -> str:
    passed = [v.rule for v in evaluation.verdicts if v.outcome == "pass"]
    return f"{evaluation.action}: " + ", ".join(passed)


def _evaluate(ctx: TickContext, profile: Profile, version: StrategyVersion, symbol: str,
              candle_time: datetime, now: datetime) -> Evaluation:
    interval_seconds = INTERVAL_SECONDS[profile.interval]
    bars = max(WINDOW_BARS, warmup_bars(version.params) + 2)
    candles = ctx.market.candles(symbol, profile.interval, end=candle_time, limit=bars)
    window = CandleSeries.from_candles(candles)
    [instrument] = ctx.market.instruments([symbol])
    position = position_from_doc(read_doc(ctx.store.container("orders"), position_id(symbol), profile.account_id),
                                 profile.account_id, symbol)
    qty, avg_cost = position.qty, position.avg_cost
    balances = ctx.exchange_for(profile.account_id).balances()
    last_close = Decimal(repr(candles[-1].close)) if candles else Decimal(0)
    equity = balances.get(instrument.quote, Decimal(0)) + qty * last_close
    inp = TickInput(window=window, symbol=symbol, interval_seconds=interval_seconds, now=now, position_qty=qty,
                    position_avg_cost=avg_cost, equity=equity, instrument=instrument, limits=profile.risk,
                    advisor=None)
    if isinstance(version.params, SmaCrossParams):
        return sma_cross.evaluate(inp, version.params)
    return pipeline.evaluate(inp, version.params)


def tick_summary(decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {"decided": False}
    return {"decided": True, "action": decision.action, "blockedBy": decision.blocked_by,
            "intentId": decision.intent_id}
