"""Strategy profiles: what to trade, with which strategy version and which risk limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from shared.domain.base import DomainModel, Money, UtcDatetime
from shared.domain.market import Interval


class RiskLimits(DomainModel):
    max_position_notional: Money = Decimal("10000")
    exposure_cap_notional: Money = Decimal("10000")
    max_open_orders: int = Field(default=5, ge=0)
    daily_loss_limit: Money = Decimal("500")
    risk_per_trade_pct: Money = Decimal("1")
    halt_cooldown_minutes: int = Field(default=60, ge=0)


class Profile(DomainModel):
    id: str
    kind: Literal["profile"] = "profile"
    tenant_id: str
    account_id: str
    name: str
    exchange: Literal["paper", "bybit"] = "paper"
    mode: Literal["paper", "live"] = "paper"
    symbols: list[str] = Field(min_length=1)
    interval: Interval = "1m"
    strategy_id: str
    strategy_version: int = Field(ge=1)
    risk: RiskLimits = RiskLimits()
    enabled: bool = True
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    @field_validator("symbols")
    @classmethod
    def _upper(cls, symbols: list[str]) -> list[str]:
        cleaned = [s.strip().upper() for s in symbols]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("symbols must be unique")
        return cleaned
