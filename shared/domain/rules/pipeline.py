"""The 7-rule pipeline: data gate, indicators once, seven verdicts, one action.

Why this shape: the Decision must explain every tick, so all seven rules always report
(in :data:`SEVEN_RULES` order) even when an early one already blocks; only the AI rule is
skipped then, because asking a model about a trade that cannot happen costs time and
money. The same function runs in the live tick and in the simulator.

Entry mode (flat): all pass or neutral -> ``buy``; only the entry trigger blocks ->
``hold`` (no setup); any other block -> ``blocked`` (``blocked_by`` = first block).
Exit mode (holding a lot or more): any exit signal (trend, trigger or stop rule) ->
``sell`` the whole sellable position; otherwise ``hold``.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any, Final, Literal

from shared.domain.decisions import RuleVerdict
from shared.domain.strategy import SevenRuleParams, SmaCrossParams, warmup_bars

from . import sma_cross
from .context import Advisor, AdvisorAnswer, Evaluation, IndicatorSnapshot, TickInput, data_gate, num, verdict
from .seven import AI, ENTRY_RULES, EXIT_RULES, SEVEN_RULES, TRIGGER, snapshot

__all__ = ["Evaluation", "TickInput", "advisor_summary", "ai_analysis", "consult", "evaluate"]

_STANCES: Final = ("agree", "disagree", "neutral")
#: Longest advisor reason kept in a verdict (a model may ramble; the Decision stays small).
MAX_REASON = 300


def evaluate(inp: TickInput, params: SevenRuleParams | SmaCrossParams) -> Evaluation:
    """The decision for the last candle of ``inp.window`` under ``params``.

    Pure apart from the optional advisor, which runs in a worker thread for at most
    ``ai_timeout_ms``. The SMA-cross baseline is dispatched to :mod:`.sma_cross`.
    """
    if isinstance(params, SmaCrossParams):
        return sma_cross.evaluate(inp, params)
    blocked = data_gate(inp, warmup_bars(params), SEVEN_RULES)
    if blocked is not None:
        return blocked
    snap = snapshot(inp, params)
    if inp.holding:
        return _exit(inp, snap, params)
    return _entry(inp, snap, params)


def _entry(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> Evaluation:
    verdicts = [rule(inp, snap, p) for rule in ENTRY_RULES]
    verdicts.append(ai_analysis(inp, snap, p, verdicts, "entry"))
    blocks = [v.rule for v in verdicts if v.outcome == "block"]
    if not blocks:
        risk = verdicts[5].values
        qty, stop = Decimal(str(risk["qty"])), Decimal(str(risk["stop"]))
        return Evaluation("buy", verdicts, None, qty, stop, None, inp.window)
    action: Literal["hold", "blocked"] = "hold" if blocks == [TRIGGER] else "blocked"
    return Evaluation(action, verdicts, blocks[0], None, None, None, inp.window)


def _exit(inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams) -> Evaluation:
    verdicts = [rule(inp, snap, p) for rule in EXIT_RULES]
    verdicts.append(ai_analysis(inp, snap, p, verdicts, "exit"))
    if any(v.outcome == "block" for v in verdicts):
        return Evaluation("sell", verdicts, None, inp.sellable_qty, None, None, inp.window)
    return Evaluation("hold", verdicts, None, None, None, None, inp.window)


def ai_analysis(
    inp: TickInput, snap: IndicatorSnapshot, p: SevenRuleParams, prior: list[RuleVerdict], mode: str
) -> RuleVerdict:
    """Rule 7: the advisor's stance, time-boxed, neutral on any failure.

    Entry: ``disagree`` blocks, ``agree`` passes. Exit: the advisor may confirm holding
    but never prevents an exit and never forces one (a disagreement is recorded as
    neutral), so it is consulted only when no exit signal fired. It is not consulted at
    all when disabled, absent, or when another rule already decided the tick.
    """
    if not p.ai_enabled or inp.advisor is None:
        why = "AI analysis is disabled" if not p.ai_enabled else "no advisor is configured"
        return verdict(AI, "neutral", f"Not consulted: {why}.", enabled=p.ai_enabled)
    first = next((v.rule for v in prior if v.outcome == "block"), None)
    if first is not None:
        why = "already blocks" if mode == "entry" else "signals an exit, which the advisor never prevents"
        return verdict(AI, "neutral", f"Not consulted: {first} {why}.", enabled=True)
    answer, failure = consult(inp.advisor, advisor_summary(inp, snap, prior, mode), p.ai_timeout_ms)
    values: dict[str, Any] = {"enabled": True, "timeout_ms": p.ai_timeout_ms, "mode": mode}
    if answer is None:
        return verdict(AI, "neutral", failure, stance=None, **values)
    said = answer.reason.strip()[:MAX_REASON] or "no reason given"
    values["stance"] = answer.stance
    proposal = "buying" if mode == "entry" else "holding"
    if answer.stance == "agree":
        return verdict(AI, "pass", f"The advisor agrees with {proposal}: {said}", "long", **values)
    if answer.stance == "disagree" and mode == "entry":
        return verdict(AI, "block", f"The advisor disagrees with buying: {said}", **values)
    if answer.stance == "disagree":
        return verdict(AI, "neutral", f"The advisor disagrees with holding ({said}); advisory only, exits come "
                       "from the trend, trigger and stop rules.", **values)
    return verdict(AI, "neutral", f"The advisor is neutral: {said}", **values)


def consult(advisor: Advisor, summary: dict[str, Any], timeout_ms: int) -> tuple[AdvisorAnswer | None, str]:
    """Call the advisor in a daemon thread and wait at most ``timeout_ms``.

    Returns the answer, or None and the plain reason it was unusable. Why a fresh
    daemon thread and not a pool: an advisor stuck on the network must not hold a pool
    slot that the next tick needs, and must not keep the process from exiting; the
    thread is abandoned, its late answer ignored.
    """
    box: list[object] = []

    def run() -> None:
        try:
            box.append(advisor(summary))
        except Exception as exc:  # any advisor failure is neutral, by design
            box.append(exc)

    worker = threading.Thread(target=run, name="halyard-advisor", daemon=True)
    worker.start()
    worker.join(timeout_ms / 1000)
    if not box:
        if worker.is_alive():
            return None, f"The advisor timed out after {timeout_ms} ms."
        return None, "The advisor gave no answer."
    result = box[0]
    if isinstance(result, Exception):
        detail = f"{type(result).__name__}: {result}"[:MAX_REASON]
        return None, f"The advisor failed ({detail})."
    if not (isinstance(result, AdvisorAnswer) and result.stance in _STANCES and isinstance(result.reason, str)):
        return None, "The advisor gave no usable answer."
    return result, ""


def advisor_summary(inp: TickInput, snap: IndicatorSnapshot, prior: list[RuleVerdict], mode: str) -> dict[str, Any]:
    """What the advisor sees: the proposal, the numbers and the other rules' verdicts
    (JSON-safe; the prompt is built by the AI adapter, not here)."""
    last = snap.last
    return {
        "strategy": "seven-rule",
        "mode": mode,
        "proposal": "buy" if mode == "entry" else "keep holding",
        "symbol": inp.symbol,
        "candleClose": snap.close_time.isoformat().replace("+00:00", "Z"),
        "close": last.close,
        "emaFast": last.ema_fast,
        "emaSlow": last.ema_slow,
        "emaTrigger": last.ema_trigger,
        "rsi": last.rsi,
        "atr": last.atr,
        "support": snap.support,
        "resistance": snap.resistance,
        "positionQty": str(inp.position_qty),
        "avgCost": str(inp.position_avg_cost),
        "verdicts": [{"rule": v.rule, "outcome": v.outcome, "reason": v.reason} for v in prior],
        "summary": f"{inp.symbol} closed at {num(last.close)}; proposal: {'buy' if mode == 'entry' else 'hold'}.",
    }
