"""The entry budget only skips entries that cannot be sized: a run that goes broke makes the
same decisions and trades screened (with the budget) as evaluating every bar.

A 1% fee bleeds a small account below what the instrument's minimum notional needs; from
then on every entry setup is blocked by sizing (``sma-cross`` or ``risk-management``).
The budget screen leaves those bars out; the every-bar run evaluates them and finds no
trade. The same screened run without the budget shows how many bars it left out.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.candles import CandleSeries
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import EngineRun, EngineSetup, engine, simulate
from shared.domain.simulation.screening import EntryBudget
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"), min_notional=Decimal("5"))
COSTLY = FillModelConfig(taker_fee_rate=Decimal("0.01"), maker_fee_rate=Decimal("0.01"))


def same(a: EngineRun, b: EngineRun) -> None:
    assert a.decisions == b.decisions
    assert a.fills == b.fills
    assert [(o.decision_bar, o.side, o.qty, o.status, o.reason) for o in a.orders] == \
        [(o.decision_bar, o.side, o.qty, o.status, o.reason) for o in b.orders]
    assert (a.quote, a.base, a.halts) == (b.quote, b.base, b.halts)


@pytest.mark.slow
@pytest.mark.parametrize(("params", "quote"), [(SmaCrossParams(fast=3, slow=7), "20"), (SevenRuleParams(), "8")],
                         ids=["sma-3-7", "seven-default"])
def test_a_run_that_goes_broke_equals_evaluating_every_bar(params: SevenRuleParams | SmaCrossParams, quote: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    series = CandleSeries.from_csv(DATA / "dmplot_KUCOIN-BTC-USDT_1h.csv")
    setup = EngineSetup(series=series, interval="1h", params=params, instrument=BTC,
                        limits=RiskLimits(max_position_notional=Decimal(10**6), exposure_cap_notional=Decimal(10**6),
                                          risk_per_trade_pct=Decimal(100)),
                        fill=COSTLY, initial_quote=Decimal(quote))
    screened, reference = simulate(setup), simulate(setup, screened=False)
    same(screened, reference)
    assert len(reference.fills) >= 6, "the account never traded"
    assert reference.quote * Decimal("0.99") < BTC.min_notional, "the account did not go broke"

    never_short = EntryBudget(float("inf"), 0.0, 1.0, 0.0, 0.0)
    monkeypatch.setattr(engine, "_budget", lambda account, share: never_short)
    unbudgeted = simulate(setup)
    same(unbudgeted, reference)
    assert screened.evaluations < unbudgeted.evaluations, "the budget ruled nothing out"
