"""The capital ledger: append-only entries in the quote currency, and the invariant
that ties them to fills and positions.

Signs: deposit ``+``, withdrawal ``-``, fee ``-`` (a maker rebate is a positive fee
entry), realized-pnl ``+``/``-``. The balance is the plain sum of entries. Independently,
cash is what the deposits, withdrawals and fills imply::

    cash = deposits - withdrawals - sum(buy notional) + sum(sell notional) - sum(fees)

and the books are right only when ``balance == cash + sum(position.qty * avg_cost)``,
to the last digit. :func:`check_invariant` enforces that; any missing, duplicated or
mis-signed entry, lost fill or stale position shows up as a :class:`LedgerMismatch`.

Fees are booked in the quote currency. Bybit spot charges a buy's fee in the base coin;
the adapter must convert such a fee to quote before it reaches here, and
:func:`entries_for_fill` refuses a fee in another asset rather than mixing currencies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from shared.domain.positions import cost_basis, exact_arithmetic
from shared.domain.trading import Fill, LedgerEntry, Position, Side

FUNDING_KINDS = frozenset({"deposit", "withdrawal"})


class LedgerMismatch(Exception):
    """The ledger disagrees with itself, the fills or the positions."""


def entry_ids_for_fill(fill: Fill, entry_id_prefix: str) -> tuple[str, str]:
    """The fee and realized-pnl entry ids of a fill: derived from the fill id alone, so
    booking a replayed fill produces the same ids and the store's unique id refuses it."""
    return f"{entry_id_prefix}:{fill.id}:fee", f"{entry_id_prefix}:{fill.id}:pnl"


def entries_for_fill(
    fill: Fill, realized: Decimal, entry_id_prefix: str, *, quote_asset: str | None = None
) -> list[LedgerEntry]:
    """The ledger entries one fill books: its fee (negated) and the PnL it realized, each
    only when non-zero. ``quote_asset`` defaults to the fee asset; a non-zero fee in any
    other asset raises ``ValueError`` (convert it first, see the module docstring)."""
    asset = quote_asset or fill.fee_asset
    if fill.fee != 0 and fill.fee_asset != asset:
        raise ValueError(
            f"fill {fill.id} charged its fee in {fill.fee_asset}; the ledger books {asset}: convert the fee first"
        )
    fee_id, pnl_id = entry_ids_for_fill(fill, entry_id_prefix)
    entries: list[LedgerEntry] = []
    if fill.fee != 0:
        entries.append(
            LedgerEntry(
                id=fee_id, account_id=fill.account_id, kind="fee", asset=asset,
                amount=-fill.fee, ref=fill.id, at=fill.at,
            )
        )
    if realized != 0:
        entries.append(
            LedgerEntry(
                id=pnl_id, account_id=fill.account_id, kind="realized-pnl", asset=asset,
                amount=realized, ref=fill.id, at=fill.at,
            )
        )
    return entries


def _check_entries(entries: list[LedgerEntry]) -> None:
    dupes = sorted(i for i, n in Counter(e.id for e in entries).items() if n > 1)
    if dupes:
        raise LedgerMismatch(f"ledger entries booked more than once: {dupes}")
    assets = sorted({e.asset for e in entries})
    if len(assets) > 1:
        raise LedgerMismatch(f"one ledger mixes assets {assets}; a balance across them means nothing")
    for e in entries:
        if (e.kind == "deposit" and e.amount <= 0) or (e.kind == "withdrawal" and e.amount >= 0):
            raise LedgerMismatch(f"{e.kind} entry {e.id} has the wrong sign: {e.amount}")


def balance(entries: Iterable[LedgerEntry]) -> Decimal:
    """The sum of all entries. Raises :class:`LedgerMismatch` on a repeated entry id (a
    double-booked fill), mixed assets, or a deposit/withdrawal with the wrong sign."""
    items = list(entries)
    _check_entries(items)
    with exact_arithmetic():
        return sum((e.amount for e in items), Decimal(0))


def _fill_cash(fill: Fill) -> Decimal:
    notional = fill.qty * fill.price
    return (notional if fill.side is Side.SELL else -notional) - fill.fee


def cash(funding: Iterable[LedgerEntry], fills: Iterable[Fill]) -> Decimal:
    """Cash implied by deposits and withdrawals (entries of other kinds are ignored, so the
    whole ledger may be passed) and by the fills: sells add notional, buys and fees take."""
    with exact_arithmetic():
        moved = sum((e.amount for e in funding if e.kind in FUNDING_KINDS), Decimal(0))
        return moved + sum((_fill_cash(f) for f in fills), Decimal(0))


def check_invariant(entries: Iterable[LedgerEntry], fills: Iterable[Fill], positions: Iterable[Position]) -> None:
    """Raise :class:`LedgerMismatch` unless ``balance == cash + sum(qty * avg_cost)`` exactly.

    ``fills`` must be every fill of the account (each once) and ``positions`` every
    position they built; a fill id seen twice is itself a mismatch."""
    items, fill_list, pos_list = list(entries), list(fills), list(positions)
    dupes = sorted(i for i, n in Counter(f.id for f in fill_list).items() if n > 1)
    if dupes:
        raise LedgerMismatch(f"fills counted more than once: {dupes}")
    booked = balance(items)
    implied = cash(items, fill_list)
    with exact_arithmetic():
        held = sum((cost_basis(p) for p in pos_list), Decimal(0))
        expected = implied + held
        if booked != expected:
            raise LedgerMismatch(
                f"ledger balance {booked} differs from cash {implied} plus positions at cost {held} "
                f"(= {expected}) by {booked - expected}"
            )
