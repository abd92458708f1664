"""The SMA cross in backtesting.py, configured as our simulator's parity convention.

One definition for the parity test (which proves both sides trade the same) and for
``bench/backtest.py`` (which times them), so the bench always times the peer the test
checked. The convention is stated in ``tests/integration/test_simulation_backtesting_parity``.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

import pandas as pd
from backtesting import Strategy  # type: ignore[import-untyped]
from backtesting.lib import FractionalBacktest  # type: ignore[import-untyped]

from shared.domain.candles import CandleSeries
from shared.domain.indicators import sma

#: One backtesting.py unit = one lot of 1e-6 base units (``FractionalBacktest``).
LOT: Final = 1e-6


class SmaCross(Strategy):  # type: ignore[misc]
    """Our rule spelled out (backtesting.lib's ``crossover`` is strict before the cross);
    SMAs and size from the unscaled closes (``Raw``): ``FractionalBacktest`` scales OHLC."""

    fast = 10
    slow = 30

    def init(self) -> None:
        self.f = self.I(sma, self.data.Raw, self.fast)
        self.s = self.I(sma, self.data.Raw, self.slow)

    def next(self) -> None:
        f0, f1, s0, s1 = self.f[-2], self.f[-1], self.s[-2], self.s[-1]
        if not self.position:
            if f0 <= s0 and f1 > s1:
                units = int(self.equity * 0.99 / self.data.Raw[-1] / LOT)
                if units >= 1:
                    self.buy(size=units)
        elif f0 >= s0 and f1 < s1:
            self.position.close()


def run_peer(candles: CandleSeries, fast: int, slow: int, cash: float) -> Any:
    """backtesting.py's stats: next-open fills, 0.1 % commission, no spread."""
    frame = pd.DataFrame({"Open": candles.open, "High": candles.high, "Low": candles.low, "Close": candles.close,
                          "Volume": candles.volume, "Raw": candles.close},
                         index=pd.to_datetime(candles.open_time, unit="ms", utc=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = FractionalBacktest(frame, SmaCross, cash=cash, commission=0.001, fractional_unit=LOT,
                                  trade_on_close=False, exclusive_orders=False)
        return test.run(fast=fast, slow=slow)
