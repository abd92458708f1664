"""Which exchange an account trades on, decided from its profiles, failing closed.

An account whose profiles say ``bybit`` trades on Bybit with the configured credentials;
without credentials it gets an exchange that refuses every call (``ExchangeUnavailable``),
so its intents are retried and then dead-lettered: it never silently falls back to paper.
An account mixing exchanges is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from shared.domain.profiles import Profile
from shared.ports import (
    Exchange,
    ExchangeFill,
    ExchangeOrder,
    ExchangeUnavailable,
    Filter,
    OrderRequest,
    Query,
    Store,
)


class UnavailableExchange:
    """Every call fails with the reason; used when an account cannot be traded safely."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def _refuse(self) -> ExchangeUnavailable:
        return ExchangeUnavailable(self.reason)

    def submit(self, request: OrderRequest) -> ExchangeOrder:
        raise self._refuse()

    def get_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        raise self._refuse()

    def cancel(self, symbol: str, client_order_id: str) -> ExchangeOrder:
        raise self._refuse()

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        raise self._refuse()

    def order_history(self, symbol: str | None = None, since: datetime | None = None) -> list[ExchangeOrder]:
        raise self._refuse()

    def executions(
        self, symbol: str | None = None, since: datetime | None = None, *, client_order_id: str | None = None
    ) -> list[ExchangeFill]:
        raise self._refuse()

    def balances(self) -> dict[str, Decimal]:
        raise self._refuse()


def account_exchange(store: Store, account_id: str) -> str | None:
    """The exchange the account's profiles name; None without profiles; ``"mixed"`` if they differ."""
    docs = store.container("profiles").query(
        Query(where=[Filter("kind", "=", "profile"), Filter("accountId", "=", account_id)], limit=100)).items
    names = {Profile.from_doc(d).exchange for d in docs}
    if not names:
        return None
    return names.pop() if len(names) == 1 else "mixed"


def exchange_factory(
    store: Store, *, paper: Callable[[str], Exchange], bybit: Callable[[str], Exchange] | None
) -> Callable[[str], Exchange]:
    def build(account_id: str) -> Exchange:
        name = account_exchange(store, account_id)
        if name in (None, "paper"):
            return paper(account_id)
        if name == "bybit":
            if bybit is None:
                return UnavailableExchange("bybit", f"account {account_id} trades on Bybit but no Bybit "
                                                    "credentials are configured")
            return bybit(account_id)
        return UnavailableExchange(name or "unknown", f"account {account_id} has profiles on different exchanges")

    return build
