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

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import Final

from shared.domain.trading import Fill, Position, Side

AVG_COST_QUANTUM: Final = Decimal("1e-18")
"""Decimal places kept in ``avg_cost``: far below any exchange tick, so the rounding
residual realized on a buy is at most ``qty * 5e-19``."""

_EXACT_PREC: Final = 100


@contextmanager
def exact_arithmetic() -> Iterator[Context]:
    """A decimal context wide enough that sums and products of money are exact, and that
    raises :class:`decimal.Inexact` if one ever is not (instead of rounding silently)."""
    with localcontext() as ctx:
        ctx.prec = _EXACT_PREC
        ctx.rounding = ROUND_HALF_EVEN
        ctx.traps[Inexact] = True
        ctx.traps[InvalidOperation] = True
        yield ctx


class InsufficientPosition(ValueError):
    """A sell larger than the long position: spot cannot go short, so this is a bug or a
    drift between our records and the exchange, never something to clamp quietly."""


def empty_position(account_id: str, symbol: str) -> Position:
    return Position(account_id=account_id, symbol=symbol)


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros (``100.500000`` -> ``100.5``, ``0E-19`` -> ``0``) without turning
    integers into exponent form, so stored values read like prices."""
    wide = Context(prec=_EXACT_PREC)
    normal = value.normalize(wide)
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1), context=wide) if isinstance(exponent, int) and exponent > 0 else normal


def _average(cost: Decimal, qty: Decimal) -> Decimal:
    wide = Context(prec=_EXACT_PREC, rounding=ROUND_HALF_EVEN)
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
    if fill.qty <= 0 or fill.price <= 0:
        raise ValueError(f"fill {fill.id} needs a positive quantity and price (got {fill.qty} @ {fill.price})")
    with exact_arithmetic():
        old_cost = position.qty * position.avg_cost
        if fill.side is Side.BUY:
            qty = position.qty + fill.qty
            true_cost = old_cost + fill.qty * fill.price
            avg = _average(true_cost, qty)
            realized = tidy(qty * avg - true_cost)
        else:
            if fill.qty > position.qty:
                raise InsufficientPosition(
                    f"sell of {fill.qty} {fill.symbol} (fill {fill.id}) exceeds the position of {position.qty}"
                )
            qty = position.qty - fill.qty
            avg = position.avg_cost if qty else Decimal(0)
            realized = (fill.price - position.avg_cost) * fill.qty
        updated = position.model_copy(
            update={
                "qty": qty,
                "avg_cost": avg,
                "realized_pnl": position.realized_pnl + realized,
                "fees_paid": position.fees_paid + fill.fee,
                "updated_at": fill.at,
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
