"""Parity with a peer: the SMA-cross baseline in our simulator and in backtesting.py.

Convention both sides run (the honest common ground, stated once):

- Candles: the real FTX BTC-PERP 1m file (45,031 bars, no gaps) and the freqtrade
  XRP/USDT perpetual 5m file, unchanged.
- Signal: on a bar's close, ``SMA(fast)`` and ``SMA(slow)`` of the closes; buy when flat
  and ``f[-2] <= s[-2] and f[-1] > s[-1]``; sell everything when holding and
  ``f[-2] >= s[-2] and f[-1] < s[-1]`` (our rule; backtesting.lib's ``crossover`` uses a
  strict ``<`` before, so the peer strategy spells the rule out). The peer computes its
  SMAs with the same batch function over the whole history, we over the tick's 300-bar
  window (they agree to the last bit on these prices, which the test proves by itself).
- Size: ``floor(equity * 0.99 / close)`` in lots of 1e-6 base units. backtesting.py trades
  whole units, so it runs as ``backtesting.lib.FractionalBacktest(fractional_unit=1e-6)``:
  one unit = one lot. The peer sizes from an unscaled copy of the closes (column ``Raw``),
  because ``FractionalBacktest`` scales OHLC by 1e-6 and the scaled floats round
  differently (a tie ``f == s`` became a cross there in a first attempt).
- Fills: market orders at the next bar's open (``trade_on_close=False``), no slippage or
  spread, no participation cap: ``FillModelConfig(slippage_bps=0, max_participation=None)``
  on our side. Fee 0.1% of each fill's notional on both sides (``commission=0.001``).
- Risk: position and exposure caps and the daily loss limit set far away (the peer has
  none); the balance check stays on both sides and has the same boundary (notional plus
  fee must not exceed free cash).
- Final equity: cash plus the open position at the last close, no exit fee (the peer's
  ``Equity Final``).

Then the round trips must be the same (entry and exit bar, size in lots, prices) and the
final equity equal within 1e-9 relative.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain.candles import CandleSeries, to_ms
from shared.domain.fill_model import FillModelConfig
from shared.domain.market import Instrument
from shared.domain.profiles import RiskLimits
from shared.domain.simulation import EngineSetup, round_trips, simulate
from shared.domain.strategy import SmaCrossParams
from tests.support.backtesting_peer import LOT, run_peer

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CASH = 10_000
FAR = Decimal("1e15")


def peer(candles: CandleSeries, fast: int, slow: int) -> Any:
    return run_peer(candles, fast, slow, CASH)


def ours(candles: CandleSeries, interval: str, symbol: str, fast: int, slow: int) -> Any:
    instrument = Instrument(exchange="paper", symbol=symbol, base=symbol[:-4], quote="USDT",
                            tick_size=Decimal("0.0001"), lot_size=Decimal("0.000001"), min_qty=Decimal("0.000001"),
                            min_notional=Decimal("0.000001"))
    setup = EngineSetup(series=candles, interval=interval, params=SmaCrossParams(fast=fast, slow=slow),
                        instrument=instrument, limits=RiskLimits(max_position_notional=FAR, exposure_cap_notional=FAR,
                                                                 daily_loss_limit=FAR),
                        fill=FillModelConfig(taker_fee_rate=Decimal("0.001"), slippage_bps=Decimal(0),
                                             max_participation=None),
                        initial_quote=Decimal(CASH))
    return simulate(setup)


@pytest.mark.slow
@pytest.mark.parametrize(("file", "interval", "symbol", "fast", "slow"), [
    ("nautilus_FTX-BTC-PERP_1m.csv", "1m", "BTCUSDT", 10, 30),
    ("nautilus_FTX-BTC-PERP_1m.csv", "1m", "BTCUSDT", 50, 200),
    ("freqtrade_XRP-USDT-PERP_5m.csv", "5m", "XRPUSDT", 10, 30),
])
def test_same_trades_and_final_equity_as_backtesting_py(file: str, interval: str, symbol: str, fast: int,
                                                        slow: int):
    candles = CandleSeries.from_csv(DATA / file)
    stats = peer(candles, fast, slow)
    run = ours(candles, interval, symbol, fast, slow)
    trades = round_trips(run)
    theirs = stats["_trades"]
    assert len(theirs) >= 5, "too few trades for the comparison to mean anything"
    closed = [t for t in trades if t.exit_time is not None]
    assert len(closed) == len(theirs)
    for mine, (_, other) in zip(closed, theirs.iterrows(), strict=True):
        assert mine.exit_time is not None  # fills at once are stamped with their bar's open
        assert (candles.index_of(to_ms(mine.entry_time)), candles.index_of(to_ms(mine.exit_time))) == \
            (other.EntryBar, other.ExitBar)
        assert int(mine.qty / Decimal("0.000001")) == round(other.Size / LOT)
        assert float(mine.entry_price) == pytest.approx(other.EntryPrice, rel=1e-12)
        assert mine.exit_price is not None
        assert float(mine.exit_price) == pytest.approx(other.ExitPrice, rel=1e-12)
    still_open = [t for t in trades if t.exit_time is None]
    assert len(still_open) == (1 if stats["_strategy"].position else 0)
    final = float(run.final_equity)
    assert abs(final / stats["Equity Final [$]"] - 1) <= 1e-9, (final, stats["Equity Final [$]"])
