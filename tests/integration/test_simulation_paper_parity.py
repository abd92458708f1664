"""One code path: paper trading and the simulator make the same trades on the same candles.

The paper side is the real product path: the replay driver steps a manual clock hour by
hour through the demo's KuCoin candles, the timer schedules ticks, ``run_tick`` decides
(store, halts, data checks, ``pipeline.evaluate``), ``execute_order_intent`` checks risk
and submits to the paper exchange, which fills from the shared fill model and books into
SQLite. The simulator gets the same profile settings (strategy version, risk limits,
instrument, deposit, the paper exchange's default fill config, the tick's window length)
and decides the same candles, in memory.

The decisions that became orders and every fill (side, quantity, price, fee, time) must be
equal, to the last decimal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shared.adapters.replay_market import DEMO_START
from shared.domain.candles import from_ms, parse_utc, to_ms
from shared.domain.fill_model import FillModelConfig
from shared.domain.simulation import EngineRun, EngineSetup, simulate
from shared.ports import Filter, Query
from shared.services.demo import INITIAL_DEPOSIT, PROFILES, STRATEGIES
from shared.services.listing import all_items
from shared.services.ticks import WINDOW_BARS
from tests.support.replay_driver import ReplayDriver

HOURS = 1200
SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayDriver]:
    driver = ReplayDriver(Path(tmp_path_factory.mktemp("sim-parity")), DEMO_START)
    driver.run(HOURS)
    yield driver
    driver.close()


def simulated(driver: ReplayDriver, profile_index: int) -> EngineRun:
    profile = PROFILES[profile_index]
    [version] = [v for v in STRATEGIES if v.strategy_id == profile.strategy_id]
    series = driver.market.series(SYMBOL)
    start = series.index_of(to_ms(DEMO_START))
    assert start is not None
    # one bar past the last tick: the last decision's order fills on the bar forming then
    setup = EngineSetup(series=series, interval=profile.interval, params=version.params,
                        instrument=driver.market.instruments([SYMBOL])[0], limits=profile.risk,
                        fill=FillModelConfig(), initial_quote=INITIAL_DEPOSIT, window_bars=WINDOW_BARS,
                        start=start, end=start + HOURS + 1)
    return simulate(setup)


def paper_fills(driver: ReplayDriver, account_id: str) -> list[tuple[str, Decimal, Decimal, Decimal, int]]:
    docs = all_items(driver.store.container("orders"), Query(where=[Filter("kind", "=", "fill")], limit=500),
                     account_id)
    fills = sorted(docs, key=lambda d: (d["at"], d["id"]))
    return [(d["side"], Decimal(d["qty"]), Decimal(d["price"]), Decimal(d["fee"]), to_ms(parse_utc(d["at"])))
            for d in fills]


def paper_orders(driver: ReplayDriver, profile_id: str) -> list[tuple[int, str, Decimal]]:
    docs = all_items(driver.store.container("decisions"), Query(limit=500),
                     profile_id)
    rows = [(to_ms(parse_utc(d["candleTime"])), d["action"], Decimal(d["intent"]["qty"])) for d in docs
            if d.get("intentId")]
    return sorted(rows)


@pytest.mark.slow
@pytest.mark.parametrize("profile_index", [0, 1], ids=[p.id for p in PROFILES])
def test_paper_replay_and_simulation_make_the_same_trades(replay: ReplayDriver, profile_index: int):
    profile = PROFILES[profile_index]
    run = simulated(replay, profile_index)
    last_tick_bar = run.setup.start + HOURS - 1
    series = run.setup.series
    sim_orders = [(int(series.open_time[d.bar]), d.action, d.qty) for d in run.decisions
                  if d.order_no is not None and d.bar <= last_tick_bar]
    sim_fills = [(f.side.value, f.qty, f.price, f.fee, f.at_ms) for f in run.fills if f.decision_bar <= last_tick_bar]

    assert paper_orders(replay, profile.id) == sim_orders
    assert paper_fills(replay, profile.account_id) == sim_fills
    assert len(sim_fills) >= 4, f"{profile.id} traded too little in {HOURS} hours for the test to mean anything"
    assert from_ms(sim_fills[-1][4]) <= DEMO_START + timedelta(hours=HOURS)
