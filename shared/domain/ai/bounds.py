"""Which parameters a review may change, within which range, by how much at a time.

Why bounds on top of the params' own validators: the validators say what is *valid*
(a period of 90 000 bars is valid), the bounds say what a machine may *propose* without
a human widening the search. A proposal that leaves the range or moves a parameter by
more than its largest step is rejected, not clamped: a clamped answer is no longer the
model's answer, and the record must show what was asked and what came back.

Session hours, weekdays and the AI switch are not tunable here: they are operating
decisions (when to trade, whether to ask a model), not fitting knobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from pydantic.alias_generators import to_camel

from shared.domain.strategy import SevenRuleParams, SmaCrossParams

Params = SevenRuleParams | SmaCrossParams
StrategyKind = Literal["seven-rule", "sma-cross"]

#: The default largest step, relative to the current value (0.5 = at most +-50% at once).
MAX_RELATIVE_STEP: Final = 0.5
#: Float parameters are rounded to this many decimals after a step (stable hashes).
FLOAT_DECIMALS: Final = 6


@dataclass(frozen=True)
class ParamBound:
    """One tunable parameter: ``minimum <= value <= maximum`` after the change, and
    ``|delta| <= max(rel_step * |current|, abs_step)`` (whole numbers for integers)."""

    name: str  # the model's field name (snake_case)
    type: Literal["integer", "number"]
    minimum: float
    maximum: float
    rel_step: float = MAX_RELATIVE_STEP
    abs_step: float = 1.0
    description: str = ""

    @property
    def wire(self) -> str:
        """The name in documents, prompts and answers (camelCase, as stored)."""
        return to_camel(self.name)

    def max_step(self, current: float) -> float:
        step = max(self.rel_step * abs(current), self.abs_step)
        return float(math.floor(step)) if self.type == "integer" else step

    def allowed_range(self, current: float) -> tuple[float, float]:
        """The values one change may reach from ``current`` (empty, lo > hi, when the
        current value lies so far outside the bounds that no step reaches them)."""
        step = self.max_step(current)
        return max(self.minimum, current - step), min(self.maximum, current + step)

    def allowed_delta(self, current: float) -> tuple[float, float]:
        lo, hi = self.allowed_range(current)
        return normalize(self, lo - current), normalize(self, hi - current)


def normalize(bound: ParamBound, value: float) -> float:
    """Integers stay integral; floats lose binary noise (0.1 + 0.2 == 0.3 here)."""
    if bound.type == "integer":
        return float(round(value))
    return round(value, FLOAT_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


SEVEN_RULE_BOUNDS: Final[tuple[ParamBound, ...]] = (
    ParamBound("ema_fast", "integer", 5, 150, description="trend filter: fast EMA period (bars)"),
    ParamBound("ema_slow", "integer", 20, 400, description="trend filter: slow EMA period (bars)"),
    ParamBound("zone_lookback", "integer", 10, 400, description="support/resistance lookback (bars)"),
    ParamBound("zone_min_room_atr", "number", 0.0, 5.0, abs_step=0.25,
               description="room to the next zone required before entry, in ATRs"),
    ParamBound("rsi_period", "integer", 2, 50, description="momentum: RSI period (bars)"),
    ParamBound("rsi_min", "number", 5.0, 70.0, rel_step=0.0, abs_step=10.0,
               description="momentum: lowest RSI that allows an entry"),
    ParamBound("rsi_max", "number", 30.0, 95.0, rel_step=0.0, abs_step=10.0,
               description="momentum: highest RSI that allows an entry"),
    ParamBound("trigger_ema", "integer", 3, 100, description="entry trigger: EMA reclaimed by the close (bars)"),
    ParamBound("atr_period", "integer", 3, 50, description="risk: ATR period (bars)"),
    ParamBound("stop_atr_mult", "number", 0.5, 6.0, abs_step=0.25, description="risk: stop distance in ATRs"),
    ParamBound("exit_atr_mult", "number", 0.0, 6.0, abs_step=0.25, description="risk: take-profit distance in ATRs"),
)

SMA_CROSS_BOUNDS: Final[tuple[ParamBound, ...]] = (
    ParamBound("fast", "integer", 2, 100, description="fast SMA period (bars)"),
    ParamBound("slow", "integer", 5, 400, description="slow SMA period (bars)"),
)

BOUNDS: Final[dict[str, tuple[ParamBound, ...]]] = {
    "seven-rule": SEVEN_RULE_BOUNDS,
    "sma-cross": SMA_CROSS_BOUNDS,
}


def bounds_for(params: Params) -> tuple[ParamBound, ...]:
    """The tunable parameters of this strategy kind, in a fixed order (prompt, schema and
    the local advisor's search all follow it, which keeps them deterministic)."""
    return BOUNDS[params.kind]


def wire_names(model: type[Params]) -> dict[str, str]:
    """camelCase name -> field name of every field of the params model."""
    return {to_camel(name): name for name in model.model_fields}


def current_value(params: Params, bound: ParamBound) -> float:
    value = getattr(params, bound.name)
    return float(value)
