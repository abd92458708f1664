"""Decisions: one per tick, with every rule's verdict, so each trade can be explained."""

from __future__ import annotations

from typing import Literal

from shared.domain.base import DomainModel, UtcDatetime
from shared.domain.trading import OrderIntent

VerdictOutcome = Literal["pass", "block", "neutral"]
Direction = Literal["long", "short", "flat"]
Action = Literal["buy", "sell", "hold", "blocked"]
VerdictValue = float | int | str | bool | None


class RuleVerdict(DomainModel):
    """A rule's answer: ``block`` stops the trade and ``reason`` says why in plain words;
    ``values`` are the numbers the rule looked at."""

    rule: str
    outcome: VerdictOutcome
    direction: Direction | None = None
    reason: str
    values: dict[str, VerdictValue] = {}


class Decision(DomainModel):
    id: str
    kind: Literal["decision"] = "decision"
    tenant_id: str
    profile_id: str
    account_id: str
    symbol: str
    interval: str
    candle_time: UtcDatetime
    strategy_id: str
    strategy_version: int
    action: Action
    blocked_by: str | None = None
    verdicts: list[RuleVerdict]
    candles_hash: str
    intent_id: str | None = None
    intent: OrderIntent | None = None  # kept so a redelivered tick re-sends exactly this intent
    request_id: str | None = None
    created_at: UtcDatetime
