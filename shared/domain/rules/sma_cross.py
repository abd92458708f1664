"""The SMA-cross baseline: the plain strategy every candidate must beat.

Why so simple: it is the benchmark and the parity check of the simulator against
backtesting.py, so its rule must be obvious and reproducible there. Buy when SMA(fast)
crosses above SMA(slow) on the last bar while flat; sell the whole position when it
crosses below while holding; otherwise hold.

Sizing is all-in: ``qty = equity * 0.99 / close``, rounded down to the lot. The 1%
left over pays the taker fee (0.1%), the slippage, and the move from the decision's
close to the next bar's open where the order fills, so the pre-trade balance check
(notional plus fee, at the fill price) passes. Risk limits are not applied
here; the pre-trade checks (max position, exposure cap) still run on the order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from shared.domain.indicators import sma
from shared.domain.risk import round_qty
from shared.domain.strategy import SmaCrossParams, warmup_bars

from .context import Evaluation, TickInput, data_gate, dec, num, verdict

SMA_CROSS: Final = "sma-cross"
#: Share of equity spent on a buy: the rest pays the fee (see the module docstring).
ALL_IN: Final = Decimal("0.99")


def evaluate(inp: TickInput, params: SmaCrossParams) -> Evaluation:
    """The baseline's decision for the last candle: one ``sma-cross`` verdict (after the
    data-integrity block verdict when the window is unfit)."""
    blocked = data_gate(inp, warmup_bars(params), (SMA_CROSS,))
    if blocked is not None:
        return blocked
    close = inp.window.close
    fast, slow = sma(close, params.fast, scan=False), sma(close, params.slow, scan=False)  # the gate scanned
    f0, f1, s0, s1 = float(fast[-2]), float(fast[-1]), float(slow[-2]), float(slow[-1])
    up, down = f0 <= s0 and f1 > s1, f0 >= s0 and f1 < s1
    c = float(close[-1])
    values = {"sma_fast": f1, "sma_slow": s1, "prev_sma_fast": f0, "prev_sma_slow": s0, "close": c,
              "fast": params.fast, "slow": params.slow}
    names = f"SMA{params.fast} {num(f1)}", f"SMA{params.slow} {num(s1)}"
    holding = inp.holding

    if up and not holding:
        qty = round_qty(inp.equity * ALL_IN / dec(c), inp.instrument) if inp.equity > 0 else Decimal(0)
        ins = inp.instrument
        if qty <= 0 or qty < ins.min_qty or qty * dec(c) < ins.min_notional:
            v = verdict(SMA_CROSS, "block", f"{names[0]} crossed above {names[1]}, but equity {inp.equity} buys only "
                        f"{qty} {ins.base}, below the minimum ({ins.min_qty} {ins.base} and {ins.min_notional} "
                        f"{ins.quote} notional).", qty=str(qty), equity=str(inp.equity), **values)
            return Evaluation("blocked", [v], SMA_CROSS, None, None, None, inp.window)
        v = verdict(SMA_CROSS, "pass", f"{names[0]} crossed above {names[1]}: buy {qty} {ins.base} with "
                    f"{ALL_IN} of equity {inp.equity}.", "long", qty=str(qty), equity=str(inp.equity), **values)
        return Evaluation("buy", [v], None, qty, None, None, inp.window)
    if down and holding:
        qty = inp.sellable_qty
        v = verdict(SMA_CROSS, "block", f"{names[0]} crossed below {names[1]}: sell the whole position of {qty}.",
                    "flat", qty=str(qty), **values)
        return Evaluation("sell", [v], None, qty, None, None, inp.window)

    if up or down:
        state = "already holding" if holding else "nothing to sell"
        reason = f"{names[0]} crossed {'above' if up else 'below'} {names[1]}, but {state}."
    else:
        side = "above" if f1 > s1 else "below" if f1 < s1 else "level with"
        reason = f"No cross: {names[0]} stays {side} {names[1]}."
    return Evaluation("hold", [verdict(SMA_CROSS, "neutral", reason, **values)], None, None, None, None, inp.window)
