"""The screen changes only the speed: a screened simulation makes exactly the decisions and
trades of one that calls the real rules on every bar.

Both runs use the same engine, account and rules; the reference run evaluates every bar
(``screened=False``), the other only the bars the numpy screen cannot rule out. Real files:
the KuCoin 1h year (5 gaps: each blocks 300 windows), ETH/BTC 5m (tiny prices, no gaps),
and the gappy UNITTEST/BTC 1m file (538 gap runs), plus configurations that exercise the
other paths of the loop: a binding participation cap (remainders filled bar by bar), a
daily loss limit that halts, and a risk setting that rejects orders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.candles import CandleSeries
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import EngineRun, EngineSetup, simulate
from shared.domain.strategy import SevenRuleParams, SmaCrossParams

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC = Instrument(exchange="paper", symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=Decimal("0.01"),
                 lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"), min_notional=Decimal("5"))
ALT = Instrument(exchange="paper", symbol="ETHBTC", base="ETH", quote="BTC", tick_size=Decimal("0.00000001"),
                 lot_size=Decimal("0.0001"), min_qty=Decimal("0.0001"), min_notional=Decimal("0.0001"))


def limits_for(params: SevenRuleParams | SmaCrossParams, equity: Decimal) -> RiskLimits:
    """The SMA cross buys with 99% of equity, so its cap must not bind; the 7-rule sizes by
    risk and would otherwise size past the cash (both as a profile would be set up)."""
    cap = equity * (100 if isinstance(params, SmaCrossParams) else Decimal("0.8"))
    return RiskLimits(max_position_notional=cap, exposure_cap_notional=cap, daily_loss_limit=equity / 20)


@dataclass(frozen=True)
class Case:
    file: str
    interval: str
    instrument: Instrument
    equity: Decimal


FILES = {
    "kucoin-1h": Case("dmplot_KUCOIN-BTC-USDT_1h.csv", "1h", BTC, Decimal(10000)),
    "ethbtc-5m": Case("freqtrade_ETH-BTC_5m.csv", "5m", ALT, Decimal(1)),
    "unittest-1m": Case("freqtrade_UNITTEST-BTC_1m.csv", "1m", ALT.model_copy(update={"symbol": "UNITBTC",
                                                                                       "base": "UNIT"}), Decimal(1)),
}
_SERIES: dict[str, CandleSeries] = {}


def series(name: str) -> CandleSeries:
    if name not in _SERIES:
        _SERIES[name] = CandleSeries.from_csv(DATA / FILES[name].file)
    return _SERIES[name]


def both(setup: EngineSetup) -> tuple[EngineRun, EngineRun]:
    return simulate(setup), simulate(setup, screened=False)


def assert_same(screened: EngineRun, reference: EngineRun) -> None:
    assert screened.decisions == reference.decisions
    assert screened.fills == reference.fills
    assert [(o.decision_bar, o.side, o.qty, o.status, o.reason) for o in screened.orders] == \
        [(o.decision_bar, o.side, o.qty, o.status, o.reason) for o in reference.orders]
    assert (screened.quote, screened.base, screened.halts) == (reference.quote, reference.base, reference.halts)
    assert screened.evaluations < reference.evaluations


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("params", [SmaCrossParams(), SevenRuleParams(), SmaCrossParams(fast=3, slow=7),
                                    SevenRuleParams(ema_fast=9, ema_slow=21, trigger_ema=5, zone_lookback=20,
                                                    rsi_min=30, rsi_max=80, session_hours_utc=[(7, 20)],
                                                    session_weekdays=[0, 1, 2, 3, 4], exit_atr_mult=0.5)],
                         ids=["sma-10-30", "seven-default", "sma-3-7", "seven-fast-session"])
def test_screened_run_equals_evaluating_every_bar(name: str, params: SevenRuleParams | SmaCrossParams):
    case = FILES[name]
    setup = EngineSetup(series=series(name), interval=case.interval, params=params, instrument=case.instrument,
                        limits=limits_for(params, case.equity), initial_quote=case.equity)
    screened, reference = both(setup)
    assert_same(screened, reference)
    if name != "unittest-1m":  # that file is too gappy for a 300-bar window: every tick is blocked
        assert any(f.side.value == "sell" for f in reference.fills), "the case never traded a round trip"


@pytest.mark.slow
def test_same_with_remainders_filled_bar_by_bar():
    """A participation cap of 0.2% of the bar's volume splits most orders over many bars."""
    setup = EngineSetup(series=series("kucoin-1h")[:3000], interval="1h", params=SmaCrossParams(),
                        instrument=BTC, limits=RiskLimits(), initial_quote=Decimal(10000),
                        fill=FillModelConfig(max_participation=Decimal("0.002")))
    screened, reference = both(setup)
    assert_same(screened, reference)
    per_order = Counter(f.order_no for f in reference.fills)
    assert max(per_order.values()) > 1, "no order was split over several bars"


@pytest.mark.slow
def test_same_when_the_daily_loss_limit_halts_and_risk_rejects():
    """A loss limit of 15 USDT halts for 3 hours after the fees of a few trades; a 3,000 USDT
    position cap rejects every all-in SMA buy once equity passes it."""
    limits = RiskLimits(daily_loss_limit=Decimal(15), halt_cooldown_minutes=180)
    setup = EngineSetup(series=series("kucoin-1h")[:4000], interval="1h", params=SmaCrossParams(fast=3, slow=7),
                        instrument=BTC, limits=limits, initial_quote=Decimal(10000))
    screened, reference = both(setup)
    assert_same(screened, reference)
    assert reference.halts > 0
    assert any(d.order_no is None for d in reference.decisions)  # a signal blocked by the halt
    capped = EngineSetup(series=series("kucoin-1h")[:2000], interval="1h", params=SmaCrossParams(), instrument=BTC,
                         limits=RiskLimits(max_position_notional=Decimal(3000)), initial_quote=Decimal(10000))
    screened, reference = both(capped)
    assert_same(screened, reference)
    assert any(o.check == "max-position" for o in reference.orders)
