"""Strategy rules: the 7-rule pipeline and the SMA-cross baseline, as pure functions.

``pipeline.evaluate(tick, params)`` is the one entry point for both strategies; the live
tick and the simulator call it with the same inputs and get the same ``Evaluation``.
"""

from __future__ import annotations

from .context import Advisor, AdvisorAnswer, BarValues, Evaluation, IndicatorSnapshot, TickInput
from .pipeline import evaluate
from .seven import SEVEN_RULES
from .sma_cross import SMA_CROSS

__all__ = [
    "SEVEN_RULES", "SMA_CROSS", "Advisor", "AdvisorAnswer", "BarValues", "Evaluation", "IndicatorSnapshot",
    "TickInput", "evaluate",
]
