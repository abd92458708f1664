"""An account is its first tenant's for good (``tenancy.claim_account``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.services.tenancy import ACCOUNTS, AccountTaken, claim_account

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def test_the_first_claim_wins_and_repeats_by_the_owner_change_nothing(tmp_path: Path):
    store = SqliteStore(tmp_path / "s.sqlite")
    claim_account(store, "t-a", "acct-1", NOW)
    first = store.container(ACCOUNTS).read("acct-1", "acct-1")
    claim_account(store, "t-a", "acct-1", NOW)
    assert store.container(ACCOUNTS).read("acct-1", "acct-1")["_etag"] == first["_etag"]
    with pytest.raises(AccountTaken) as taken:
        claim_account(store, "t-b", "acct-1", NOW)
    assert "t-a" not in str(taken.value)  # no hint of who holds it
    claim_account(store, "t-b", "acct-2", NOW)
    assert store.container(ACCOUNTS).read("acct-2", "acct-2")["tenantId"] == "t-b"
    store.close()


def test_a_claim_made_meanwhile_by_another_tenant_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The read saw no claim; another tenant created one before our create: we lose."""
    store = SqliteStore(tmp_path / "s.sqlite")
    claims = store.container(ACCOUNTS)
    real_create = claims.create

    def racing_create(item: dict[str, Any]) -> dict[str, Any]:
        real_create({"id": item["id"], "tenantId": "t-fast", "claimedAt": NOW.isoformat()})
        return real_create(item)

    monkeypatch.setattr(claims, "create", racing_create)
    with pytest.raises(AccountTaken):
        claim_account(store, "t-slow", "acct-9", NOW)
    assert store.container(ACCOUNTS).read("acct-9", "acct-9")["tenantId"] == "t-fast"
    store.close()


def test_the_demo_accounts_are_claimed_by_the_demo_tenant_when_seeded(tmp_path: Path):
    from shared.services.demo import DEMO_TENANT, PROFILES, seed_demo

    store = SqliteStore(tmp_path / "s.sqlite")
    seed_demo(store, NOW)
    for profile in PROFILES:
        assert store.container(ACCOUNTS).read(profile.account_id, profile.account_id)["tenantId"] == DEMO_TENANT
        with pytest.raises(AccountTaken):
            claim_account(store, "someone-else", profile.account_id, NOW)
    store.close()
