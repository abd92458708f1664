from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.ledger import (
    LedgerMismatch,
    balance,
    cash,
    check_invariant,
    entries_for_fill,
)
from shared.domain.positions import (
    InsufficientPosition,
    apply_fill,
    empty_position,
    market_value,
    unrealized_pnl,
)
from shared.domain.trading import Fill, LedgerEntry, Position, Side

T0 = datetime(2024, 5, 1, tzinfo=UTC)
D = Decimal


def mk_fill(n: int, side: Side, qty: str | Decimal, price: str | Decimal, fee: str | Decimal = "0",
            symbol: str = "BTCUSDT") -> Fill:
    return Fill(
        id=f"f{n}", order_id=f"o{n}", account_id="acc", symbol=symbol, side=side, price=D(price), qty=D(qty),
        fee=D(fee), fee_asset="USDT", at=T0 + timedelta(minutes=n),
    )


def deposit(amount: str, n: int = 0) -> LedgerEntry:
    return LedgerEntry(id=f"dep-{n}", account_id="acc", kind="deposit", asset="USDT", amount=D(amount), at=T0)


class Book:
    """Applies fills the way the executor will: position, then ledger entries."""

    def __init__(self, funding: str = "10000") -> None:
        self.entries: list[LedgerEntry] = [deposit(funding)]
        self.fills: list[Fill] = []
        self.positions: dict[str, Position] = {}

    def apply(self, f: Fill) -> D:
        pos = self.positions.get(f.symbol, empty_position("acc", f.symbol))
        pos, realized = apply_fill(pos, f)
        self.positions[f.symbol] = pos
        self.fills.append(f)
        self.entries.extend(entries_for_fill(f, realized, "ledger"))
        return realized

    def check(self) -> None:
        check_invariant(self.entries, self.fills, self.positions.values())


def test_buys_and_sells_with_fees_give_exact_pnl_avg_cost_and_ledger():
    book = Book()
    assert book.apply(mk_fill(1, Side.BUY, "1", "100", "0.1")) == 0
    assert book.positions["BTCUSDT"].avg_cost == D("100")
    assert book.apply(mk_fill(2, Side.BUY, "2", "103", "0.206")) == 0
    pos = book.positions["BTCUSDT"]
    assert (pos.qty, pos.avg_cost, pos.fees_paid) == (D("3"), D("102"), D("0.306"))  # fees not in avg cost
    book.check()
    assert book.apply(mk_fill(3, Side.SELL, "1.5", "110", "0.165")) == D("12.0")
    assert book.positions["BTCUSDT"].avg_cost == D("102") and book.positions["BTCUSDT"].qty == D("1.5")
    book.check()
    assert book.apply(mk_fill(4, Side.SELL, "1.5", "100", "0.15")) == D("-3.0")
    pos = book.positions["BTCUSDT"]
    assert (pos.qty, pos.avg_cost, pos.realized_pnl, pos.fees_paid) == (D(0), D(0), D("9"), D("0.621"))
    assert balance(book.entries) == D("10008.379")
    assert cash(book.entries, book.fills) == D("10008.379")
    book.check()


def test_non_terminating_average_realizes_its_rounding_residual():
    book = Book()
    book.apply(mk_fill(1, Side.BUY, "1", "100"))
    residual = book.apply(mk_fill(2, Side.BUY, "2", "101"))
    pos = book.positions["BTCUSDT"]
    assert pos.avg_cost == D("100.666666666666666667")
    assert residual == D("1E-18")
    book.check()
    realized = book.apply(mk_fill(3, Side.SELL, "3", "101"))
    assert residual + realized == D("1")  # exactly sells minus buys over the life
    book.check()


def test_unrealized_and_market_value():
    pos, _ = apply_fill(empty_position("acc", "BTCUSDT"), mk_fill(1, Side.BUY, "0.5", "60000.5"))
    assert unrealized_pnl(pos, D("61000")) == D("499.75")
    assert str(pos.avg_cost) == "60000.5" and str(pos.realized_pnl) == "0"
    assert unrealized_pnl(pos, D("60000")) == D("-0.25")
    assert market_value(pos, D("61000")) == D("30500.0")


def test_selling_more_than_held_is_a_clear_error():
    pos, _ = apply_fill(empty_position("acc", "BTCUSDT"), mk_fill(1, Side.BUY, "0.5", "100"))
    with pytest.raises(InsufficientPosition, match=r"sell of 0.6 BTCUSDT .* exceeds the position of 0.5"):
        apply_fill(pos, mk_fill(2, Side.SELL, "0.6", "100"))
    with pytest.raises(ValueError, match="position is acc/BTCUSDT"):
        apply_fill(pos, mk_fill(3, Side.BUY, "1", "1", symbol="ETHUSDT"))


def test_fill_entries_have_deterministic_ids_so_replay_cannot_double_book():
    f = mk_fill(7, Side.SELL, "1", "100", "0.1")
    first = entries_for_fill(f, D("5"), "ledger")
    again = entries_for_fill(f, D("5"), "ledger")
    assert [e.id for e in first] == [e.id for e in again] == ["ledger:f7:fee", "ledger:f7:pnl"]
    assert [(e.kind, e.amount) for e in first] == [("fee", D("-0.1")), ("realized-pnl", D("5"))]
    assert entries_for_fill(mk_fill(8, Side.BUY, "1", "100"), D(0), "ledger") == []
    with pytest.raises(LedgerMismatch, match="more than once"):
        balance([deposit("100"), *first, *again])
    assert balance({e.id: e for e in [deposit("100"), *first, *again]}.values()) == D("104.9")


def test_fee_in_another_asset_is_refused():
    f = mk_fill(1, Side.BUY, "1", "100", "0.001").model_copy(update={"fee_asset": "BTC"})
    with pytest.raises(ValueError, match="convert the fee"):
        entries_for_fill(f, D(0), "ledger", quote_asset="USDT")


def test_invariant_catches_missing_entries_fills_and_stale_positions():
    book = Book()
    book.apply(mk_fill(1, Side.BUY, "2", "100", "0.2"))
    book.apply(mk_fill(2, Side.SELL, "1", "105", "0.105"))
    book.check()
    with pytest.raises(LedgerMismatch, match="differs"):
        check_invariant(book.entries[:-1], book.fills, book.positions.values())  # pnl entry lost
    with pytest.raises(LedgerMismatch, match="differs"):
        check_invariant(book.entries, book.fills[:-1], book.positions.values())  # fill lost
    stale = book.positions["BTCUSDT"].model_copy(update={"qty": D("2")})
    with pytest.raises(LedgerMismatch, match="differs"):
        check_invariant(book.entries, book.fills, [stale])
    with pytest.raises(LedgerMismatch, match="fills counted more than once"):
        check_invariant(book.entries, [*book.fills, book.fills[0]], book.positions.values())


def test_withdrawals_and_signs():
    w = LedgerEntry(id="w1", account_id="acc", kind="withdrawal", asset="USDT", amount=D("-40"), at=T0)
    assert balance([deposit("100"), w]) == D("60")
    assert cash([deposit("100"), w], [mk_fill(1, Side.BUY, "0.5", "10", "0.01")]) == D("54.99")
    with pytest.raises(LedgerMismatch, match="wrong sign"):
        balance([deposit("-1")])
    eur = LedgerEntry(id="d2", account_id="acc", kind="deposit", asset="EUR", amount=D("1"), at=T0)
    with pytest.raises(LedgerMismatch, match="mixes assets"):
        balance([deposit("1"), eur])


def _rand_decimal(rng: random.Random, lo: int, hi: int, places: int) -> D:
    return D(rng.randint(lo * 10**places, hi * 10**places)).scaleb(-places)


@pytest.mark.parametrize("seed", range(25))
def test_random_sequences_keep_the_invariant(seed: int):
    rng = random.Random(seed)
    book = Book(funding="1000000")
    buys = {"BTCUSDT": D(0), "ETHUSDT": D(0)}
    sells = dict.fromkeys(buys, D(0))
    for n in range(60):
        symbol = rng.choice(list(buys))
        held = book.positions.get(symbol, empty_position("acc", symbol)).qty
        price = _rand_decimal(rng, 1, 70000, rng.randint(0, 8))
        fee = _rand_decimal(rng, 0, 5, rng.randint(0, 8))
        if held > 0 and rng.random() < 0.45:
            qty = held if rng.random() < 0.3 else min(held, _rand_decimal(rng, 0, 3, 6) or D("0.000001"))
            book.apply(mk_fill(n, Side.SELL, qty, price or D(1), fee, symbol))
            sells[symbol] += qty * (price or D(1))
        else:
            qty = _rand_decimal(rng, 0, 3, rng.randint(1, 8)) or D("0.1")
            book.apply(mk_fill(n, Side.BUY, qty, price or D(1), fee, symbol))
            buys[symbol] += qty * (price or D(1))
        book.check()
    for symbol, pos in book.positions.items():  # close everything: realized == sells - buys exactly
        if pos.qty:
            px = _rand_decimal(rng, 1, 70000, 2)
            book.apply(mk_fill(1000 + len(book.fills), Side.SELL, pos.qty, px, "0", symbol))
            sells[symbol] += pos.qty * px
        assert book.positions[symbol].realized_pnl == sells[symbol] - buys[symbol]
    book.check()
