"""Deadlines in Chinese working days (工作日), from the maintained `chinesecalendar` package:
public holidays, and the weekend days made working days in exchange (调休), as the State
Council announces them each year — not a hand-kept table.

The package knows the years it has been released for; a date outside them raises
CalendarRangeError (an InputError, exit 2) saying so, never a silent guess from weekdays.
"""
from __future__ import annotations

import datetime as dt

from zhunru.errors import InputError

CHINA = dt.timezone(dt.timedelta(hours=8))  # dates of acts are China Standard Time dates


class CalendarRangeError(InputError):
    """A date the installed calendar has no holiday data for."""


def _calendar():
    import chinese_calendar

    return chinese_calendar


def supported_years() -> tuple[int, int]:
    years = [d.year for d in _calendar().holidays]
    return min(years), max(years)


def _check(day: dt.date) -> None:
    low, high = supported_years()
    if not low <= day.year <= high:
        raise CalendarRangeError(
            f"date: {day} is outside the working-day calendar (chinesecalendar covers {low}–{high}; "
            "upgrade it with `pip install -U chinesecalendar` once the State Council has announced "
            f"the holidays of {day.year})")


def is_workday(day: dt.date) -> bool:
    """A working day: a weekday that is no public holiday, or a 调休 make-up Saturday/Sunday."""
    _check(day)
    return _calendar().is_workday(day)


def add_workdays(start: dt.date, days: int) -> dt.date:
    """The `days`-th working day after `start` (start itself not counted): the last day of a
    period of `days` working days counted from `start`. 0 gives `start`."""
    if days < 0:
        raise ValueError("days must be ≥ 0")
    day, left = start, days
    while left:
        day += dt.timedelta(days=1)
        if is_workday(day):
            left -= 1
    return day


def workdays_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end`; negative when `end` is before
    `start` (working days from `end`, exclusive, up to `start`, inclusive, counted negative)."""
    if end < start:
        return -workdays_between(end, start)
    _check(start)
    _check(end)
    return len(_calendar().get_workdays(start + dt.timedelta(days=1), end)) if end > start else 0


def china_date(timestamp: str) -> dt.date:
    """The date in China of an ISO timestamp (the log stores UTC)."""
    moment = dt.datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(CHINA).date()


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA).date()
