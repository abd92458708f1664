"""The simulated account: what paper trading does with an order, without a store.

Why a mirror and not the paper exchange itself: the domain core does no I/O, and the
paper exchange keeps its book in the store. So this module re-does the *orchestration*
of ``services.execution`` and ``adapters.paper_exchange`` in memory, in the same order,
while every decision inside it is made by the shared domain code:

1. the halt re-check at execution (an automatic halt from the daily loss limit, with its
   cooldown; operator halts do not exist in a simulation);
2. the pre-trade risk checks: :func:`shared.domain.risk.check_order` (on the intent's
   fields, :func:`~shared.domain.risk.check_order_values`), with the reference
   price the replay ticker gives (the forming bar's open, else the last close, rounded to
   the tick), the free balances, the booked position, the other open orders and the PnL
   realized since UTC midnight;
3. the paper exchange's own refusals: minimum notional and balance at its slipped price
   estimate (``fill_model.slipped_price``), less what other open orders reserve;
4. the fill: :func:`shared.domain.fill_model.fill_on_bar` on the forming bar at once, and
   any remainder (participation cap) on the following bars at their opens;
5. the booking: :func:`shared.domain.positions.apply_fill` (on the fill's fields,
   :func:`~shared.domain.positions.apply_trade`: average cost, realized PnL) and the
   ledger's fee and realized-PnL entries, whose sum since midnight feeds the daily loss
   limit (kept as a running sum, :mod:`.daily`).

Decimal contexts follow the paper path: the exchange's arithmetic runs at 40 digits, the
rest in the caller's (default) context.

One known difference: after a partial fill, paper trading's next tick reads the position
record before the account sync books the remainder's fills (balances are already fresh).
Here the position is booked when the fill happens. With no participation cap binding the
two are identical (the parity test runs that way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from typing import Final, Literal

from shared.domain.candles import CandleSeries, from_ms
from shared.domain.fill_model import (
    Bar,
    FillModelConfig,
    ModelFill,
    WorkingOrder,
    fill_cost,
    fill_on_bar,
    market_price,
    slipped_price,
)
from shared.domain.market import Instrument
from shared.domain.positions import apply_trade
from shared.domain.profiles import RiskLimits
from shared.domain.risk import check_order_values, round_qty
from shared.domain.trading import OrderType, Position, Side

from .daily import DayTotal

ACCOUNT: Final = "simulation"
_EXCHANGE: Final = Context(prec=40)  # the paper exchange's context (adapters.paper_exchange)

OrderStatusName = Literal["rejected", "canceled", "new", "partially-filled", "filled"]


@dataclass(frozen=True, slots=True)
class SimFill:
    """One fill: on bar ``bar`` (its open price, slipped), booked at ``at_ms``."""

    order_no: int
    decision_bar: int
    bar: int
    at_ms: int
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized: Decimal


@dataclass(slots=True)
class SimOrder:
    """An order the simulation sent; ``reason`` says why it was refused or canceled."""

    no: int
    decision_bar: int
    created_ms: int
    side: Side
    qty: Decimal
    status: OrderStatusName = "new"
    filled: Decimal = Decimal(0)
    reason: str = ""
    check: str | None = None
    next_bar: int = 0
    reserve_price: Decimal = Decimal(0)
    reserve_fee_rate: Decimal = Decimal(0)

    @property
    def open(self) -> bool:
        return self.status in ("new", "partially-filled")


@dataclass
class SimAccount:
    """Balances (the paper exchange's), the booked position, open orders and the ledger
    entries that count toward today's loss, for one symbol."""

    instrument: Instrument
    limits: RiskLimits
    fill_config: FillModelConfig
    series: CandleSeries
    interval_ms: int
    end: int
    initial_quote: Decimal
    quote: Decimal = field(init=False)
    base: Decimal = Decimal(0)
    position: Position = field(init=False)
    orders: list[SimOrder] = field(default_factory=list)
    open_orders: list[SimOrder] = field(default_factory=list)
    fills: list[SimFill] = field(default_factory=list)
    ledger: list[tuple[int, Decimal]] = field(default_factory=list)
    halted_until_ms: int | None = None
    halts: int = 0
    #: (bar, quote, base) after every fill: the equity curve is rebuilt from these.
    changes: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.quote = self.initial_quote
        self.position = Position(account_id=ACCOUNT, symbol=self.instrument.symbol)
        self._today = DayTotal(self.ledger)

    # ----------------------------------------------------------------- what a tick reads

    @property
    def holding(self) -> bool:
        """The rules' exit mode: at least one lot held (``TickInput.holding``)."""
        return self.position.qty > 0 and round_qty(self.position.qty, self.instrument) > 0

    def tick_equity(self, close: float) -> Decimal:
        """The equity the tick hands the rules: free quote plus the position at the close."""
        return self.quote + self.position.qty * Decimal(repr(close))

    def halted(self, now_ms: int) -> bool:
        """An automatic halt blocks until its ``until`` (``services.halts``: ``until > now``)."""
        return self.halted_until_ms is not None and self.halted_until_ms > now_ms

    # ----------------------------------------------------------------- execution

    def submit(self, side: Side, qty: Decimal, decision_bar: int, now_ms: int) -> SimOrder:
        """An intent from the tick at ``now_ms`` (the decision bar's close), executed at
        once as the replay does: checks, then the order on the forming bar."""
        if not qty > 0:  # what validating the market intent (``OrderIntent``) would refuse
            raise ValueError("qty must be positive")
        order = SimOrder(len(self.orders) + 1, decision_bar, now_ms, side, qty)
        self.orders.append(order)
        if self.halted(now_ms):
            return self._refuse(order, "halted: automatic halt (daily loss limit)", "halt")
        ref = self._forming_bar(decision_bar, now_ms)
        price = self._ticker_price(decision_bar, ref)
        # check_order on the intent's fields: the intent record itself is never stored here
        denial = check_order_values(self.instrument.symbol, side, OrderType.MARKET, qty, None,
                                    instrument=self.instrument, price=price, balances=self._balances(),
                                    position=self.position, open_orders=len(self.open_orders), limits=self.limits,
                                    realized_today=self.realized_today(now_ms),
                                    open_buy_notional=self._open_buy_notional(price))
        if denial is not None:
            if denial.check == "daily-loss-limit":
                self.halted_until_ms = now_ms + self.limits.halt_cooldown_minutes * 60_000
                self.halts += 1
            return self._refuse(order, f"risk check {denial.check}: {denial.reason}", denial.check)
        with localcontext(_EXCHANGE):
            return self._exchange_submit(order, ref, price, now_ms)

    def _exchange_submit(self, order: SimOrder, ref: int | None, ticker: Decimal, now_ms: int) -> SimOrder:
        """``PaperExchange._commit_new``: estimate, minimum notional, balance, then the
        immediate match on the forming bar."""
        ins, cfg = self.instrument, self.fill_config
        # the exchange's reference is the forming bar's open, else the ticker's last price;
        # the ticker's price already is that open (``market_price`` of the same float) when
        # a bar is forming, so it is not rounded a second time
        reference = ticker
        estimate = slipped_price(order.side, reference, ins.tick_size, cfg.slippage_bps)
        if order.qty * estimate < ins.min_notional:
            return self._refuse(order, f"exchange: notional {order.qty * estimate} is below the minimum "
                                f"{ins.min_notional}", "exchange-min-notional")
        free = self._free(order)
        need = order.qty * estimate * (1 + cfg.taker_fee_rate) if order.side is Side.BUY else order.qty
        if need > free:
            return self._refuse(order, f"exchange: needs {need}, {free} available", "exchange-balance")
        order.reserve_price, order.reserve_fee_rate = estimate, cfg.taker_fee_rate
        order.next_bar = ref + 1 if ref is not None else order.decision_bar + 1
        self.open_orders.append(order)
        if ref is not None:
            self._match(order, ref, now_ms)
        return order

    def match_through(self, bar: int) -> None:
        """Lazy matching of the open orders on closed bar ``bar`` (oldest order first),
        each fill stamped with the bar's close, as the paper exchange's sync does."""
        if bar >= self.end:
            return
        closes_at = int(self.series.open_time[bar]) + self.interval_ms
        with localcontext(_EXCHANGE):
            for order in list(self.open_orders):
                if order.open and order.next_bar <= bar:
                    self._match(order, bar, closes_at)
                    order.next_bar = bar + 1

    def _match(self, order: SimOrder, bar: int, at_ms: int) -> None:
        work = WorkingOrder(order.side, OrderType.MARKET, order.qty - order.filled)
        candle = Bar.at(self.series, bar)
        free = self._free(order)
        ins, cfg = self.instrument, self.fill_config
        if order.side is Side.BUY:
            fill = fill_on_bar(work, candle, ins, cfg, quote_budget=free)
        else:
            fill = fill_on_bar(work, candle, ins, cfg, max_qty=free)
        if fill is None:
            if fill_on_bar(work, candle, ins, cfg) is not None:
                order.status, order.reason = "canceled", "insufficient balance for the remainder"
                self._close(order)
            return
        self._book(order, fill, bar, max(at_ms, order.created_ms))

    def _book(self, order: SimOrder, fill: ModelFill, bar: int, at_ms: int) -> None:
        order.filled += fill.qty
        order.status = "filled" if order.filled >= order.qty else "partially-filled"
        order.reserve_price = fill.price
        d_base, d_quote = fill_cost(order.side, fill)
        self.base += d_base
        self.quote += d_quote
        if not order.open:
            self._close(order)
        # apply_fill on the fill's fields (the Fill record is never stored here)
        self.position, realized = apply_trade(self.position, order.side, fill.qty, fill.price, fill.fee,
                                              from_ms(at_ms), fill_id=f"sim-fill-{len(self.fills) + 1}")
        for amount in (-fill.fee, realized):
            if amount != 0:
                self.ledger.append((at_ms, amount))
        self.fills.append(SimFill(order.no, order.decision_bar, bar, at_ms, order.side, fill.qty, fill.price,
                                  fill.fee, realized))
        self.changes.append((bar, self.quote, self.base))

    # ----------------------------------------------------------------- helpers

    def realized_today(self, now_ms: int) -> Decimal:
        """Fees and realized PnL booked since UTC midnight (``execution.realized_today``),
        kept as a running sum (:class:`.daily.DayTotal`: the same Decimal as re-adding)."""
        return self._today.total(now_ms)

    def _refuse(self, order: SimOrder, reason: str, check: str) -> SimOrder:
        order.status, order.reason, order.check = "rejected", reason, check
        return order

    def _close(self, order: SimOrder) -> None:
        if order in self.open_orders:
            self.open_orders.remove(order)

    def _balances(self) -> dict[str, Decimal]:
        return {self.instrument.quote: self.quote, self.instrument.base: self.base}

    def _free(self, order: SimOrder) -> Decimal:
        """The balance ``order`` may use: total minus what the other open orders reserve
        (``PaperExchange._free``)."""
        buy = order.side is Side.BUY
        locked = Decimal(0)
        for other in self.open_orders:
            if other is order or not other.open or (other.side is Side.BUY) != buy:
                continue
            remaining = other.qty - other.filled
            locked += remaining * other.reserve_price * (1 + other.reserve_fee_rate) if buy else remaining
        return (self.quote if buy else self.base) - locked

    def _open_buy_notional(self, price: Decimal) -> Decimal:
        """Resting buys at their full quantity (what ``execution`` counts for the exposure cap)."""
        return sum((o.qty * price for o in self.open_orders if o.side is Side.BUY), Decimal(0))

    def _forming_bar(self, decision_bar: int, now_ms: int) -> int | None:
        """The bar forming at ``now_ms`` (the replay feed's ``forming_bar``), if any."""
        nxt = decision_bar + 1
        if nxt < self.end and int(self.series.open_time[nxt]) == now_ms:
            return nxt
        return None

    def _ticker_price(self, decision_bar: int, ref: int | None) -> Decimal:
        """The replay ticker's last price: the forming bar's open, else the last close."""
        tick = self.instrument.tick_size
        if ref is not None:
            return market_price(float(self.series.open[ref]), tick)
        return market_price(float(self.series.close[decision_bar]), tick)
