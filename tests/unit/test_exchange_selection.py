"""Accounts trade on the exchange their profiles name; Bybit without credentials fails closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.config import ConfigError, load_settings
from shared.domain.profiles import Profile
from shared.ports import Exchange, ExchangeUnavailable
from shared.product import product_info
from shared.services.exchanges import UnavailableExchange, exchange_factory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite")
    yield s
    s.close()


def add_profile(store: SqliteStore, pid: str, account: str, exchange: str) -> None:
    profile = Profile.model_validate({"id": pid, "tenantId": "t", "accountId": account, "name": pid,
                                      "exchange": exchange, "symbols": ["BTCUSDT"], "strategyId": "s",
                                      "strategyVersion": 1})
    store.container("profiles").create(profile.to_doc())


class Marker:
    def __init__(self, name: str) -> None:
        self.name = name


def test_paper_by_default_and_for_paper_profiles(store):
    add_profile(store, "p1", "acct-paper", "paper")
    build = exchange_factory(store, paper=lambda a: Marker("paper"), bybit=lambda a: Marker("bybit"))  # type: ignore[arg-type,return-value]
    assert build("acct-paper").name == "paper"
    assert build("acct-without-profiles").name == "paper"


def test_bybit_profiles_trade_on_bybit(store):
    add_profile(store, "p1", "acct-live", "bybit")
    build = exchange_factory(store, paper=lambda a: Marker("paper"), bybit=lambda a: Marker("bybit"))  # type: ignore[arg-type,return-value]
    assert build("acct-live").name == "bybit"


def test_bybit_without_credentials_never_falls_back_to_paper(store):
    add_profile(store, "p1", "acct-live", "bybit")
    build = exchange_factory(store, paper=lambda a: Marker("paper"), bybit=None)  # type: ignore[arg-type,return-value]
    exchange: Exchange = build("acct-live")
    assert isinstance(exchange, UnavailableExchange)
    with pytest.raises(ExchangeUnavailable, match="no Bybit credentials"):
        exchange.balances()


def test_an_account_on_two_exchanges_is_refused(store):
    add_profile(store, "p1", "acct-mixed", "bybit")
    add_profile(store, "p2", "acct-mixed", "paper")
    build = exchange_factory(store, paper=lambda a: Marker("paper"), bybit=lambda a: Marker("bybit"))  # type: ignore[arg-type,return-value]
    with pytest.raises(ExchangeUnavailable, match="different exchanges"):
        build("acct-mixed").balances()


def test_bybit_credentials_come_in_pairs_and_never_show_in_repr():
    prefix = product_info().env_var_prefix
    with pytest.raises(ConfigError, match="set together"):
        load_settings({prefix + "BYBIT_API_KEY": "k"})
    settings = load_settings({prefix + "BYBIT_API_KEY": "key-123", prefix + "BYBIT_API_SECRET": "s3cr3t-xyz"})
    assert "s3cr3t-xyz" not in repr(settings) and "key-123" not in repr(settings)
