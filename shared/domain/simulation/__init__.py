"""The simulator: candles through the same rules, risk checks and fill model as paper trading.

Modules, each small and pure (no I/O, nothing from Azure):

- :mod:`.windowed`: the EMA/RSI/ATR a live tick sees over its sliding window, for every bar
  at once (numpy);
- :mod:`.screening`: the bars where the rules could trade, with error margins;
- :mod:`.account`: the paper path's execution (risk checks, exchange refusals, fills,
  position and ledger) in memory; :mod:`.daily`: its running total of today's PnL;
- :mod:`.engine`: the loop that calls the real ``pipeline.evaluate`` on the screened bars;
- :mod:`.metrics`, :mod:`.walkforward`, :mod:`.report`: numbers, ranges, gates and verdict;
- :mod:`.models`: the pydantic request, result, report and stored run.
"""

from __future__ import annotations

from .engine import DEFAULT_WINDOW_BARS, EngineRun, EngineSetup, Progress, SimDecision, simulate
from .metrics import equity_curve, metrics, round_trips
from .models import (
    FillSettings,
    GateResult,
    Gates,
    Metrics,
    Report,
    RunProgress,
    SegmentResult,
    SimulationRequest,
    SimulationResult,
    SimulationRun,
    Split,
    StrategyResult,
    TradeRecord,
)
from .report import compare
from .screening import Screen, screen, tick_window
from .walkforward import run_request, score, segments

__all__ = [
    "DEFAULT_WINDOW_BARS", "EngineRun", "EngineSetup", "FillSettings", "GateResult", "Gates", "Metrics", "Progress",
    "Report", "RunProgress", "Screen", "SegmentResult", "SimDecision", "SimulationRequest", "SimulationResult",
    "SimulationRun", "Split", "StrategyResult", "TradeRecord", "compare", "equity_curve", "metrics", "round_trips",
    "run_request", "score", "screen", "segments", "simulate", "tick_window",
]
