"""CandleSeries, candles_hash and the data checks, on crafted windows and the shipped files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.domain.candles import CandleSeries, candles_hash, from_ms, to_ms
from shared.domain.data_checks import check_window, find_issues

DATA = Path(__file__).resolve().parents[2] / "shared" / "market_data"
KUCOIN = DATA / "dmplot_KUCOIN-BTC-USDT_1h.csv"
BITCOIN_1D = DATA / "stockindicators_BTC-USD_1d.csv"
HOUR = 3600
H_MS = HOUR * 1000
T0 = datetime(2024, 1, 1, tzinfo=UTC)
KNOWN_GAPS = [
    datetime(2023, 9, 14, 15, tzinfo=UTC),
    datetime(2023, 11, 16, 3, tzinfo=UTC),
    datetime(2024, 1, 17, 15, tzinfo=UTC),
    datetime(2024, 3, 20, 3, tzinfo=UTC),
    datetime(2024, 5, 21, 15, tzinfo=UTC),
]


@pytest.fixture(scope="module")
def kucoin() -> CandleSeries:
    return CandleSeries.from_csv(KUCOIN)


def clean(n: int = 10, start: datetime = T0, **overrides: Sequence[float]) -> CandleSeries:
    """n hourly bars from ``start``; columns can be overridden."""
    t0 = to_ms(start)
    cols: dict[str, Sequence[float]] = {
        "open_time": [t0 + i * H_MS for i in range(n)],
        "open": [100.0 + i for i in range(n)],
        "high": [101.5 + i for i in range(n)],
        "low": [99.0 + i for i in range(n)],
        "close": [101.0 + i for i in range(n)],
        "volume": [10.0] * n,
    }
    cols.update(overrides)
    return CandleSeries.from_arrays(**cols)


def after(series: CandleSeries, extra_s: int = 0) -> datetime:
    """The instant the last bar closes, plus ``extra_s``."""
    return from_ms(int(series.open_time[-1]) + H_MS) + timedelta(seconds=extra_s)


# --------------------------------------------------------------------------- loading


def test_both_shipped_files_load_with_the_documented_shape(kucoin: CandleSeries) -> None:
    assert len(kucoin) == 8756
    assert kucoin.first_time == datetime(2023, 7, 14, 5, tzinfo=UTC)
    assert kucoin.last_time == datetime(2024, 7, 13, 5, tzinfo=UTC)
    assert kucoin.open_time.dtype == np.int64 and kucoin.close.dtype == np.float64
    assert (kucoin.open[0], kucoin.high[0], kucoin.low[0], kucoin.close[0]) == (31391.6, 31401.0, 31350.7, 31361.0)
    assert kucoin.volume[0] == 56.62706898

    daily = CandleSeries.from_csv(BITCOIN_1D)
    assert len(daily) == 1246
    assert daily.first_time == datetime(2017, 8, 16, tzinfo=UTC)
    assert daily.last_time == datetime(2021, 1, 12, tzinfo=UTC)
    assert daily.open[0] == 4261.48
    # the daily file is gap-free and consistent: nothing but "closed and fresh" to check
    assert check_window(daily, 86400, datetime(2021, 1, 13, tzinfo=UTC)) is None


def test_attribution_ships_with_the_data() -> None:
    text = (DATA / "ATTRIBUTION.md").read_text()
    assert "Mezquita, D. (2024). dmplot. https://github.com/dereckmezquita/dmplot. ORCID: 0000-0002-9307-6762" in text
    assert "Apache-2.0" in text and "dc48d6d19ed000b17df31a071b4139fc1192b35f" in text


def test_columns_are_read_only_and_private_copies() -> None:
    prices = [1.0, 2.0]
    series = CandleSeries.from_arrays([0, H_MS], prices, [2.0, 3.0], [0.5, 1.5], prices, [1.0, 1.0])
    prices[0] = 99.0
    assert series.open[0] == 1.0
    with pytest.raises(ValueError):
        series.close[0] = 5.0


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,open,high,low,close,volume\n2024-01-01T00:00:00+02:00,1,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: .*not marked as UTC"):
        CandleSeries.from_csv(bad)
    bad.write_text("time,o,h,l,c,v\n")
    with pytest.raises(ValueError, match="expected header"):
        CandleSeries.from_csv(bad)


def test_time_slicing_and_windows() -> None:
    s = clean(10)
    assert len(s.between(to_ms(T0) + 2 * H_MS, to_ms(T0) + 5 * H_MS)) == 3
    assert len(s.between(None, None)) == 10
    w = s.window(to_ms(T0) + 5 * H_MS, 3)
    assert [from_ms(int(t)).hour for t in w.open_time] == [2, 3, 4]
    assert len(s.window(to_ms(T0) + 2 * H_MS, 50)) == 2
    # at 05:30 the bar of 05:00 is forming: the closed window ends with 04:00
    closed = s.closed_window(to_ms(T0 + timedelta(hours=5, minutes=30)), H_MS, 2)
    assert [from_ms(int(t)).hour for t in closed.open_time] == [3, 4]
    # exactly at 05:00 the 04:00 bar has just closed
    assert from_ms(int(s.closed_window(to_ms(T0 + timedelta(hours=5)), H_MS, 1).open_time[0])).hour == 4
    assert s.index_of(to_ms(T0) + 3 * H_MS) == 3 and s.index_of(to_ms(T0) + 1) is None


def test_to_candles_round_trips(kucoin: CandleSeries) -> None:
    window = kucoin[:50]
    candles = window.to_candles("BTCUSDT", "1h")
    assert candles[0].open_time == datetime(2023, 7, 14, 5, tzinfo=UTC) and candles[0].symbol == "BTCUSDT"
    again = CandleSeries.from_candles(candles)
    assert np.array_equal(again.close, window.close) and np.array_equal(again.open_time, window.open_time)


# --------------------------------------------------------------------------- hash


def test_hash_is_stable_across_loads_and_pinned(kucoin: CandleSeries) -> None:
    again = CandleSeries.from_csv(KUCOIN)
    assert candles_hash(kucoin) == candles_hash(again)
    # pinned: a change here means every recorded Decision's provenance stops matching
    assert candles_hash(kucoin) == "8691e512014df50cdd4a0e88a985e0caf94b04218962e39c1b139b50041d3675"
    window = kucoin[100:300]
    assert candles_hash(window) == candles_hash(window.to_candles("BTCUSDT", "1h"))
    assert candles_hash(window) != candles_hash(kucoin[101:301])


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
def test_hash_changes_when_one_value_changes_by_one_ulp(kucoin: CandleSeries, column: str) -> None:
    window = kucoin[:200]
    cols = {name: np.array(getattr(window, name)) for name in ("open_time", "open", "high", "low", "close", "volume")}
    cols[column][137] = np.nextafter(cols[column][137], np.inf)
    assert candles_hash(CandleSeries.from_arrays(**cols)) != candles_hash(window)


def test_hash_changes_with_a_time_shift() -> None:
    s = clean(5)
    shifted = CandleSeries.from_arrays(s.open_time + 1, s.open, s.high, s.low, s.close, s.volume)
    assert candles_hash(shifted) != candles_hash(s)
    assert candles_hash(clean(0)) == candles_hash([])


# --------------------------------------------------------------------------- checks


def test_a_clean_window_passes_at_any_instant_before_it_goes_stale() -> None:
    s = clean(24)
    assert check_window(s, HOUR, after(s)) is None
    assert check_window(s, HOUR, after(s, 3599)) is None
    assert check_window(s, HOUR, after(s, 2 * HOUR)) is None  # newest bar one interval late: tolerated


def test_empty_window() -> None:
    issue = check_window(clean(0), HOUR, T0)
    assert issue is not None and issue.check == "empty"


def test_unsorted_and_duplicate_times() -> None:
    times = [to_ms(T0) + i * H_MS for i in (0, 1, 3, 2, 4)]
    s = clean(5, open_time=times)
    issue = check_window(s, HOUR, after(s))
    assert issue is not None and issue.check == "unsorted"
    assert issue.values["time"] == "2024-01-01T02:00:00Z" and issue.values["previous"] == "2024-01-01T03:00:00Z"

    dup = clean(5, open_time=[to_ms(T0) + i * H_MS for i in (0, 1, 2, 2, 3)])
    issue = check_window(dup, HOUR, after(dup))
    assert issue is not None and issue.check == "duplicate" and issue.values["time"] == "2024-01-01T02:00:00Z"


def test_misaligned_timestamp() -> None:
    times = [to_ms(T0) + i * H_MS for i in range(5)]
    times[3] += 60_000
    s = clean(5, open_time=times)
    issue = check_window(s, HOUR, after(s))
    assert issue is not None and issue.check == "misaligned"
    assert issue.values == {
        "time": "2024-01-01T03:01:00Z", "offset_ms": 60_000, "interval_seconds": HOUR, "count": 1,
    }


def test_gap_reports_the_first_missing_time_and_the_count() -> None:
    times = [to_ms(T0) + i * H_MS for i in (0, 1, 2, 5, 6, 8)]
    s = clean(6, open_time=times)
    issue = check_window(s, HOUR, after(s))
    assert issue is not None and issue.check == "gap"
    assert issue.values == {"first_missing": "2024-01-01T03:00:00Z", "missing": 3, "runs": 2}
    assert issue.reason == "3 candles are missing inside the window, the first at 2024-01-01T03:00:00Z."


def test_a_candle_that_has_not_closed_is_in_the_future() -> None:
    s = clean(5)
    issue = check_window(s, HOUR, after(s, -1))
    assert issue is not None and issue.check == "future"
    assert issue.values["time"] == "2024-01-01T04:00:00Z" and issue.values["closes_at"] == "2024-01-01T05:00:00Z"


def test_stale_data() -> None:
    s = clean(5)
    issue = check_window(s, HOUR, after(s, 2 * HOUR + 1))
    assert issue is not None and issue.check == "stale"
    assert issue.values["last_close"] == "2024-01-01T05:00:00Z" and issue.values["age_seconds"] == 2 * HOUR + 1


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ({"high": [101.5, 102.5, 100.5, 104.5, 105.5]}, "ohlc"),  # bar 2: high 100.5 < close 103
        ({"low": [99.0, 100.0, 102.5, 102.0, 103.0]}, "ohlc"),  # bar 2: low 102.5 > open 102
        ({"volume": [10.0, 10.0, -0.1, 10.0, 10.0]}, "negative-volume"),
        ({"close": [101.0, 102.0, float("nan"), 104.0, 105.0]}, "nan"),
        ({"volume": [10.0, 10.0, float("inf"), 10.0, 10.0]}, "nan"),
    ],
)
def test_value_checks(override: dict[str, Any], check: str) -> None:
    s = clean(5, **override)
    issue = check_window(s, HOUR, after(s))
    assert issue is not None and issue.check == check
    assert issue.values["time"] == "2024-01-01T02:00:00Z"
    assert issue.reason.endswith(".") and issue.reason.count(". ") == 0


def test_find_issues_lists_every_problem() -> None:
    times = [to_ms(T0) + i * H_MS for i in (0, 1, 3, 4, 5)]
    s = clean(5, open_time=times, volume=[1.0, -1.0, 1.0, 1.0, 1.0])
    assert [i.check for i in find_issues(s, HOUR, after(s, 5 * HOUR))] == ["gap", "stale", "negative-volume"]


def test_the_five_known_kucoin_gaps_are_found_at_their_time(kucoin: CandleSeries) -> None:
    for gap in KNOWN_GAPS:
        now = gap + timedelta(hours=2)  # the bar after the hole has just closed
        issue = check_window(kucoin.closed_window(to_ms(now), H_MS, 48), HOUR, now)
        assert issue is not None and issue.check == "gap", gap
        assert issue.values == {"first_missing": gap.isoformat().replace("+00:00", "Z"), "missing": 1, "runs": 1}
        # one hour earlier the hole is at the edge: nothing after it yet, and not stale
        before = gap + timedelta(hours=1)
        assert check_window(kucoin.closed_window(to_ms(before), H_MS, 48), HOUR, before) is None


def test_sliding_over_the_whole_year_finds_exactly_the_known_gaps(kucoin: CandleSeries) -> None:
    found: set[str] = set()
    other: list[str] = []
    start = kucoin.first_time
    assert start is not None
    now = start + timedelta(hours=49)
    end = after(kucoin)
    while now <= end:
        issue = check_window(kucoin.closed_window(to_ms(now), H_MS, 48), HOUR, now)
        if issue is not None and issue.check == "gap":
            found.add(str(issue.values["first_missing"]))
        elif issue is not None:
            other.append(issue.check)
        now += timedelta(hours=1)
    assert found == {g.isoformat().replace("+00:00", "Z") for g in KNOWN_GAPS}
    assert other == []
