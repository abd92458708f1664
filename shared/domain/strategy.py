"""Versioned strategy parameters: what a Decision was computed with, and its hash.

Why versioned and hashed: a Decision names ``strategy_id`` and ``strategy_version``, an
AI proposal is a new version, and the simulator compares two versions. A version is
immutable once written, and :func:`params_hash` (SHA-256 of canonical JSON) lets stored
indicator values, simulations and decisions prove which exact settings they used.

Two strategies exist: the 7-rule pipeline (``kind = "seven-rule"``) and a plain SMA cross
(``kind = "sma-cross"``), the baseline every candidate is measured against.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from shared.domain.base import DomainModel, UtcDatetime
from shared.domain.indicators._checks import MAX_PERIOD

#: Extra bars beyond the longest lookback. Why: TA-Lib seeds the EMA (and Wilder's RSI
#: and ATR) from the first bars of the window, so the first values still carry that seed;
#: a margin lets them settle before the first decision is allowed.
WARMUP_MARGIN: Final = 50

Period = Annotated[int, Field(ge=1, le=MAX_PERIOD)]
Multiple = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SevenRuleParams(DomainModel):
    """Settings of the 7-rule pipeline (trend, session, zone, momentum, trigger, risk, AI).

    Session hours are UTC ``[start, end)`` pairs in whole hours; a pair with
    ``start > end`` wraps midnight (``[22, 6]`` is 22:00-06:00). Weekdays are Python's
    (0 = Monday). Both lists are stored sorted, so equal settings hash equal.
    """

    kind: Literal["seven-rule"] = "seven-rule"
    ema_fast: Period = 50
    ema_slow: Period = 200
    session_hours_utc: list[tuple[int, int]] = Field(default_factory=lambda: [(0, 24)], min_length=1)
    session_weekdays: list[int] = Field(default_factory=lambda: list(range(7)), min_length=1)
    zone_lookback: Period = 100
    zone_min_room_atr: Multiple = 1.0
    rsi_period: Annotated[int, Field(ge=2, le=MAX_PERIOD)] = 14
    rsi_min: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 45
    rsi_max: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 70
    trigger_ema: Period = 20
    atr_period: Period = 14
    stop_atr_mult: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.0
    exit_atr_mult: Multiple = 1.0
    ai_enabled: bool = False
    ai_timeout_ms: Annotated[int, Field(ge=1, le=60_000)] = 1500

    @field_validator("session_hours_utc")
    @classmethod
    def _hours(cls, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for start, end in pairs:
            if not (0 <= start <= 23 and 1 <= end <= 24):
                raise ValueError(f"session hours must be in 0..24 with start <= 23 and end >= 1, got [{start}, {end}]")
            if start == end:
                raise ValueError(f"session [{start}, {end}] is empty")
        return sorted(pairs)

    @field_validator("session_weekdays")
    @classmethod
    def _weekdays(cls, days: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in days):
            raise ValueError(f"weekdays must be 0 (Monday) .. 6 (Sunday), got {days}")
        if len(set(days)) != len(days):
            raise ValueError(f"weekdays must be unique, got {days}")
        return sorted(days)

    @model_validator(mode="after")
    def _ordered(self) -> SevenRuleParams:
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast ({self.ema_fast}) must be shorter than ema_slow ({self.ema_slow})")
        if self.rsi_min >= self.rsi_max:
            raise ValueError(f"rsi_min ({self.rsi_min}) must be below rsi_max ({self.rsi_max})")
        return self


class SmaCrossParams(DomainModel):
    """The baseline: buy when SMA(fast) crosses above SMA(slow), sell on the cross below."""

    kind: Literal["sma-cross"] = "sma-cross"
    fast: Period = 10
    slow: Period = 30

    @model_validator(mode="after")
    def _ordered(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


StrategyParams = Annotated[SevenRuleParams | SmaCrossParams, Field(discriminator="kind")]


class StrategyVersion(DomainModel):
    """One immutable version of a strategy's parameters (a change is a new version)."""

    strategy_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    params: StrategyParams
    created_at: UtcDatetime
    created_by: str = Field(min_length=1)
    note: str = ""

    @property
    def doc_id(self) -> str:
        """A stable document id for the store: ``<strategy_id>:v<version>``."""
        return f"{self.strategy_id}:v{self.version}"


def canonical_json(params: SevenRuleParams | SmaCrossParams) -> str:
    """The params as camelCase JSON with sorted keys and no whitespace (the hashed text)."""
    return json.dumps(params.to_doc(), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def params_hash(params: SevenRuleParams | SmaCrossParams) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: equal settings give equal hashes on every
    machine, whatever order the fields were given in (``kind`` is part of it)."""
    return hashlib.sha256(canonical_json(params).encode("ascii")).hexdigest()


def warmup_bars(params: SevenRuleParams | SmaCrossParams) -> int:
    """Closed candles a window needs before the first decision.

    Every rule reads the last two bars, so each indicator needs one bar past its first
    value (EMA at ``n - 1``, RSI and ATR at ``n``), and the zone needs ``zone_lookback``
    bars before the last. The 7-rule strategy adds :data:`WARMUP_MARGIN` for the seeded
    filters to settle; the SMA has no seed, so the cross needs exactly ``slow + 1``.

    The EMA still depends on where the window starts, so a live tick and a simulation
    agree only when they use the same window length (not just one above this minimum).
    """
    if isinstance(params, SmaCrossParams):
        return params.slow + 1
    longest = max(
        params.ema_slow + 1,
        params.trigger_ema + 1,
        params.rsi_period + 2,
        params.atr_period + 2,
        params.zone_lookback + 1,
    )
    return longest + WARMUP_MARGIN
