"""The local advisor end to end: propose -> simulate -> verdict, on a year of 1h candles x 3 symbols.

    .venv/bin/python bench/advisor.py [--evaluations 60]

What the ``review`` of a strategy does without an LLM key (``shared.services.approval_steps``),
minus the store: per symbol, the advisor's bounded search scores candidates with the
simulator on the in-sample 70 %, then the winner is simulated against the baseline in and
out of sample and the default gates give the verdict. Target: <= 30 s for all three.

Data: the handbook has one year of real hourly candles (KuCoin BTC-USDT, 8,756 bars, in
``shared/market_data``); no second or third real 1h year exists there. The three
"symbols" therefore replay that same year under three names: the work (bars x
evaluations x symbols) is what this measures, not what the market did.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.adapters.replay_market import DATA_DIR, default_instrument
from shared.domain.candles import CandleSeries, from_ms
from shared.domain.market import INTERVAL_SECONDS
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import SimulationRequest, run_request, score
from shared.domain.strategy import SevenRuleParams, SmaCrossParams
from shared.services.local_advisor import OBJECTIVE, objective, search

SYMBOLS = ("BTCUSDT", "BTCUSDT-B", "BTCUSDT-C")
HISTORY_BARS = 620  # indicator history before the judged range (twice the tick window, as the service loads)


@dataclass
class Outcome:
    symbol: str
    seconds: float
    evaluations: int
    improved: bool
    verdict: str


def advise_symbol(symbol: str, series: CandleSeries, params: SevenRuleParams | SmaCrossParams,
                  evaluations: int) -> Outcome:
    started = time.perf_counter()
    instrument = default_instrument("BTCUSDT").model_copy(update={"symbol": symbol})
    first, end = HISTORY_BARS, len(series)
    split = first + int((end - first) * 0.7)
    limits = RiskLimits()

    def objective_of(candidate: SevenRuleParams | SmaCrossParams) -> float:
        m = score(candidate, series, interval="1h", instrument=instrument, limits=limits, start=first, end=split)
        return objective(m.net_return, m.max_drawdown)

    found = search(params, objective_of, max_evaluations=evaluations)
    request = SimulationRequest(symbol=symbol, interval="1h", start=from_ms(int(series.open_time[first])),
                                end=from_ms(int(series.open_time[-1]) + INTERVAL_SECONDS["1h"] * 1000),
                                baseline=params, candidate=found.params, risk=limits, instrument=instrument)
    result = run_request(request, series, instrument)
    assert result.report is not None
    return Outcome(symbol, time.perf_counter() - started, found.evaluations, found.improved, result.report.verdict)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=60)
    args = parser.parse_args()
    series = CandleSeries.from_csv(DATA_DIR / "dmplot_KUCOIN-BTC-USDT_1h.csv")
    print(f"local advisor: propose -> simulate -> verdict, {len(series)} real 1h bars x {len(SYMBOLS)} symbols, "
          f"<= {args.evaluations} evaluations each; objective: {OBJECTIVE}")
    for name, params in (("7-rule", SevenRuleParams()), ("SMA cross", SmaCrossParams())):
        total = 0.0
        for symbol in SYMBOLS:
            out = advise_symbol(symbol, series, params, args.evaluations)
            total += out.seconds
            print(f"  {name:9} {out.symbol:10} {out.seconds:6.2f} s  {out.evaluations:3d} evaluations  "
                  f"improved {out.improved!s:5}  verdict {out.verdict}")
        print(f"  {name:9} all three: {total:6.2f} s   target <= 30 s")


if __name__ == "__main__":
    main()
