"""Reconciling one account: the bodies of the ``reconcile_account`` activities.

Steps (each an activity, each safe to run again): ``diff_account`` reads the exchange
then our books, judges them (``shared.domain.reconciliation``) and stores the run with
its drifts, repair plan and match ratio; ``halt_for_drifts`` halts the profiles an
unsafe drift affects; ``repair_drifts`` applies the safe repairs; ``finish_run`` closes
the run with its outcome, and audits and announces a change of outcome.

Where runs live: the account's partition of ``orders`` (kind ``reconciliation-run``,
90-day ``ttl``). A run describes that partition, the listing of one account's runs is
one partition query, and every reader of ``orders`` selects by ``kind``. ``ledger``
would not do (its balance is the sum of every document in the partition), nor would
``audit`` (append-only, hash-chained) or ``events`` (a 7-day notification channel).

Why the exchange is read before our books: every order we place is recorded before it
is submitted, so anything the exchange shows has a record by the time we read ours, and
an order unknown to us really is one. Whatever moved in between is judged "in flight"
by time (see the domain module) and left to the next run.

Repairs go through the executor's recording path (``record_exchange_state`` and
``write_order``): order, fills, position, ledger and audit change together in one batch.
An order with an unsafe finding is never repaired; a repair that fails for a reason a
retry will not change becomes unsafe and halts like the rest (fail closed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal

from shared.domain.controls import HALT_ID, Control, profile_scope
from shared.domain.orders import TERMINAL, FillRefused, IllegalTransition, transition
from shared.domain.positions import InsufficientPosition
from shared.domain.profiles import Profile
from shared.domain.reconciliation import (
    LOOKBACK,
    BookState,
    DiffSettings,
    Drift,
    ExchangeState,
    ReconciliationRun,
    Repair,
    RunStatus,
    affected_profiles,
    book_balances,
    diff,
    needs_lookup,
)
from shared.domain.trading import Fill, LedgerEntry, Order, OrderStatus
from shared.ports import ExchangeError, ExchangeFill, ExchangeOrder, Filter, OrderBy, Query, Store
from shared.services.audit import AlreadyAppended, append_audit
from shared.services.controls_admin import control_view
from shared.services.events import publish, tenant_stream
from shared.services.execution import record_exchange_state
from shared.services.listing import all_items
from shared.services.optimistic import update_document
from shared.services.order_records import (
    ExecutionContext,
    RetryLater,
    known_fill_ids,
    open_orders,
    position_from_doc,
    read_doc,
    write_order,
)

log = logging.getLogger("halyard.reconciliation")

ORCHESTRATOR: Final = "reconcile_account"
DIFF_ACTIVITY: Final = "reconciliation_diff"
HALT_ACTIVITY: Final = "reconciliation_halt"
REPAIR_ACTIVITY: Final = "reconciliation_repair"
FINISH_ACTIVITY: Final = "reconciliation_finish"
ACTOR: Final = "system:reconciliation"
SCHEDULER_ACTOR: Final = "system:scheduler"
RUN_KIND: Final = "reconciliation-run"
RUN_PREFIX: Final = "reconciliation-run:"
RUN_TTL_SECONDS: Final = 90 * 24 * 3600
INSTANCE_PREFIX: Final = "reconcile-"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
Trigger = Literal["timer", "operator"]


def instance_id(account_id: str) -> str:
    """The one durable instance id per account, so two runs can never overlap (the
    host refuses to start an id that is running). Odd account ids are hashed."""
    if _PLAIN_ID.match(account_id):
        return INSTANCE_PREFIX + account_id
    return INSTANCE_PREFIX + "h-" + hashlib.sha256(account_id.encode()).hexdigest()[:32]


def run_input(account_id: str, trigger: Trigger, actor: str, request_id: str | None) -> dict[str, Any]:
    """The orchestration input; the request id follows the run into halts and audit."""
    return {"accountId": account_id, "trigger": trigger, "actor": actor, "requestId": request_id}


def run_doc_id(run_id: str) -> str:
    return RUN_PREFIX + run_id


def runs_query() -> Query:
    """An account's runs, newest first (page size set by the caller)."""
    return Query(where=[Filter("kind", "=", RUN_KIND)], order_by=OrderBy("startedAt", descending=True))


def all_accounts(store: Store) -> list[str]:
    """Every account any profile trades on (enabled or not: its orders may still be open)."""
    query = Query(where=[Filter("kind", "=", "profile")], limit=200)
    return sorted({str(d["accountId"]) for d in all_items(store.container("profiles"), query)})


def account_profiles(store: Store, account_id: str) -> list[Profile]:
    query = Query(where=[Filter("kind", "=", "profile"), Filter("accountId", "=", account_id)], limit=200)
    return sorted((Profile.from_doc(d) for d in all_items(store.container("profiles"), query)), key=lambda p: p.id)


# ------------------------------------------------------------------ snapshot


def _stored_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")  # the stored form of a UTC time (whole seconds)


def _our_orders(store: Store, account_id: str, since: datetime, named: set[str]) -> list[Order]:
    """Our open orders, those changed since ``since``, and any the exchange named."""
    orders = store.container("orders")
    docs = {d["id"]: d for d in open_orders(store, account_id)}
    recent = Query(where=[Filter("kind", "=", "order"), Filter("updatedAt", ">=", _stored_time(since))], limit=500)
    docs.update({d["id"]: d for d in all_items(orders, recent, account_id)})
    for cid in sorted(named - set(docs)):
        doc = read_doc(orders, cid, account_id)
        if doc is not None and doc.get("kind") == "order":
            docs[cid] = doc
    return [Order.from_doc(d) for d in docs.values()]


def _our_fills(store: Store, account_id: str, order_ids: list[str]) -> list[Fill]:
    fills: list[Fill] = []
    for i in range(0, len(order_ids), 100):
        query = Query(where=[Filter("kind", "=", "fill"), Filter("orderId", "in", order_ids[i:i + 100])], limit=500)
        fills += [Fill.from_doc(d) for d in all_items(store.container("orders"), query, account_id)]
    return fills


def _book(ctx: ExecutionContext, account_id: str, profiles: list[Profile], orders: list[Order],
          venue_symbols: set[str]) -> BookState:
    store = ctx.store
    positions_docs = store.container("orders").query(Query(where=[Filter("kind", "=", "position")]),
                                                     partition_key=account_id).items
    positions = [position_from_doc(d, account_id, d["symbol"]) for d in positions_docs]
    tracked = {s for p in profiles for s in p.symbols} | {p.symbol for p in positions}
    symbols = sorted(tracked | {o.symbol for o in orders} | venue_symbols)
    assets = {i.symbol: (i.base, i.quote) for i in ctx.market.instruments(symbols)} if symbols else {}
    entries = [LedgerEntry.from_doc(d) for d in all_items(store.container("ledger"), Query(limit=500), account_id)]
    bases = {s: assets[s][0] for s in tracked if s in assets}
    quotes = {s: assets[s][1] for s in tracked if s in assets}
    expected, error = book_balances(entries, positions, bases, quotes)
    fills = _our_fills(store, account_id, sorted(o.id for o in orders))
    return BookState(orders=orders, fills=fills, balances=expected, assets=assets, balance_error=error)


def snapshot(ctx: ExecutionContext, account_id: str, profiles: list[Profile],
             settings: DiffSettings) -> tuple[BookState, ExchangeState, datetime]:
    """Both sides, exchange first; then the exchange's full story of the orders the
    first look cannot judge (orders it did not list, quantities or statuses that differ)."""
    exchange = ctx.exchange_for(account_id)
    since = (settings.now - LOOKBACK).replace(microsecond=0)
    balances = exchange.balances()  # first: a fill it misses is younger than this read (in flight)
    listed = exchange.open_orders()
    history = exchange.order_history(since=since)
    executions = exchange.executions(since=since)
    named = {o.client_order_id for o in [*listed, *history]} | {f.client_order_id for f in executions}
    orders = _our_orders(ctx.store, account_id, since, named - {""})
    venue_symbols = {o.symbol for o in [*listed, *history]} | {f.symbol for f in executions}
    book = _book(ctx, account_id, profiles, orders, venue_symbols)
    reported: dict[str, ExchangeOrder | None] = {o.client_order_id: o for o in history if o.client_order_id}
    state = ExchangeState(open_orders=listed, orders=reported, executions=executions, balances=balances)
    wanted = needs_lookup(book, state, settings)
    if not wanted:
        return book, state, since
    listed_ids = {o.client_order_id for o in listed}
    fills: list[ExchangeFill] = list(executions)
    for cid, symbol in wanted:
        if cid not in listed_ids and cid not in reported:
            reported[cid] = exchange.get_order(symbol, cid)
        fills += [f for f in exchange.executions(symbol, client_order_id=cid) if f.client_order_id == cid]
    complete = frozenset(cid for cid, _ in wanted)
    return book, ExchangeState(listed, reported, fills, balances, complete), since


# ------------------------------------------------------------------ run documents


def load_run(store: Store, account_id: str, run_id: str) -> ReconciliationRun | None:
    doc = read_doc(store.container("orders"), run_doc_id(run_id), account_id)
    return ReconciliationRun.from_doc(doc) if doc else None


def _save_run(store: Store, run: ReconciliationRun) -> None:
    store.container("orders").upsert({**run.to_doc(), "ttl": RUN_TTL_SECONDS})


def _update_run(store: Store, account_id: str, run_id: str,
                change: Callable[[ReconciliationRun], ReconciliationRun]) -> ReconciliationRun:
    """Read-modify-write under the etag (a retried activity may race its first attempt)."""
    updated: list[ReconciliationRun] = []

    def build(current: dict[str, Any] | None) -> dict[str, Any]:
        if current is None:
            raise LookupError(f"reconciliation run {run_id} of account {account_id} does not exist")
        run = change(ReconciliationRun.from_doc(current))
        updated[:] = [run]
        return {**run.to_doc(), "ttl": RUN_TTL_SECONDS}

    update_document(store.container("orders"), run_doc_id(run_id), account_id, build)
    return updated[0]


# ------------------------------------------------------------------ activities


def diff_account(ctx: ExecutionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Read both sides, judge, and store the run (status ``running``); returns a summary."""
    account_id, run_id = str(params["accountId"]), str(params["runId"])
    profiles = account_profiles(ctx.store, account_id)
    settings = DiffSettings(now=ctx.clock.now())
    book, venue, since = snapshot(ctx, account_id, profiles, settings)
    result = diff(book, venue, settings)
    run = ReconciliationRun(
        id=run_doc_id(run_id), account_id=account_id, tenant_id=profiles[0].tenant_id if profiles else None,
        instance_id=params.get("instanceId"), request_id=params.get("requestId"), trigger=params["trigger"],
        actor=str(params["actor"]), status="running", started_at=settings.now, window_start=since,
        match_ratio=result.match_ratio, counts=result.counts, drifts=list(result.drifts),
        repairs=list(result.repairs))
    _save_run(ctx.store, run)
    return {"runId": run_id, "drifts": result.counts.drifts, "unsafe": result.counts.flagged,
            "repairs": len(result.repairs), "matchRatio": result.match_ratio}


def _halt_reason(drifts: list[Drift]) -> str:
    kinds = ", ".join(sorted({d.kind.value for d in drifts}))
    first = drifts[0].summary
    reason = f"reconciliation drift ({kinds}): {first}"
    if len(drifts) > 1:
        reason += f" (and {len(drifts) - 1} more)"
    return reason[:500]


def _already_halted(ctx: ExecutionContext, scope: str) -> bool:
    """An active halt with no end already stops the profile; a timed one (cooldown) is
    replaced, since drift must wait for an operator."""
    doc = read_doc(ctx.store.container("controls"), HALT_ID, scope)
    if doc is None:
        return False
    try:
        current = Control.from_doc(doc)
    except ValueError:
        return False  # unreadable: write ours, which is certain to stop trading
    return current.active and current.until is None


def _halt_profile(ctx: ExecutionContext, profile: Profile, reason: str, run: ReconciliationRun) -> bool:
    """Halt one profile (automatic, no cooldown); audited and announced. False when it
    was already halted until an operator resumes it."""
    scope = profile_scope(profile.id)
    if _already_halted(ctx, scope):
        return False
    now = ctx.clock.now()
    control = Control(id=HALT_ID, scope=scope, kind="halt", active=True, automatic=True, reason=reason, actor=ACTOR,
                      since=now, until=None, request_id=run.request_id)

    def build(current: dict[str, Any] | None) -> dict[str, Any]:
        version = int(current.get("version") or 0) + 1 if current else 1
        return control.model_copy(update={"version": version}).to_doc()

    saved = update_document(ctx.store.container("controls"), HALT_ID, scope, build)
    with contextlib.suppress(AlreadyAppended):
        append_audit(ctx.store.container("audit"), tenant_id=profile.tenant_id, action="halt.automatic", actor=ACTOR,
                     target=scope, details={"reason": reason, "runId": run.id, "accountId": run.account_id},
                     request_id=run.request_id, at=now, event_id=f"{run.id}:halt:{profile.id}")
    try:  # the halt is written and audited; a lost notification must not undo that
        publish(ctx.store, tenant_stream(profile.tenant_id), "control.changed",
                control_view(Control.from_doc(saved), str(saved["_etag"])), now, run.request_id)
    except Exception:
        log.exception("could not publish control.changed for %s", scope)
    return True


def halt_for_drifts(ctx: ExecutionContext, params: dict[str, Any]) -> list[str]:
    """Halt every profile an unsafe drift of the run affects; returns the profiles halted."""
    account_id, run_id = str(params["accountId"]), str(params["runId"])
    run = load_run(ctx.store, account_id, run_id)
    if run is None:
        raise LookupError(f"reconciliation run {run_id} of account {account_id} does not exist")
    unsafe = [d for d in run.drifts if not d.safe]
    if not unsafe:
        return []
    profiles = {p.id: p for p in account_profiles(ctx.store, account_id)}
    by_profile: dict[str, list[Drift]] = {}
    for drift in unsafe:
        for profile_id in affected_profiles(drift, list(profiles.values())):
            by_profile.setdefault(profile_id, []).append(drift)
    for profile_id, drifts in sorted(by_profile.items()):
        if _halt_profile(ctx, profiles[profile_id], _halt_reason(drifts), run):
            log.warning(json.dumps({"event": "reconciliation.halt", "profileId": profile_id, "runId": run.id,
                                    "requestId": run.request_id}))
    halted = sorted(by_profile)
    _update_run(ctx.store, account_id, run_id, lambda r: r.model_copy(
        update={"halted_profiles": sorted(set(r.halted_profiles) | set(halted))}))
    return halted


def _close_vanished(ctx: ExecutionContext, order: Order, etag: str, run_id: str) -> None:
    reason = f"vanished from the exchange (reconciliation run {run_id})"
    now = ctx.clock.now()
    if order.exchange_order_id is None:  # never acknowledged: nothing on the exchange to import
        if order.status in TERMINAL:
            return
        closed = transition(order, OrderStatus.CANCELED, now, reject_reason=reason)
        quote = ctx.market.instruments([order.symbol])[0].quote
        write_order(ctx, closed, etag, [], quote, outcome="synced", reason=reason)
        return
    status = OrderStatus.CANCELED if order.status.is_open else order.status
    gone = ExchangeOrder(client_order_id=order.id, exchange_order_id=order.exchange_order_id, symbol=order.symbol,
                         side=order.side, type=order.type, qty=order.qty, limit_price=order.limit_price,
                         status=status, filled_qty=order.filled_qty, avg_fill_price=order.avg_fill_price,
                         created_at=order.created_at, updated_at=now, reject_reason=reason)
    record_exchange_state(order, etag, gone, ctx, outcome="synced")  # imports its fills, then closes the rest


def _apply(ctx: ExecutionContext, account_id: str, repair: Repair, run_id: str) -> tuple[bool, str, bool]:
    """(repaired, note, permanent failure). The exchange is asked again first: a repair
    judged on the snapshot is applied only while the exchange still says the same."""
    orders = ctx.store.container("orders")
    doc = read_doc(orders, repair.order_id, account_id)
    if doc is None:
        return False, "repair failed: our order record is gone", True
    order = Order.from_doc(doc)
    try:
        placed = ctx.exchange_for(account_id).get_order(repair.symbol, repair.order_id)
        if repair.action == "sync":
            if placed is None:
                return False, "the exchange no longer reports the order; left to the next run", False
            record_exchange_state(order, doc["_etag"], placed, ctx, outcome="synced")
        else:
            if placed is not None:
                return False, "the exchange reports the order again; left to the next run", False
            _close_vanished(ctx, order, doc["_etag"], run_id)
    except (RetryLater, ExchangeError) as exc:
        return False, f"not repaired yet ({type(exc).__name__}); left to the next run", False
    except (IllegalTransition, FillRefused, InsufficientPosition) as exc:
        return False, f"repair failed: {exc}", True
    after_doc = read_doc(orders, repair.order_id, account_id)
    after = Order.from_doc(after_doc) if after_doc else order
    have = known_fill_ids(ctx.store, after)
    lost = [x for x in repair.fill_ids if f"fill:{x}" not in have]
    if lost:
        return False, f"repair failed: fills {', '.join(lost)} were not recorded", True
    if repair.action == "close-vanished" and after.status.is_open:
        return False, f"repair failed: the order is still {after.status}", True
    return True, f"repaired: now {after.status}, filled {after.filled_qty}", False


def repair_drifts(ctx: ExecutionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Apply the run's safe repairs; a permanently failed one turns its drifts unsafe."""
    account_id, run_id = str(params["accountId"]), str(params["runId"])
    run = load_run(ctx.store, account_id, run_id)
    if run is None:
        raise LookupError(f"reconciliation run {run_id} of account {account_id} does not exist")
    outcomes = {r.order_id: _apply(ctx, account_id, r, run_id) for r in run.repairs}

    def record(current: ReconciliationRun) -> ReconciliationRun:
        drifts = []
        for d in current.drifts:
            outcome = outcomes.get(d.order_id or "") if d.safe else None
            if outcome is not None:
                ok, note, permanent = outcome
                d = d.model_copy(update={"repaired": ok, "note": note, "safe": ok or not permanent})
            drifts.append(d)
        counts = current.counts.model_copy(update={"repaired": sum(d.repaired for d in drifts),
                                                   "flagged": sum(not d.safe for d in drifts)})
        return current.model_copy(update={"drifts": drifts, "counts": counts})

    updated = _update_run(ctx.store, account_id, run_id, record)
    failed = sum(1 for ok, _, _ in outcomes.values() if not ok)
    return {"repaired": updated.counts.repaired, "failed": failed, "unsafe": updated.counts.flagged}


def _final_status(run: ReconciliationRun, error: str | None) -> RunStatus:
    if error:
        return "failed"
    if any(not d.safe for d in run.drifts):
        return "halted" if run.halted_profiles else "unresolved"
    if not run.drifts:
        return "clean"
    return "repaired" if all(d.repaired for d in run.drifts) else "unresolved"


def _previous_status(store: Store, account_id: str, run_id: str) -> RunStatus | None:
    """The outcome of the account's run before this one (None for its first)."""
    query = dataclasses.replace(runs_query(), limit=5)
    for doc in store.container("orders").query(query, partition_key=account_id).items:
        if doc["id"] != run_doc_id(run_id) and doc.get("finishedAt"):
            return ReconciliationRun.from_doc(doc).status
    return None


def finish_run(ctx: ExecutionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Close the run. A run that changes the account's outcome (drift found, gone, or a
    failure) or repaired something is audited and announced on the tenant's feed; a
    drift that merely persists is not re-audited every five minutes (its halt already
    was, and every run is stored)."""
    account_id, run_id = str(params["accountId"]), str(params["runId"])
    error = params.get("error")
    now = ctx.clock.now()
    if load_run(ctx.store, account_id, run_id) is None:  # the diff itself failed
        profiles = account_profiles(ctx.store, account_id)
        _save_run(ctx.store, ReconciliationRun(
            id=run_doc_id(run_id), account_id=account_id, tenant_id=profiles[0].tenant_id if profiles else None,
            instance_id=params.get("instanceId"), request_id=params.get("requestId"), trigger=params["trigger"],
            actor=str(params["actor"]), status="running", started_at=now,
            error=error or "the run stopped before its diff was recorded"))
        error = error or "the run stopped before its diff was recorded"
    run = _update_run(ctx.store, account_id, run_id, lambda r: r.model_copy(update={
        "status": _final_status(r, error), "finished_at": now, "error": error}))
    summary = {"runId": run_id, "accountId": account_id, "status": run.status, "matchRatio": run.match_ratio,
               "drifts": run.counts.drifts, "repaired": run.counts.repaired, "flagged": run.counts.flagged,
               "haltedProfiles": run.halted_profiles}
    log.info(json.dumps({"event": "reconciliation.run", **summary, "requestId": run.request_id}))
    notable = run.status != (_previous_status(ctx.store, account_id, run_id) or "clean") or run.counts.repaired > 0
    if notable and run.tenant_id:
        details = {**summary, "kinds": sorted({d.kind.value for d in run.drifts}), "error": error}
        with contextlib.suppress(AlreadyAppended):
            append_audit(ctx.store.container("audit"), tenant_id=run.tenant_id, action=f"reconciliation.{run.status}",
                         actor=ACTOR, target=f"account:{account_id}", details=details, request_id=run.request_id,
                         at=now, event_id=f"{run.id}:finished")
        try:
            publish(ctx.store, tenant_stream(run.tenant_id), "reconciliation.completed", summary, now, run.request_id)
        except Exception:
            log.exception("could not publish reconciliation.completed for %s", run.id)
    return summary

