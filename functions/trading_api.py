"""Trading read API: orders, positions, trades, ledger and decisions of the caller's tenant.

Why every listing starts from the tenant's accounts: orders, fills and the ledger are
partitioned by account, and the only accounts a caller may read are those of the
profiles in the tenant its token names. An account or profile of another tenant is
"not found" (no hint that it exists). Each listing reads ONE partition: when the tenant
has several accounts the caller names one (``accountId``, else 422 listing the choices),
which keeps paging exact and cheap instead of merging sorted streams across partitions.

Continuation tokens are signed (``functions.pagination``) over tenant, route and the
filters, so a token cannot resume another tenant's, route's or filter's listing (400).
Money leaves as Decimal strings; store system properties (``_etag``, ``_ts``) never do.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, Literal, get_args

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, api_route
from functions.http_kit import HttpProblem
from functions.pagination import Paged, PageQuery, decode_continuation, derive_key, list_page, page_response
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.config import Settings
from shared.domain.decisions import Action, Decision
from shared.domain.ledger import balance
from shared.domain.positions import market_value, unrealized_pnl
from shared.domain.trading import Fill, LedgerEntry, Order, OrderStatus, Position
from shared.ports import Filter, MarketDataError, NotFound, OrderBy, Query
from shared.services.listing import all_items
from shared.services.order_records import position_from_doc
from shared.services.paging_key import paging_secret
from shared.services.tenancy import require_profile, tenant_accounts

bp = func.Blueprint()

StatusFilter = Literal["open", "pending-submit", "new", "partially-filled", "filled", "canceled", "rejected",
                       "expired"]
assert set(get_args(StatusFilter)) == {"open", *(s.value for s in OrderStatus)}, "StatusFilter drifted"
OPEN_STATUSES: Final = [s.value for s in OrderStatus if s.is_open]


def _account_field() -> Any:
    return Field(default=None, min_length=1, max_length=200,
                 description="One of the tenant's accounts; required when the tenant has several.")


@lru_cache(maxsize=4)
def paging_key(settings: Settings) -> bytes:
    """The continuation signing key: derived from the shared paging secret, per purpose."""
    return derive_key(paging_secret(settings))


class OrdersQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    status: StatusFilter | None = Field(default=None, description="An order status, or `open` for any open one.")
    account_id: str | None = _account_field()


class TradesQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = _account_field()
    symbol: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{2,30}$")


class LedgerQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = _account_field()


class DecisionsQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    profile_id: str = Field(min_length=1, max_length=200, description="One of the tenant's profiles.")
    action: Action | None = None
    blocked_by: str | None = Field(default=None, min_length=1, max_length=100,
                                   description="Only decisions blocked by this rule.")


class LedgerPage(Paged[LedgerEntry]):
    account_id: str | None
    balance: str | None = Field(description="Sum of all the account's entries (not just this page).")
    asset: str | None


class PositionView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    account_id: str
    symbol: str
    qty: str
    avg_cost: str
    realized_pnl: str
    fees_paid: str
    updated_at: AwareDatetime | None
    mark_price: str | None = Field(description="The market's last price; null when it has none.")
    unrealized_pnl: str | None
    market_value: str | None


class Positions(BaseModel):
    items: list[PositionView]


def clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def resolve_account(tenant_id: str, account_id: str | None) -> str | None:
    """The one account a listing reads: the named one (404 unless the tenant's), else the
    tenant's only one; None when the tenant has no account (an empty listing)."""
    accounts = tenant_accounts(runtime().store, tenant_id)
    if account_id is not None:
        if account_id not in accounts:
            raise NotFound(f"no account {account_id!r} in this tenant")
        return account_id
    if len(accounts) > 1:
        raise HttpProblem(422, "Validation failed", "Invalid query: accountId", errors=[
            {"field": "accountId", "message": f"this tenant has {len(accounts)} accounts; name one of "
                                              f"{', '.join(accounts)}"}])
    return accounts[0] if accounts else None


def paged(ctx: ApiContext, route: str, container: str, partition: str | None, where: list[Filter],
          order_field: str, filters: dict[str, Any]) -> dict[str, Any]:
    """One page of ``container`` in ``partition``, newest first, with a token bound to the
    caller's tenant, the route and the filters (the resolved partition included)."""
    page: PageQuery = ctx.query
    tenant = ctx.caller.tenant_id
    key = paging_key(runtime().settings)
    context = json.dumps({"partition": partition, **filters}, sort_keys=True, separators=(",", ":"))
    if partition is None:  # nothing to list; a foreign or edited token is still refused
        decode_continuation(page.continuation, key=key, tenant_id=tenant, route=route, context=context)
        return page_response([], None)
    query = Query(where=where, order_by=OrderBy(order_field, descending=True))
    result = list_page(runtime().store.container(container), query, page, key=key, tenant_id=tenant, route=route,
                       context=context, partition_key=partition)
    result["items"] = [clean(d) for d in result["items"]]
    return result


@api_route(bp, name="trading_orders", method="GET", route="v1/orders", role=Role.VIEWER, query=OrdersQuery,
           response=Paged[Order], tags=("trading",), summary="Orders of one of the tenant's accounts, newest first")
def orders(ctx: ApiContext) -> dict[str, Any]:
    q: OrdersQuery = ctx.query
    account = resolve_account(ctx.caller.tenant_id, q.account_id)
    where = [Filter("kind", "=", "order")]
    if q.status == "open":
        where.append(Filter("status", "in", OPEN_STATUSES))
    elif q.status is not None:
        where.append(Filter("status", "=", q.status))
    return paged(ctx, "trading_orders", "orders", account, where, "createdAt", {"status": q.status})


@api_route(bp, name="trading_trades", method="GET", route="v1/trades", role=Role.VIEWER, query=TradesQuery,
           response=Paged[Fill], tags=("trading",), summary="Fills of one of the tenant's accounts, newest first")
def trades(ctx: ApiContext) -> dict[str, Any]:
    q: TradesQuery = ctx.query
    account = resolve_account(ctx.caller.tenant_id, q.account_id)
    symbol = q.symbol.upper() if q.symbol else None
    where = [Filter("kind", "=", "fill")] + ([Filter("symbol", "=", symbol)] if symbol else [])
    return paged(ctx, "trading_trades", "orders", account, where, "at", {"symbol": symbol})


def account_balance(account_id: str) -> tuple[Decimal, str | None]:
    """The sum of every entry of the account (checked: no double-booked id, one asset)."""
    ledger = runtime().store.container("ledger")
    entries = [LedgerEntry.from_doc(d) for d in all_items(ledger, Query(limit=500), account_id)]
    return balance(entries), (entries[0].asset if entries else None)


@api_route(bp, name="trading_ledger", method="GET", route="v1/ledger", role=Role.VIEWER, query=LedgerQuery,
           response=LedgerPage, tags=("trading",),
           summary="Capital ledger entries of one of the tenant's accounts, newest first, with the balance")
def ledger(ctx: ApiContext) -> dict[str, Any]:
    q: LedgerQuery = ctx.query
    account = resolve_account(ctx.caller.tenant_id, q.account_id)
    result = paged(ctx, "trading_ledger", "ledger", account, [], "at", {})
    total, asset = account_balance(account) if account else (None, None)
    return {**result, "accountId": account, "balance": None if total is None else str(total), "asset": asset}


@api_route(bp, name="trading_decisions", method="GET", route="v1/decisions", role=Role.VIEWER,
           query=DecisionsQuery, response=Paged[Decision], tags=("trading",),
           summary="Decisions of one of the tenant's profiles, newest first: every rule's verdict (the why)")
def decisions(ctx: ApiContext) -> dict[str, Any]:
    q: DecisionsQuery = ctx.query
    require_profile(runtime().store, ctx.caller.tenant_id, q.profile_id)  # NotFound -> 404 for others' profiles
    where = [Filter("kind", "=", "decision")]
    if q.action is not None:
        where.append(Filter("action", "=", q.action))
    if q.blocked_by is not None:
        where.append(Filter("blockedBy", "=", q.blocked_by))
    return paged(ctx, "trading_decisions", "decisions", q.profile_id, where, "createdAt",
                 {"action": q.action, "blockedBy": q.blocked_by})


@api_route(bp, name="trading_positions", method="GET", route="v1/positions", role=Role.VIEWER, response=Positions,
           tags=("trading",), summary="Open positions of all the tenant's accounts, marked to the market's price")
def positions(ctx: ApiContext) -> dict[str, Any]:
    rt = runtime()
    held: list[Position] = []
    for account in tenant_accounts(rt.store, ctx.caller.tenant_id):
        docs = rt.store.container("orders").query(Query(where=[Filter("kind", "=", "position")]),
                                                  partition_key=account).items
        held += [p for p in (position_from_doc(d, account, d["symbol"]) for d in docs) if p.qty != 0]
    symbols = sorted({p.symbol for p in held})
    try:  # a market outage leaves positions unmarked rather than hiding them
        marks = {t.symbol: t.last_price for t in rt.market.tickers(symbols)} if symbols else {}
    except MarketDataError:
        marks = {}
    items = []
    for p in sorted(held, key=lambda p: (p.account_id, p.symbol)):
        mark = marks.get(p.symbol)
        items.append(PositionView(
            account_id=p.account_id, symbol=p.symbol, qty=str(p.qty), avg_cost=str(p.avg_cost),
            realized_pnl=str(p.realized_pnl), fees_paid=str(p.fees_paid), updated_at=p.updated_at,
            mark_price=None if mark is None else str(mark),
            unrealized_pnl=None if mark is None else str(unrealized_pnl(p, mark)),
            market_value=None if mark is None else str(market_value(p, mark))))
    return {"items": items}
