"""Today's realized PnL and fees, as the execution service sums them, without re-summing.

Why: the daily loss limit is checked before every order, on the ledger entries booked
since UTC midnight. The paper path (and :func:`reversed_sum`, its mirror) walks the
ledger back from the newest entry and adds in the caller's decimal context, so a busy
simulated day re-adds dozens of entries per order. :class:`DayTotal` keeps a running
sum of the same entries and returns it only when it provably *is* what that walk gives.

Why "provably": the walk adds at the context's precision (28 digits by default), and an
average cost carries 18 decimals, so a realized PnL may have 25 digits and a sum of such
may round. Rounding depends on the order of the additions, a running sum in the other
order could differ in the last digit. So the running sum is exact (100 digits, Inexact
trapped), and it is returned only when no partial sum of the walk can need more digits
than the context has (then every addition of the walk is exact and lands on the same
value and exponent). Otherwise, and under ``ROUND_FLOOR`` (where an exact zero sum is
negative), the walk itself runs.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Context, Decimal, Inexact, InvalidOperation, getcontext
from typing import Final

DAY_MS: Final = 86_400_000
#: The running sums' context: wide, and trapping instead of rounding.
_EXACT: Final = Context(prec=100, traps=[Inexact, InvalidOperation])


def reversed_sum(ledger: list[tuple[int, Decimal]], midnight_ms: int) -> Decimal:
    """The newest entries back to the first one before ``midnight_ms``, added newest first
    in the current context (``services.execution.realized_today``'s arithmetic)."""
    total = Decimal(0)
    for at_ms, amount in reversed(ledger):
        if at_ms < midnight_ms:
            break
        total += amount
    return total


class DayTotal:
    """``reversed_sum(ledger, midnight(now_ms))`` for a ledger that is only appended to.

    State: the UTC day last asked about and, over the trailing entries stamped in it, the
    exact sum, the sum of magnitudes (a bound on every partial sum), and the smallest
    exponent (the finest digit any partial sum can have).
    """

    __slots__ = ("_count", "_exact", "_exp", "_folded", "_ledger", "_midnight", "_size", "_sum")

    def __init__(self, ledger: list[tuple[int, Decimal]]) -> None:
        self._ledger = ledger
        self._midnight: int | None = None
        self._folded = 0
        self._reset()

    def _reset(self) -> None:
        self._count = 0
        self._sum = Decimal(0)
        self._size = Decimal(0)
        self._exp = 0  # the walk starts from Decimal(0), exponent 0
        self._exact = True

    def total(self, now_ms: int) -> Decimal:
        """Fees and realized PnL booked since the UTC midnight before ``now_ms``."""
        midnight = now_ms - now_ms % DAY_MS
        ledger = self._ledger
        if midnight != self._midnight or self._folded > len(ledger):
            self._restart(midnight)
        for i in range(self._folded, len(ledger)):
            self._fold(*ledger[i])
        self._folded = len(ledger)
        if not self._count:
            return Decimal(0)
        ctx = getcontext()
        if (self._exact and ctx.rounding != ROUND_FLOOR and self._size.adjusted() < ctx.prec + self._exp
                and self._size.adjusted() + ctx.prec < ctx.Emax and self._exp > ctx.Etiny()):
            return self._sum
        return reversed_sum(ledger, midnight)

    def _restart(self, midnight: int) -> None:
        """A new day (or a ledger that shrank): fold the trailing entries of that day."""
        self._midnight = midnight
        self._reset()
        ledger = self._ledger
        start = len(ledger)
        while start and ledger[start - 1][0] >= midnight:
            start -= 1
        self._folded = start

    def _fold(self, at_ms: int, amount: Decimal) -> None:
        assert self._midnight is not None
        if at_ms < self._midnight:  # the walk stops here: the day's run starts after it
            self._reset()
            return
        self._count += 1
        exponent = amount.as_tuple().exponent
        if not isinstance(exponent, int):  # NaN or infinity: leave it to the walk
            self._exact = False
            return
        self._exp = min(self._exp, exponent)
        try:
            self._sum = _EXACT.add(self._sum, amount)
            self._size = _EXACT.add(self._size, amount.copy_abs())
        except (Inexact, InvalidOperation):
            self._exact = False
