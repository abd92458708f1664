"""The embedded demo: a tenant, two paper accounts, two strategies and two profiles.

Idempotent (creates only what is missing), so every devhost start may call it. The
profiles trade ``BTCUSDT`` hourly candles replayed from the shipped KuCoin file: one
with the 7-rule pipeline, one with the SMA-cross baseline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.domain.ledger import balance
from shared.domain.profiles import Profile, RiskLimits
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, StrategyVersion
from shared.domain.trading import LedgerEntry
from shared.ports import Conflict, Store
from shared.services.strategies import save_version
from shared.services.strategy_changes import ensure_head

DEMO_TENANT = "demo"
INITIAL_DEPOSIT = Decimal("10000")
QUOTE = "USDT"

#: Display names of the demo strategies (their heads say who owns them: the demo tenant).
STRATEGY_NAMES = {"demo-seven-rule": "BTC 7-rule pipeline", "demo-sma-cross": "BTC SMA 10/30 cross"}

STRATEGIES = (
    StrategyVersion(strategy_id="demo-seven-rule", version=1, params=SevenRuleParams(),
                    created_at=datetime(2024, 1, 1, tzinfo=UTC), created_by="system:demo",
                    note="defaults of the 7-rule pipeline"),
    StrategyVersion(strategy_id="demo-sma-cross", version=1, params=SmaCrossParams(),
                    created_at=datetime(2024, 1, 1, tzinfo=UTC), created_by="system:demo",
                    note="SMA 10/30 cross baseline"),
)

PROFILES = (
    Profile(id="demo-btc-seven-rule", tenant_id=DEMO_TENANT, account_id="demo-paper-1", name="BTC 7-rule (paper)",
            symbols=["BTCUSDT"], interval="1h", strategy_id="demo-seven-rule", strategy_version=1,
            risk=RiskLimits(max_position_notional=Decimal("8000"), exposure_cap_notional=Decimal("8000"))),
    Profile(id="demo-btc-sma-cross", tenant_id=DEMO_TENANT, account_id="demo-paper-2", name="BTC SMA cross (paper)",
            symbols=["BTCUSDT"], interval="1h", strategy_id="demo-sma-cross", strategy_version=1,
            risk=RiskLimits(max_position_notional=Decimal("10000"), exposure_cap_notional=Decimal("10000"),
                            daily_loss_limit=Decimal("1000"))),
)


def _create(container_name: str, store: Store, doc: dict[str, object]) -> bool:
    try:
        store.container(container_name).create(doc)
        return True
    except Conflict:
        return False


def seed_demo(store: Store, now: datetime) -> int:
    """Create the missing demo documents; returns how many were created."""
    created = 0
    for version in STRATEGIES:
        try:
            save_version(store, version)
            created += 1
        except Conflict:
            pass
        created += ensure_head(store, version, tenant_id=DEMO_TENANT, name=STRATEGY_NAMES[version.strategy_id],
                               at=now)
    for profile in PROFILES:
        doc = profile.model_copy(update={"created_at": now, "updated_at": now}).to_doc()
        created += _create("profiles", store, doc)
        created += _create("accounts", store, {"id": profile.account_id, "tenantId": DEMO_TENANT,
                                               "claimedAt": now.isoformat()})
        deposit = LedgerEntry(id="deposit:initial", account_id=profile.account_id, kind="deposit", asset=QUOTE,
                              amount=INITIAL_DEPOSIT, ref="demo", at=now)
        balance([deposit])  # validates sign and asset the way the ledger will
        created += _create("ledger", store, deposit.to_doc())
    return created
