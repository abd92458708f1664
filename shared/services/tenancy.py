"""What belongs to a tenant: its profiles and the accounts they trade.

Orders, ledger and positions are partitioned by account, so every tenant-scoped read
first asks which accounts the caller's tenant owns (from the token's tenant, never from
the request) and refuses any other account as "not found".

That question is asked on every trading call, so ``tenant_accounts`` reads only the
profiles' ``accountId`` (no full ``Profile`` validation: that was a third of a positions
read) and is never cached: an account leaves a tenant the moment its last profile does.
A profile without a usable ``accountId`` grants no account (fail closed).
"""

from __future__ import annotations

from shared.domain.profiles import Profile
from shared.ports import Filter, NotFound, Query, Store
from shared.services.listing import all_items


def tenant_profiles(store: Store, tenant_id: str) -> list[Profile]:
    query = Query(where=[Filter("kind", "=", "profile")], limit=200)
    return [Profile.from_doc(d) for d in all_items(store.container("profiles"), query, tenant_id)]


def tenant_accounts(store: Store, tenant_id: str) -> list[str]:
    """The tenant's account ids, sorted (a stable order for merged listings)."""
    query = Query(where=[Filter("kind", "=", "profile")], limit=200)
    accounts = {d.get("accountId") for d in all_items(store.container("profiles"), query, tenant_id)}
    return sorted(a for a in accounts if isinstance(a, str) and a)


def require_account(store: Store, tenant_id: str, account_id: str) -> None:
    """``NotFound`` unless the account belongs to the tenant (no hint that it exists)."""
    if account_id not in tenant_accounts(store, tenant_id):
        raise NotFound(f"no account {account_id!r} in this tenant")


def require_profile(store: Store, tenant_id: str, profile_id: str) -> Profile:
    return Profile.from_doc(store.container("profiles").read(profile_id, tenant_id))
