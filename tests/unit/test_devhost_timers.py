from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devhost.timers import ScheduleError, next_occurrence


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 * * * * *", datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC), datetime(2024, 1, 1, 0, 1, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2024, 1, 1, 0, 5, tzinfo=UTC), datetime(2024, 1, 1, 0, 10, tzinfo=UTC)),
        ("*/10 * * * * *", datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 10, tzinfo=UTC)),
        ("0 30 9 * * 1-5", datetime(2024, 1, 6, 12, tzinfo=UTC), datetime(2024, 1, 8, 9, 30, tzinfo=UTC)),
    ],
)
def test_ncrontab_has_seconds_first(schedule, after, expected):
    assert next_occurrence(schedule, after) == expected


def test_five_field_cron_is_refused():
    with pytest.raises(ScheduleError, match="6 fields"):
        next_occurrence("* * * * *", datetime(2024, 1, 1, tzinfo=UTC))
