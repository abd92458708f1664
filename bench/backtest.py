"""Simulator speed: ours next to backtesting.py on the same SMA cross, and the 7-rule strategy.

    .venv/bin/python bench/backtest.py [--bars 1000000] [--repeat 3] [--skip-peer] [--breakdown]

Datasets: the real FTX BTC-PERP 1m file (45,031 bars, ../shared/data) and a synthetic
1m random walk (``--bars``, default 1M, fixed seed). For the SMA cross both simulators run
the parity convention of ``tests/integration/test_simulation_backtesting_parity.py``
(next-open fills, 0.1% fee, no slippage, no participation cap, lots of 1e-6 through
``FractionalBacktest``) and must agree on the trade count and final equity, which is
printed as a check. The 7-rule strategy runs with the paper exchange's default fills and a
profile's limits (position cap at 80% of equity), and has no peer.

Printed per run: wall time (best of ``--repeat``; the peer once on the synthetic set, it
takes seconds), bars/s, the ratio ours/peer, and what drives our time: the bars the real
rules were called on (``evals``), trades, and microseconds per evaluated bar. Our time
is the whole simulation (screen, loop, rules, risk checks, fills), not the screen alone.

``--breakdown`` adds one extra, instrumented run per row (after the timed ones, which it
does not touch): the screen's time, the real ``evaluate`` per call, an order per call
(risk checks, exchange refusals, fill and booking), and the loop's rest. For the SMA rows
it also prints the ratio the per-decision cost alone allows: every trade needs an
``evaluate`` and an order, so with ``d`` decisions the run cannot take less than
``d * (evaluate + order)``, whatever the screen does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.rules import pipeline
from shared.domain.simulation import EngineRun, EngineSetup, engine, round_trips, simulate
from shared.domain.simulation.account import SimAccount
from shared.domain.strategy import SevenRuleParams, SmaCrossParams
from tests.support.backtesting_peer import run_peer  # imported here: the peer's import is not timed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL = "nautilus_FTX-BTC-PERP_1m.csv"
LOT = 1e-6
CASH = 10_000
FAR = Decimal("1e15")
BTC = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"), min_notional=Decimal("5"))
#: The peer has no minimum notional: the parity runs drop ours too (the SMA cross can
#: bleed equity down to a few dollars on 1m bars, where a 5 USDT minimum would bind).
PARITY_BTC = BTC.model_copy(update={"min_notional": Decimal("0.000001")})
PARITY_FILL = FillModelConfig(slippage_bps=Decimal(0), max_participation=None)
PARITY_LIMITS = RiskLimits(max_position_notional=FAR, exposure_cap_notional=FAR, daily_loss_limit=FAR)
#: A profile's caps at a fifth of the deposit: the 7-rule sizes by risk (1% of equity over
#: a 2-ATR stop), which on 1m bars asks for several times the cash, so the cap is what
#: sizes it. Once equity falls below the cap every buy is refused for balance (sizing
#: does not look at the cash), and the run evaluates every entry setup from then on.
PROFILE_LIMITS = RiskLimits(max_position_notional=Decimal(2000), exposure_cap_notional=Decimal(2000))


def synthetic(bars: int) -> CandleSeries:
    """A 1m random walk around 30,000 (0.08% per bar), prices on the 0.01 tick."""
    rng = np.random.default_rng(20240601)
    close = np.round(30_000 * np.exp(np.cumsum(rng.normal(0.0, 8e-4, bars))), 2)
    open_ = np.concatenate(([30_000.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 4e-4, (2, bars)))
    high = np.round(np.maximum(open_, close) * (1 + wick[0]), 2)
    low = np.round(np.minimum(open_, close) * (1 - wick[1]), 2)
    start = 1_600_000_000_000 - 1_600_000_000_000 % 60_000
    return CandleSeries.from_arrays(start + 60_000 * np.arange(bars), open_, high, low, close,
                                    rng.lognormal(3.0, 1.0, bars))


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fastest, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, result


def peer_run(candles: CandleSeries, fast: int, slow: int) -> Any:
    return run_peer(candles, fast, slow, CASH)


def ours(candles: CandleSeries, params: SmaCrossParams | SevenRuleParams, fill: FillModelConfig,
         limits: RiskLimits, instrument: Instrument = BTC) -> EngineRun:
    return simulate(EngineSetup(series=candles, interval="1m", params=params, instrument=instrument, limits=limits,
                                fill=fill, initial_quote=Decimal(CASH)))


def describe(run: EngineRun, seconds: float) -> str:
    trades = len([t for t in round_trips(run) if t.exit_time is not None])
    per = seconds / run.evaluations * 1e6 if run.evaluations else 0.0
    return f"evals {run.evaluations:>6}  trades {trades:>5}  {per:6.0f} us/eval"


def agreement(candles: CandleSeries, run: EngineRun, stats: Any) -> str:
    """How many round trips are identical (fill bars and size) up to the first difference,
    and the final equities' relative difference. A difference can only come from an exact
    SMA tie that the peer's running sum over the whole history and ours over the tick's
    window round to opposite sides (it happens on the synthetic set, far into the run)."""
    ours_trades = [t for t in round_trips(run) if t.exit_time is not None]
    same = 0
    for mine, (_, other) in zip(ours_trades, stats["_trades"].iterrows(), strict=False):
        assert mine.exit_time is not None
        bars = candles.index_of(to_ms(mine.entry_time)), candles.index_of(to_ms(mine.exit_time))
        if bars != (other.EntryBar, other.ExitBar) or round(float(mine.qty) / LOT) != round(other.Size / LOT):
            break
        same += 1
    diff = abs(float(run.final_equity) / stats["Equity Final [$]"] - 1)
    return f"identical trades {same}/{len(stats['_trades'])}, equity diff {diff:.1e}"


class Costs:
    """Wall time spent in the screen, the real evaluate and the orders, over one run."""

    def __init__(self) -> None:
        self.seconds = {"screen": 0.0, "evaluate": 0.0, "orders": 0.0}
        self.calls = {"screen": 0, "evaluate": 0, "orders": 0}

    def timed(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started
                self.calls[part] += 1
        return wrapper


def breakdown(run: Callable[[], EngineRun], peer_s: float | None) -> str:
    """One more run with timers around the screen, ``evaluate`` and the account's order
    entry points (``submit``, ``match_through``): where our time goes, per call."""
    costs = Costs()
    names = vars(engine), vars(pipeline), vars(SimAccount)
    saved = names[0]["screen"], names[1]["evaluate"], names[2]["submit"], names[2]["match_through"]
    names[0]["screen"] = costs.timed("screen", saved[0])
    names[1]["evaluate"] = costs.timed("evaluate", saved[1])
    setattr(SimAccount, "submit", costs.timed("orders", saved[2]))  # noqa: B010  # a class dict is read-only
    setattr(SimAccount, "match_through", costs.timed("orders", saved[3]))  # noqa: B010
    try:
        started = time.perf_counter()
        result = run()
        total = time.perf_counter() - started
    finally:
        names[0]["screen"], names[1]["evaluate"] = saved[0], saved[1]
        setattr(SimAccount, "submit", saved[2])  # noqa: B010
        setattr(SimAccount, "match_through", saved[3])  # noqa: B010
    sec, n = costs.seconds, costs.calls
    orders = len(result.orders)
    per_eval = sec["evaluate"] / max(n["evaluate"], 1) * 1e6
    per_order = sec["orders"] / max(orders, 1) * 1e6
    rest = total - sum(sec.values())
    line = (f"breakdown: screen {sec['screen'] * 1e3:6.1f} ms | evaluate {n['evaluate']} x {per_eval:5.1f} us | "
            f"orders {orders} x {per_order:5.1f} us (checks, fills, booking) | loop {rest * 1e3:6.1f} ms "
            f"({rest / max(n['evaluate'], 1) * 1e6:4.1f} us/eval)")
    decisions = len(result.decisions)
    if peer_s is not None and decisions:
        floor = decisions * (per_eval + per_order) / 1e6
        line += f" | per-decision floor {floor:6.3f} s: ratio <= {peer_s / floor:5.1f}x"
    return line


def sma_rows(name: str, candles: CandleSeries, repeat: int, skip_peer: bool, costs: bool) -> None:
    for fast, slow in ((10, 30), (50, 200)):
        params = SmaCrossParams(fast=fast, slow=slow)
        seconds, run = best(lambda p=params: ours(candles, p, PARITY_FILL, PARITY_LIMITS, PARITY_BTC), repeat)  # type: ignore[misc]
        bars = len(candles)
        line = f"{name:<14} SMA {fast}/{slow:<4} ours {seconds:7.3f} s {bars / seconds:>10,.0f} bars/s"
        peer_s = None
        if not skip_peer:
            peer_repeat = 1 if bars > 100_000 else repeat
            peer_s, stats = best(lambda f=fast, s=slow: peer_run(candles, f, s), peer_repeat)  # type: ignore[misc]
            line += (f" | backtesting.py {peer_s:7.3f} s {bars / peer_s:>9,.0f} bars/s | ratio {peer_s / seconds:5.1f}x"
                     f" | {agreement(candles, run, stats)}")
        print(line)
        print(f"{'':<14} {'':<12} {describe(run, seconds)}")
        if costs:
            print(f"{'':<14} {'':<12} " + breakdown(
                lambda p=params: ours(candles, p, PARITY_FILL, PARITY_LIMITS, PARITY_BTC), peer_s))  # type: ignore[misc]


def seven_rows(name: str, candles: CandleSeries, repeat: int, costs: bool) -> None:
    seconds, run = best(lambda: ours(candles, SevenRuleParams(), FillModelConfig(), PROFILE_LIMITS), repeat)
    print(f"{name:<14} 7-rule       ours {seconds:7.3f} s {len(candles) / seconds:>10,.0f} bars/s (target 500,000)")
    print(f"{'':<14} {'':<12} {describe(run, seconds)}  rejected orders "
          f"{sum(1 for o in run.orders if o.status == 'rejected')}")
    if costs:
        print(f"{'':<14} {'':<12} " + breakdown(
            lambda: ours(candles, SevenRuleParams(), FillModelConfig(), PROFILE_LIMITS), None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="add one instrumented run per row (cost per call)")
    args = parser.parse_args()
    real = CandleSeries.from_csv(DATA / REAL)
    synth = synthetic(args.bars)
    print(f"real: {REAL} ({len(real):,} bars); synthetic: {len(synth):,} 1m bars; best of {args.repeat}")
    sma_rows("real 1m", real, args.repeat, args.skip_peer, args.breakdown)
    sma_rows("synthetic 1m", synth, args.repeat, args.skip_peer, args.breakdown)
    seven_rows("real 1m", real, args.repeat, args.breakdown)
    seven_rows("synthetic 1m", synth, args.repeat, args.breakdown)


if __name__ == "__main__":
    main()
