"""What belongs to a tenant: its profiles and the accounts they trade.

Orders, ledger and positions are partitioned by account, so every tenant-scoped read
first asks which accounts the caller's tenant owns (from the token's tenant, never from
the request) and refuses any other account as "not found".

That question is asked on every trading call, so ``tenant_accounts`` reads only the
profiles' ``accountId`` (no full ``Profile`` validation: that was a third of a positions
read). It keeps no answer of its own: an account leaves a tenant the moment its last
profile does. (The embedded store may answer the query from its read cache, which is
exact: dropped the moment anything commits to the file, see ``sqlite_read_cache``.)
A profile without a usable ``accountId`` grants no account (fail closed).

Why an account is also *claimed*, for good: the profiles say which accounts a tenant
sees, but an account's history (orders, positions, ledger, the paper balance) stays in
its partitions after its last profile is deleted. Were the account then free, another
tenant could name it in a profile of its own and see, and trade on, that history. So the
first profile naming an account claims it for its tenant (a document in ``accounts``,
created only if absent, so two tenants racing for a new account cannot both win), and
a claim is never released. Accounts named by profiles written before claims existed are
still guarded by the profile check in the profiles API.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.profiles import Profile
from shared.ports import Conflict, Filter, NotFound, Query, Store
from shared.services.listing import all_items

ACCOUNTS = "accounts"


class AccountTaken(Exception):
    """The account belongs to another tenant (the message names no tenant)."""


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


def claim_account(store: Store, tenant_id: str, account_id: str, now: datetime) -> None:
    """Bind ``account_id`` to ``tenant_id`` for good; ``AccountTaken`` if another tenant
    holds it. Claiming an account the tenant already holds changes nothing."""
    claims = store.container(ACCOUNTS)
    try:
        owner = claims.read(account_id, account_id).get("tenantId")
    except NotFound:
        try:
            claims.create({"id": account_id, "tenantId": tenant_id, "claimedAt": now.isoformat()})
            return
        except Conflict:  # another writer claimed it meanwhile: whose is it?
            owner = claims.read(account_id, account_id).get("tenantId")
    if owner != tenant_id:
        raise AccountTaken(f"account {account_id!r} belongs to another tenant")
