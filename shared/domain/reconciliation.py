"""Reconciliation: our books against the exchange's, as a pure diff.

Inputs are two snapshots, ours (order records, fills, the balances our ledger and
positions imply) and the exchange's (open orders, orders it reported by client order id,
executions, balances); the output is a list of classified drifts, the plan of safe
repairs and the match ratio. No I/O and no clock: the service reads, this judges.

Drift kinds and what happens to them:

* ``missing-fill`` (safe): the exchange executed a fill of one of our orders that we
  never recorded. Repair: import it through the executor's own recording path.
* ``vanished-order`` (safe): an order we hold open is no longer open on the exchange.
  Either the exchange reports it closed (canceled, expired, rejected: record that) or it
  has no record of it at all (close it as canceled). An order the exchange does not know
  cannot fill later, and should a fill still surface, the next run imports it (a late
  fill on a canceled order is accepted, see ``shared.domain.orders.apply_fill``). A
  stale ``pending-submit`` the exchange never got is closed the same way, which also
  stops its intent from being submitted later (the cancel service does the same).
  "Vanished" versus "filled": the exchange's executions for the order are read in full
  first; fills that complete it make it a ``missing-fill`` case (it was filled), only
  the unexplained rest is "vanished".
* ``status-mismatch``: our record and the exchange's disagree in a way a fill import or
  a close does not explain. Safe only when our record merely lags (a ``pending-submit``
  the exchange has accepted: record the exchange's state, the executor's resume path);
  everything else (the exchange has open an order we recorded closed, different closed
  statuses, filled quantities that differ, fills we hold that the exchange does not) is
  unsafe. An order with any unsafe finding is not repaired at all.
* ``unknown-order`` (unsafe): an order or fill on the exchange with no record of ours
  (every submission is preceded by our record, so this is trading we did not do).
* ``balance-mismatch`` (unsafe): an asset's exchange balance differs from what our books
  imply, after counting the fills the repairs will import.

Unsafe drifts halt the affected profiles (see :func:`affected_profiles`).

In flight, not judged: a ``pending-submit`` younger than ``pending_grace``, an order
whose record or exchange state changed within ``settle``, an order with a fill younger
than ``settle``. The balances of their symbols' assets are not compared either: a writer
may be between the exchange and our store right now.

Match ratio: the compared units (orders by client order id, fills by exchange fill id,
balances by asset) without a drift over all compared units; 1.0 when nothing differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal, Protocol

from shared.domain.base import DomainModel, UtcDatetime
from shared.domain.ledger import LedgerMismatch, balance
from shared.domain.orders import TERMINAL, can_transition
from shared.domain.positions import cost_basis, exact_arithmetic
from shared.domain.profiles import Profile
from shared.domain.trading import Fill, LedgerEntry, Order, OrderStatus, Position, Side

LOOKBACK: Final = timedelta(hours=24)
SETTLE: Final = timedelta(minutes=2)
PENDING_GRACE: Final = timedelta(minutes=15)
BALANCE_TOLERANCE: Final = Decimal("0.00000001")  # exchanges report balances to 8 decimals


class DriftKind(StrEnum):
    MISSING_FILL = "missing-fill"
    UNKNOWN_ORDER = "unknown-order"
    VANISHED_ORDER = "vanished-order"
    STATUS_MISMATCH = "status-mismatch"
    BALANCE_MISMATCH = "balance-mismatch"


class _Venue(Protocol):
    @property
    def client_order_id(self) -> str: ...
    @property
    def exchange_order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def qty(self) -> Decimal: ...


class VenueOrder(_Venue, Protocol):
    """The fields of the exchange's order view the diff reads (``shared.ports.ExchangeOrder``)."""

    @property
    def status(self) -> OrderStatus: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def updated_at(self) -> datetime: ...


class VenueFill(_Venue, Protocol):
    """The fields of an execution the diff reads (``shared.ports.ExchangeFill``)."""

    @property
    def exchange_fill_id(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_asset(self) -> str: ...
    @property
    def at(self) -> datetime: ...


class Drift(DomainModel):
    """One difference. ``keys`` are the compared units it spoils (for the match ratio)."""

    kind: DriftKind
    safe: bool
    summary: str
    keys: list[str]
    order_id: str | None = None
    profile_id: str | None = None
    symbol: str | None = None
    asset: str | None = None
    details: dict[str, str] = {}
    repaired: bool = False
    note: str | None = None


class Repair(DomainModel):
    """A safe repair of one order: ``sync`` records the exchange's state (fills and
    status), ``close-vanished`` imports what fills exist and closes the rest as canceled."""

    order_id: str
    symbol: str
    action: Literal["sync", "close-vanished"]
    fill_ids: list[str] = []
    exchange_status: OrderStatus | None = None


class RunCounts(DomainModel):
    orders: int = 0
    fills: int = 0
    balances: int = 0
    in_flight: int = 0
    drifts: int = 0
    flagged: int = 0
    repaired: int = 0


RunStatus = Literal["running", "clean", "repaired", "unresolved", "halted", "failed"]


class ReconciliationRun(DomainModel):
    """One run, stored in the account's partition of ``orders`` (see the service)."""

    id: str
    kind: Literal["reconciliation-run"] = "reconciliation-run"
    account_id: str
    tenant_id: str | None = None
    instance_id: str | None = None
    request_id: str | None = None
    trigger: Literal["timer", "operator"]
    actor: str
    status: RunStatus
    started_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    window_start: UtcDatetime | None = None
    match_ratio: float | None = None
    counts: RunCounts = RunCounts()
    drifts: list[Drift] = []
    repairs: list[Repair] = []
    halted_profiles: list[str] = []
    error: str | None = None


@dataclass(frozen=True)
class DiffSettings:
    now: datetime
    settle: timedelta = SETTLE
    pending_grace: timedelta = PENDING_GRACE
    balance_tolerance: Decimal = BALANCE_TOLERANCE


@dataclass(frozen=True)
class BookState:
    """Ours: order records in scope, their fills, the balances the books imply (only the
    assets they define) and ``assets`` (symbol -> (base, quote)) for every symbol seen."""

    orders: Sequence[Order]
    fills: Sequence[Fill]
    balances: Mapping[str, Decimal]
    assets: Mapping[str, tuple[str, str]]
    balance_error: str | None = None


@dataclass(frozen=True)
class ExchangeState:
    """The exchange's: ``orders`` holds what it reported by client order id (history and
    lookups; ``None`` = looked up, it has none); ``complete`` names the orders whose
    executions were read in full (not just the lookback window)."""

    open_orders: Sequence[VenueOrder]
    orders: Mapping[str, VenueOrder | None]
    executions: Sequence[VenueFill]
    balances: Mapping[str, Decimal]
    complete: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Diff:
    drifts: tuple[Drift, ...]
    repairs: tuple[Repair, ...]
    counts: RunCounts
    match_ratio: float
    in_flight_symbols: frozenset[str] = field(default_factory=frozenset)


def order_key(client_order_id: str, exchange_order_id: str = "") -> str:
    return f"order:{client_order_id}" if client_order_id else f"order:exchange:{exchange_order_id}"


def fill_key(exchange_fill_id: str) -> str:
    return f"fill:{exchange_fill_id}"


def match_ratio(units: Iterable[str], spoiled: Iterable[str]) -> float:
    compared = set(units)
    if not compared:
        return 1.0
    return round(len(compared - set(spoiled)) / len(compared), 6)


def book_balances(entries: Sequence[LedgerEntry], positions: Sequence[Position],
                  bases: Mapping[str, str], quotes: Mapping[str, str]) -> tuple[dict[str, Decimal], str | None]:
    """What our books say the exchange should hold, and why not, if they cannot say.

    The quote asset (the ledger's) holds ``ledger balance - positions at cost`` (the
    ledger invariant); each traded symbol's base holds the position's quantity (0 with
    no position). ``bases``/``quotes`` map every tracked symbol to its assets. No ledger
    entries: the quote is not compared (nothing says what was deposited)."""
    out: dict[str, Decimal] = {symbol_base: Decimal(0) for symbol_base in bases.values()}
    for p in positions:
        if p.symbol in bases:
            out[bases[p.symbol]] = out.get(bases[p.symbol], Decimal(0)) + p.qty
    if not entries:
        return out, None
    try:
        total = balance(entries)
    except LedgerMismatch as exc:
        return out, f"the ledger is inconsistent: {exc}"
    asset = entries[0].asset
    held = [p for p in positions if p.qty != 0]
    if any(quotes.get(p.symbol) != asset for p in held):
        return out, None  # a position in another quote: the ledger cannot say what cash is left
    with exact_arithmetic():
        out[asset] = total - sum((cost_basis(p) for p in held), Decimal(0))
    return out, None


def fill_effect(fill: VenueFill, base: str, quote: str) -> dict[str, Decimal]:
    """How one execution moves the account's balances (fee in whichever asset it took)."""
    with exact_arithmetic():
        notional = fill.qty * fill.price
        sign = 1 if fill.side is Side.BUY else -1
        moves = {base: sign * fill.qty, quote: -sign * notional}
        if fill.fee:
            moves[fill.fee_asset or quote] = moves.get(fill.fee_asset or quote, Decimal(0)) - fill.fee
    return moves


class _View:
    """Both snapshots indexed by client order id."""

    def __init__(self, book: BookState, exchange: ExchangeState, settings: DiffSettings) -> None:
        self.book, self.exchange, self.settings = book, exchange, settings
        self.ours = {o.id: o for o in book.orders}
        self.our_fills: dict[str, list[Fill]] = {}
        for ours in book.fills:
            self.our_fills.setdefault(ours.order_id, []).append(ours)
        self.venue: dict[str, VenueOrder] = {k: v for k, v in exchange.orders.items() if v is not None}
        self.venue.update({o.client_order_id or order_key("", o.exchange_order_id): o for o in exchange.open_orders})
        by_id: dict[str, VenueFill] = {f.exchange_fill_id: f for f in exchange.executions}
        self.venue_fills: dict[str, list[VenueFill]] = {}
        for f in sorted(by_id.values(), key=lambda f: (f.at, f.exchange_fill_id)):
            self.venue_fills.setdefault(f.client_order_id or order_key("", f.exchange_order_id), []).append(f)
        self.cut = settings.now - settings.settle

    def in_flight(self, order: Order) -> bool:
        pending = order.status is OrderStatus.PENDING_SUBMIT
        if pending and order.created_at > self.settings.now - self.settings.pending_grace:
            return True
        if not pending and order.updated_at > self.cut:
            return True
        venue = self.venue.get(order.id)
        if venue is not None and venue.updated_at > self.cut:
            return True
        return any(f.at > self.cut for f in self.venue_fills.get(order.id, []))

    def never_sent(self, order: Order) -> bool:
        """Closed before it ever reached the exchange (refused by risk, canceled while
        pending): nothing on the exchange to compare with."""
        return (order.status in TERMINAL and order.exchange_order_id is None and order.id not in self.venue
                and not self.venue_fills.get(order.id))


def needs_lookup(book: BookState, exchange: ExchangeState, settings: DiffSettings) -> list[tuple[str, str]]:
    """(client order id, symbol) of our orders the snapshot cannot judge alone: the
    exchange did not report them, or reported other quantities or statuses. The service
    reads each one's order and full executions before the diff."""
    view = _View(book, exchange, settings)
    wanted: list[tuple[str, str]] = []
    for order in sorted(view.ours.values(), key=lambda o: o.id):
        if order.id in exchange.complete or view.in_flight(order) or view.never_sent(order):
            continue
        venue = view.venue.get(order.id)
        if venue is None or venue.filled_qty != order.filled_qty or venue.status is not order.status:
            wanted.append((order.id, order.symbol))
    return wanted


def _implied(filled: Decimal, qty: Decimal) -> OrderStatus:
    if filled == 0:
        return OrderStatus.NEW
    return OrderStatus.FILLED if filled >= qty else OrderStatus.PARTIALLY_FILLED


@dataclass
class _Judgement:
    drifts: list[Drift] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    imported: list[VenueFill] = field(default_factory=list)


def _status_problem(order: Order, venue: VenueOrder | None, after: Decimal, fills_seen: bool) -> str | None:
    """Why our record contradicts the exchange (None: consistent, or we merely lag)."""
    ours = order.status
    if venue is None:
        if ours is OrderStatus.PENDING_SUBMIT and fills_seen:
            return "the exchange has fills for an order it does not know"
        return None
    theirs = venue.status
    if after != venue.filled_qty:
        return f"filled quantity: ours {after} (after importing fills), exchange {venue.filled_qty}"
    if ours is theirs or ours is OrderStatus.PENDING_SUBMIT:
        return None
    if ours.is_open and theirs.is_open:
        return None if _implied(after, order.qty) is theirs else f"status: ours {ours}, exchange {theirs}"
    if ours.is_open and theirs in TERMINAL:
        implied = _implied(after, order.qty)
        if theirs is OrderStatus.FILLED:
            return None if implied is OrderStatus.FILLED else f"status: exchange {theirs} at {after} of {order.qty}"
        if implied is not OrderStatus.FILLED and can_transition(implied, theirs):
            return None
        return f"status: ours {ours} (filled {after} of {order.qty}), exchange {theirs}"
    return f"status: ours {ours}, exchange {theirs}"


def _drift(order: Order, kind: DriftKind, safe: bool, summary: str, keys: list[str],
           details: dict[str, str]) -> Drift:
    return Drift(kind=kind, safe=safe, summary=summary, keys=keys, order_id=order.id, profile_id=order.profile_id,
                 symbol=order.symbol, details=details)


def _judge_order(order: Order, view: _View, out: _Judgement) -> None:
    venue = view.venue.get(order.id)
    theirs = view.venue_fills.get(order.id, [])
    mine = {f.exchange_fill_id or f.id.removeprefix("fill:"): f for f in view.our_fills.get(order.id, [])}
    key = order_key(order.id)
    out.units.add(key)
    out.units.update(fill_key(f.exchange_fill_id) for f in theirs)
    complete = order.id in view.exchange.complete
    if complete:
        out.units.update(fill_key(x) for x in mine)
    missing = [f for f in theirs if f.exchange_fill_id not in mine]
    extra = sorted(set(mine) - {f.exchange_fill_id for f in theirs}) if complete else []
    after = order.filled_qty + sum((f.qty for f in missing), Decimal(0))
    problems: list[str] = []
    if extra:
        problems.append(f"fills we recorded are not on the exchange: {', '.join(extra)}")
    if after > order.qty:
        problems.append(f"fills add up to {after}, more than the order's {order.qty}")
    status_problem = _status_problem(order, venue, after, bool(theirs))
    if status_problem:
        problems.append(status_problem)
    if problems:
        out.drifts.append(_drift(
            order, DriftKind.STATUS_MISMATCH, False, f"order {order.id}: {'; '.join(problems)}",
            [key, *(fill_key(x) for x in extra), *(fill_key(f.exchange_fill_id) for f in missing)],
            {"ourStatus": order.status.value, "exchangeStatus": venue.status.value if venue else "none",
             "ourFilledQty": str(order.filled_qty), "exchangeFilledQty": str(venue.filled_qty) if venue else "unknown",
             "missingFills": ",".join(f.exchange_fill_id for f in missing)}))
        return
    for f in missing:
        out.drifts.append(_drift(
            order, DriftKind.MISSING_FILL, True,
            f"order {order.id}: fill {f.exchange_fill_id} ({f.side} {f.qty} @ {f.price}) was never recorded",
            [fill_key(f.exchange_fill_id)],
            {"fillId": f.exchange_fill_id, "qty": str(f.qty), "price": str(f.price), "fee": str(f.fee),
             "feeAsset": f.fee_asset, "at": f.at.isoformat()}))
    out.imported += missing
    implied = _implied(after, order.qty)
    action: Literal["sync", "close-vanished"] | None = "sync" if missing else None
    if venue is None and order.status.is_open and implied is not OrderStatus.FILLED:
        action = "close-vanished"
        out.drifts.append(_drift(
            order, DriftKind.VANISHED_ORDER, True,
            f"order {order.id} is {order.status} with us and unknown to the exchange: closed as canceled",
            [key], {"ourStatus": order.status.value, "exchangeStatus": "none"}))
    elif venue is None and missing:
        action = "close-vanished"  # its fills complete it: importing them is the whole repair
    elif venue is not None and order.status.is_open and venue.status in TERMINAL and venue.status is not implied:
        action = "sync"
        out.drifts.append(_drift(
            order, DriftKind.VANISHED_ORDER, True,
            f"order {order.id} is {order.status} with us and {venue.status} on the exchange",
            [key], {"ourStatus": order.status.value, "exchangeStatus": venue.status.value}))
    elif venue is not None and order.status is OrderStatus.PENDING_SUBMIT:
        action = "sync"
        out.drifts.append(_drift(
            order, DriftKind.STATUS_MISMATCH, True,
            f"order {order.id} is still pending-submit with us; the exchange has it as {venue.status}",
            [key], {"ourStatus": order.status.value, "exchangeStatus": venue.status.value}))
    if action is not None:
        out.repairs.append(Repair(order_id=order.id, symbol=order.symbol, action=action,
                                  fill_ids=[f.exchange_fill_id for f in missing],
                                  exchange_status=venue.status if venue else None))


def _judge_unknown(view: _View, out: _Judgement) -> None:
    """Orders and fills on the exchange that we have no record of."""
    cids = sorted(({k for k in view.venue} | set(view.venue_fills)) - set(view.ours))
    for cid in cids:
        venue = view.venue.get(cid)
        fills = view.venue_fills.get(cid, [])
        key = order_key(cid) if not cid.startswith("order:") else cid
        keys = [key, *(fill_key(f.exchange_fill_id) for f in fills)]
        out.units.update(keys)
        symbol = venue.symbol if venue else fills[0].symbol
        details = {"clientOrderId": "" if cid.startswith("order:") else cid,
                   "exchangeOrderId": venue.exchange_order_id if venue else fills[0].exchange_order_id,
                   "status": venue.status.value if venue else "unknown",
                   "side": (venue.side if venue else fills[0].side).value,
                   "qty": str(venue.qty) if venue else "unknown",
                   "filledQty": str(venue.filled_qty if venue else sum((f.qty for f in fills), Decimal(0))),
                   "fills": ",".join(f.exchange_fill_id for f in fills)}
        out.drifts.append(Drift(
            kind=DriftKind.UNKNOWN_ORDER, safe=False, keys=keys, symbol=symbol, details=details,
            summary=f"the exchange has {details['status']} order "
                    f"{details['clientOrderId'] or details['exchangeOrderId']} on {symbol} that we never placed"))


def _judge_balances(view: _View, out: _Judgement, skip: set[str]) -> None:
    expected = dict(view.book.balances)
    for f in out.imported:  # the repairs will book these: the balances already include them
        pair = view.book.assets.get(f.symbol)
        if pair is None:
            continue
        for asset, delta in fill_effect(f, *pair).items():
            if asset in expected:
                with exact_arithmetic():
                    expected[asset] += delta
    tolerance = view.settings.balance_tolerance
    for asset in sorted(expected):
        if asset in skip:
            continue
        key = f"balance:{asset}"
        out.units.add(key)
        actual = view.exchange.balances.get(asset, Decimal(0))
        with exact_arithmetic():
            gap = actual - expected[asset]
        if abs(gap) > tolerance:
            out.drifts.append(Drift(
                kind=DriftKind.BALANCE_MISMATCH, safe=False, keys=[key], asset=asset,
                summary=f"{asset} balance: exchange {actual}, our books {expected[asset]} (difference {gap})",
                details={"exchange": str(actual), "books": str(expected[asset]), "difference": str(gap)}))
    if view.book.balance_error:
        out.units.add("balance:ledger")
        out.drifts.append(Drift(kind=DriftKind.BALANCE_MISMATCH, safe=False, keys=["balance:ledger"],
                                summary=view.book.balance_error, details={}))


def diff(book: BookState, exchange: ExchangeState, settings: DiffSettings) -> Diff:
    """Classify every difference between the two snapshots; see the module docstring."""
    view = _View(book, exchange, settings)
    out = _Judgement()
    in_flight: set[str] = set()
    for order in sorted(view.ours.values(), key=lambda o: o.id):
        if view.never_sent(order):
            continue
        if view.in_flight(order):
            in_flight.add(order.symbol)
            continue
        venue = view.venue.get(order.id)
        if order.status in TERMINAL and venue is None and not view.venue_fills.get(order.id):
            continue  # closed with us and beyond the exchange's memory: nothing to compare
        _judge_order(order, view, out)
    _judge_unknown(view, out)
    skip = {asset for symbol in in_flight for asset in book.assets.get(symbol, ())}
    _judge_balances(view, out, skip)
    spoiled = {k for d in out.drifts for k in d.keys}
    flagged = sum(1 for d in out.drifts if not d.safe)
    counts = RunCounts(
        orders=sum(1 for u in out.units if u.startswith("order:")),
        fills=sum(1 for u in out.units if u.startswith("fill:")),
        balances=sum(1 for u in out.units if u.startswith("balance:")),
        in_flight=sum(1 for o in view.ours.values() if not view.never_sent(o) and view.in_flight(o)),
        drifts=len(out.drifts), flagged=flagged)
    return Diff(tuple(out.drifts), tuple(out.repairs), counts, match_ratio(out.units, spoiled), frozenset(in_flight))


def affected_profiles(drift: Drift, profiles: Sequence[Profile]) -> list[str]:
    """Which of the account's profiles an unsafe drift halts: the order's own profile and
    every profile trading its symbol; a balance drift (money none of them explains), or a
    drift no profile trades, halts them all. Positions and balances are per account, so
    any profile on the symbol would act on the wrong numbers."""
    chosen = {p.id for p in profiles if drift.symbol is not None and drift.symbol in p.symbols}
    if drift.profile_id and any(p.id == drift.profile_id for p in profiles):
        chosen.add(drift.profile_id)
    if drift.kind is DriftKind.BALANCE_MISMATCH or not chosen:
        chosen = {p.id for p in profiles}
    return sorted(chosen)
