"""Baseline versus candidate: the approval gates and the verdict.

Why gates on the out-of-sample part: parameters proposed by an AI (or a person) were
chosen looking at the past, so their in-sample numbers flatter them. The gates judge the
bars the proposal could not have been fitted to, against the baseline on the very same
bars, fills and fees. Every enabled gate reports a plain reason with its numbers, and the
verdict passes only when all of them pass (fail closed: a gate that cannot be judged,
e.g. a drawdown bound with no bars, fails).
"""

from __future__ import annotations

from .models import GateResult, Gates, Metrics, Report, StrategyResult


def compare(baseline: StrategyResult, candidate: StrategyResult, gates: Gates) -> Report:
    """The report on ``candidate`` against ``baseline`` under ``gates``."""
    base, cand = baseline.out_of_sample.metrics, candidate.out_of_sample.metrics
    results: list[GateResult] = []
    if gates.min_return_edge is not None:
        results.append(_return_edge(base, cand, gates.min_return_edge))
    if gates.max_drawdown is not None:
        results.append(_drawdown(cand, gates.max_drawdown))
    if gates.min_trades is not None:
        results.append(_trades(cand, gates.min_trades))
    if gates.min_fold_share is not None:
        results.append(_folds(baseline, candidate, gates.min_fold_share))
    if gates.max_overfit_gap is not None:
        results.append(_overfit(candidate, gates.max_overfit_gap))
    failed = [g for g in results if not g.passed]
    reasons = [g.reason for g in failed] if failed else ["Every gate passed."]
    return Report(verdict="fail" if failed else "pass", reasons=reasons, gates=results, baseline=base, candidate=cand)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _return_edge(base: Metrics, cand: Metrics, edge: float) -> GateResult:
    diff = cand.net_return - base.net_return
    values: dict[str, float | int | None] = {"candidate": cand.net_return, "baseline": base.net_return,
                                             "difference": diff, "min_edge": edge}
    what = (f"Out of sample the candidate returned {_pct(cand.net_return)} against the baseline's "
            f"{_pct(base.net_return)} ({'+' if diff >= 0 else ''}{_pct(diff)})")
    if diff >= edge:
        return GateResult(gate="oos-return-vs-baseline", passed=True, reason=f"{what}; at least {_pct(edge)} is "
                          "required.", values=values)
    return GateResult(gate="oos-return-vs-baseline", passed=False, reason=f"{what}, short of the required "
                      f"{_pct(edge)}.", values=values)


def _drawdown(cand: Metrics, bound: float) -> GateResult:
    values: dict[str, float | int | None] = {"max_drawdown": cand.max_drawdown, "bound": bound, "bars": cand.bars}
    if cand.bars == 0:
        return GateResult(gate="max-drawdown", passed=False, reason="No out-of-sample bars: the drawdown cannot be "
                          "judged.", values=values)
    ok = cand.max_drawdown <= bound
    verb = "within" if ok else "beyond"
    return GateResult(gate="max-drawdown", passed=ok, reason=f"The candidate's out-of-sample max drawdown "
                      f"{_pct(cand.max_drawdown)} is {verb} the bound of {_pct(bound)}.", values=values)


def _trades(cand: Metrics, minimum: int) -> GateResult:
    ok = cand.trade_count >= minimum
    return GateResult(gate="min-trades", passed=ok, reason=f"The candidate closed {cand.trade_count} trades out of "
                      f"sample; {minimum} are required{'' if ok else ' for the result to mean anything'}.",
                      values={"trades": cand.trade_count, "min_trades": minimum})


def _folds(baseline: StrategyResult, candidate: StrategyResult, share: float) -> GateResult:
    pairs = list(zip(baseline.folds, candidate.folds, strict=True))
    if not pairs:
        pairs = [(baseline.out_of_sample, candidate.out_of_sample)]
    better = sum(1 for b, c in pairs if c.metrics.net_return >= b.metrics.net_return)
    got = better / len(pairs)
    ok = got >= share
    return GateResult(gate="walk-forward-folds", passed=ok, reason=f"The candidate did not do worse than the "
                      f"baseline in {better} of {len(pairs)} walk-forward folds ({_pct(got)}); {_pct(share)} is "
                      "required.", values={"folds": len(pairs), "not_worse": better, "min_share": share})


def _overfit(candidate: StrategyResult, gap: float) -> GateResult:
    ins, oos = candidate.in_sample.metrics.net_return, candidate.out_of_sample.metrics.net_return
    diff = ins - oos
    ok = diff <= gap
    return GateResult(gate="overfit-gap", passed=ok, reason=f"The candidate returned {_pct(ins)} in sample and "
                      f"{_pct(oos)} out of sample, a gap of {_pct(diff)}; at most {_pct(gap)} is allowed.",
                      values={"in_sample": ins, "out_of_sample": oos, "gap": diff, "max_gap": gap})
