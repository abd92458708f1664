"""Average-cost spot positions: long only, fees kept out of the cost.

Why average cost: it is what exchanges and traders quote for spot, it needs no lot
history, and with fees booked separately (``fees_paid`` and the ledger) the realized PnL
of a sell is simply ``(price - avg_cost) * qty``.

Exactness: the ledger invariant (``balance == cash + sum(qty * avg_cost)``) must hold to
the last digit, but an average cost is a quotient that may not terminate (3 units bought
for 302 cost 100.666...). So ``avg_cost`` is rounded to :data:`AVG_COST_QUANTUM` and the
tiny difference between the true cost and ``qty * avg_cost`` is realized on that buy (it
is almost always exactly zero). Over a position's life the realized total is therefore
exactly sells minus buys, and the invariant holds with no tolerance. All other arithmetic
runs under :func:`exact_arithmetic`, which raises rather than silently rounding.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, getcontext, setcontext
from types import TracebackType
from typing import Final

from shared.domain.trading import Fill, Position, Side

AVG_COST_QUANTUM: Final = Decimal("1e-18")
"""Decimal places kept in ``avg_cost``: far below any exchange tick, so the rounding
residual realized on a buy is at most ``qty * 5e-19``."""

_EXACT_PREC: Final = 100
#: The fixed wide contexts of :func:`tidy` and :func:`_average` (built once: a ``Context``
#: costs about 1 us, as much as the arithmetic). Only their flags ever change, and flags
#: never change a result.
_WIDE: Final = Context(prec=_EXACT_PREC)
_WIDE_EVEN: Final = Context(prec=_EXACT_PREC, rounding=ROUND_HALF_EVEN)
_ONE: Final = Decimal(1)


def exact_context() -> Context:
    """The current decimal context, widened so that sums and products of money are exact,
    and trapping :class:`decimal.Inexact` (and invalid operations) instead of rounding.

    For explicit arithmetic (``ctx.multiply(a, b)`` is ``a * b`` under this context)
    where entering and leaving a context per operation would cost more than the operation.
    """
    ctx = getcontext().copy()
    ctx.prec = _EXACT_PREC
    ctx.rounding = ROUND_HALF_EVEN
    ctx.traps[Inexact] = True
    ctx.traps[InvalidOperation] = True
    return ctx


class exact_arithmetic:  # used as a function: ``with exact_arithmetic() as ctx``
    """A decimal context wide enough that sums and products of money are exact, and that
    raises :class:`decimal.Inexact` if one ever is not (instead of rounding silently).

    ``decimal.localcontext`` semantics (the current context is restored on exit), as a
    plain class: a generator-based context manager cost three times as much per use."""

    __slots__ = ("_saved",)

    def __enter__(self) -> Context:
        self._saved = getcontext()
        ctx = exact_context()
        setcontext(ctx)
        return ctx

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        setcontext(self._saved)


class InsufficientPosition(ValueError):
    """A sell larger than the long position: spot cannot go short, so this is a bug or a
    drift between our records and the exchange, never something to clamp quietly."""


def empty_position(account_id: str, symbol: str) -> Position:
    return Position(account_id=account_id, symbol=symbol)


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros (``100.500000`` -> ``100.5``, ``0E-19`` -> ``0``) without turning
    integers into exponent form, so stored values read like prices."""
    normal = value.normalize(_WIDE)
    exponent = normal.as_tuple().exponent
    return normal.quantize(_ONE, context=_WIDE) if isinstance(exponent, int) and exponent > 0 else normal


def _average(cost: Decimal, qty: Decimal) -> Decimal:
    wide = _WIDE_EVEN
    return tidy(wide.divide(cost, qty).quantize(AVG_COST_QUANTUM, rounding=ROUND_HALF_EVEN, context=wide))


def apply_fill(position: Position, fill: Fill) -> tuple[Position, Decimal]:
    """Apply one fill; return the new position and the PnL this fill realized.

    A buy raises the quantity and re-averages the cost (fees excluded); it realizes only
    the rounding residual described in the module docstring. A sell realizes
    ``(price - avg_cost) * qty`` and keeps the average cost; a sell back to zero resets it.
    ``fill.fee`` is added to ``fees_paid`` (quote currency, see the ledger). Raises
    :class:`InsufficientPosition` for a sell above the held quantity and ``ValueError`` for
    a fill of another account or symbol.
    """
    if fill.account_id != position.account_id or fill.symbol != position.symbol:
        raise ValueError(
            f"fill {fill.id} is for {fill.account_id}/{fill.symbol}, "
            f"position is {position.account_id}/{position.symbol}"
        )
    return apply_trade(position, fill.side, fill.qty, fill.price, fill.fee, fill.at, fill_id=fill.id)


def apply_trade(position: Position, side: Side, qty: Decimal, price: Decimal, fee: Decimal, at: datetime | None,
                *, fill_id: str) -> tuple[Position, Decimal]:
    """:func:`apply_fill` from the fill's fields, for a caller that owns ``position`` and
    has no ``Fill`` record to build (the simulator: a validated model per fill cost more
    than the booking). Same checks on the numbers, same arithmetic, same result."""
    if qty <= 0 or price <= 0:
        raise ValueError(f"fill {fill_id} needs a positive quantity and price (got {qty} @ {price})")
    ctx = exact_context()
    held, avg_cost = position.qty, position.avg_cost
    old_cost = ctx.multiply(held, avg_cost)
    if side is Side.BUY:
        new_qty = ctx.add(held, qty)
        true_cost = ctx.add(old_cost, ctx.multiply(qty, price))
        avg = _average(true_cost, new_qty)
        realized = tidy(ctx.subtract(ctx.multiply(new_qty, avg), true_cost))
    else:
        if qty > held:
            raise InsufficientPosition(
                f"sell of {qty} {position.symbol} (fill {fill_id}) exceeds the position of {held}"
            )
        new_qty = ctx.subtract(held, qty)
        avg = avg_cost if new_qty else Decimal(0)
        realized = ctx.multiply(ctx.subtract(price, avg_cost), qty)
    updated = position.model_copy(
        update={
            "qty": new_qty,
            "avg_cost": avg,
            "realized_pnl": ctx.add(position.realized_pnl, realized),
            "fees_paid": ctx.add(position.fees_paid, fee),
            "updated_at": at,
        }
    )
    return updated, realized


def unrealized_pnl(position: Position, mark: Decimal) -> Decimal:
    """What selling everything at ``mark`` would realize, before fees."""
    with exact_arithmetic():
        return (mark - position.avg_cost) * position.qty


def market_value(position: Position, mark: Decimal) -> Decimal:
    with exact_arithmetic():
        return position.qty * mark


def cost_basis(position: Position) -> Decimal:
    """The position valued at average cost: the term the ledger invariant adds to cash."""
    with exact_arithmetic():
        return position.qty * position.avg_cost
