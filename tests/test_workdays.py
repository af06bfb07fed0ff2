"""Deadlines in Chinese working days: holidays and 调休 make-up days from `chinesecalendar`."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhunru.errors import InputError
from zhunru.office.workdays import (CalendarRangeError, add_workdays, china_date, is_workday, supported_years,
                             workdays_between)

D = dt.date


def test_holidays_and_make_up_days():
    assert not is_workday(D(2024, 10, 1))  # National Day
    assert not is_workday(D(2024, 10, 7))  # a Monday inside the Golden Week
    assert is_workday(D(2024, 9, 29))  # a Sunday made a working day (调休)
    assert is_workday(D(2024, 10, 12))  # a Saturday made a working day (调休)
    assert is_workday(D(2025, 1, 26))  # Sunday before the 2025 Spring Festival (调休)
    assert not is_workday(D(2025, 1, 28)) and not is_workday(D(2025, 2, 4))  # Spring Festival


def test_fifteen_working_days_across_national_day():
    # 15 working days from Friday 2024-09-27: 9-29 (调休), 9-30, 10-8…10-11, 10-12 (调休), 10-14…10-18,
    # 10-21…10-23. Counting weekdays alone would end on 10-18.
    assert add_workdays(D(2024, 9, 27), 15) == D(2024, 10, 23)
    assert workdays_between(D(2024, 9, 30), D(2024, 10, 23)) == 13
    assert workdays_between(D(2024, 10, 23), D(2024, 9, 30)) == -13
    assert workdays_between(D(2024, 10, 1), D(2024, 10, 7)) == 0
    assert add_workdays(D(2024, 10, 1), 0) == D(2024, 10, 1)
    assert add_workdays(D(2024, 9, 30), 1) == D(2024, 10, 8)


def test_thirty_working_days_across_spring_festival():
    # 2025-01-20 (Mon) + 30 working days: 1-21…1-24 (4), 1-26 调休 (5), 1-27 (6), the holiday
    # 1-28…2-4 skipped, 2-5…2-7 (9), 2-8 调休 (10), then four full weeks: 2-10 … 3-7 (30)
    end = add_workdays(D(2025, 1, 20), 30)
    assert end == D(2025, 3, 7)
    assert workdays_between(D(2025, 1, 20), end) == 30


def test_dates_beyond_the_calendar_are_a_clear_error():
    low, high = supported_years()
    assert low <= 2024 <= high
    with pytest.raises(CalendarRangeError) as err:
        add_workdays(D(high, 12, 20), 30)
    assert isinstance(err.value, InputError)
    assert f"{high + 1}-01-" in str(err.value) and f"covers {low}–{high}" in str(err.value)
    assert "pip install -U chinesecalendar" in str(err.value)
    with pytest.raises(CalendarRangeError):
        workdays_between(D(low - 1, 6, 1), D(2024, 1, 1))


def test_china_date_of_a_utc_timestamp():
    assert china_date("2024-09-27T17:00:00+00:00") == D(2024, 9, 28)
    assert china_date("2024-09-27T15:59:59+00:00") == D(2024, 9, 27)
    assert china_date("2024-09-27T15:59:59") == D(2024, 9, 27)  # naive: taken as UTC


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=D(2010, 1, 1), max_value=D(2024, 6, 30)), st.integers(0, 60))
def test_add_and_count_agree(start, days):
    end = add_workdays(start, days)
    assert workdays_between(start, end) == days
    assert days == 0 or is_workday(end)
    # at most 60 working days take fewer than 60 × 7 / 5 + 30 calendar days, holidays included
    assert (end - start).days <= days * 7 // 5 + 30
