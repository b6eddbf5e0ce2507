"""Time limits on the work calendar.

A limit is counted in natural hours, working hours, or working days (8 working hours each), as
the case's category says. Working time is 08:30–12:00 and 13:30–18:00 (8 hours) on working
days: Monday to Friday, except the public holidays and plus the make-up working days (调休)
kept in ``WorkCalendarDay`` (editable in the admin; the demo loads them from chinesecalendar).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from apps.cases import reference
from apps.cases.models import Case, Step, TimeBasis
from apps.core.versions import SharedVersion

SHANGHAI = ZoneInfo("Asia/Shanghai")
WORK_PERIODS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(18, 0)))
CALENDAR_VERSION_KEY = "cases:calendar-version"

# Used when the time-limit table has no row for a category (nor its parent).
DEFAULT_LIMIT_HOURS: dict[str, float] = {
    Step.ACCEPT: 2.0,
    Step.DISPATCH: 2.0,
    Step.SIGN: 2.0,
    Step.HANDLE: 40.0,
    Step.VERIFY: 8.0,
    Step.CLOSE: 8.0,
    Step.OVERALL: 80.0,
}
# Fraction of a step's limit after which a case turns yellow, and after the deadline how much
# more of the limit passes before a case with no progress is escalated by the sweep.
YELLOW_FRACTION = 0.8
ESCALATE_AFTER_FRACTION = 0.5


CALENDAR_VERSION = SharedVersion(CALENDAR_VERSION_KEY, "CALENDAR_RECHECK_S")


def calendar_changed() -> None:
    """Call when WorkCalendarDay rows change (admin save) so every process reloads them: this
    one at once, the others within ``CALENDAR_RECHECK_S`` seconds of the commit."""
    CALENDAR_VERSION.changed(forget_local)


def forget_local() -> None:
    """Drop this process's memory of the calendar version (the next limit reads it again)."""
    CALENDAR_VERSION.forget()


def _calendar_version() -> int:
    # One report's clock counts three limits on the calendar: a cache round trip for each cost
    # more than the counting.
    return CALENDAR_VERSION.current()


@lru_cache(maxsize=4)
def _exceptions(version: int) -> dict[dt.date, bool]:
    from apps.cases.models import WorkCalendarDay

    return dict(WorkCalendarDay.objects.values_list("date", "is_workday"))


def is_workday(day: dt.date) -> bool:
    exceptions = _exceptions(_calendar_version())
    if day in exceptions:
        return exceptions[day]
    return day.weekday() < 5


def add_working_hours(start: dt.datetime, hours: float) -> dt.datetime:
    """The moment ``hours`` of working time after ``start`` (which may fall outside work time)."""
    exceptions = _exceptions(_calendar_version())

    def workday(day: dt.date) -> bool:
        return exceptions.get(day, day.weekday() < 5)

    local = start.astimezone(SHANGHAI)
    remaining = dt.timedelta(hours=hours)
    day = local.date()
    cursor = local
    for _ in range(3660):  # ten years of days: a limit can never be longer
        if workday(day):
            for begin, end in WORK_PERIODS:
                period_start = dt.datetime.combine(day, begin, SHANGHAI)
                period_end = dt.datetime.combine(day, end, SHANGHAI)
                if cursor >= period_end:
                    continue
                segment_start = max(cursor, period_start)
                available = period_end - segment_start
                if remaining <= available:
                    return segment_start + remaining
                remaining -= available
                cursor = period_end
        day += dt.timedelta(days=1)
        cursor = dt.datetime.combine(day, dt.time(0, 0), SHANGHAI)
    raise ValueError("time limit too long for the work calendar")


def working_hours_between(start: dt.datetime, end: dt.datetime) -> float:
    """Working time between two moments, in hours (0 when ``end`` is not after ``start``)."""
    if end <= start:
        return 0.0
    exceptions = _exceptions(_calendar_version())
    local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    total = dt.timedelta()
    first, last = local_start.date(), local_end.date()
    full_day = sum((end - begin for begin, end in _period_spans()), dt.timedelta())
    day = first
    while day <= last:
        if exceptions.get(day, day.weekday() < 5):
            if first < day < last:
                # A whole working day inside the span (the screens count overdue cases of many
                # months on every list row: no clock arithmetic for those days).
                total += full_day
            else:
                for begin, finish in WORK_PERIODS:
                    lo = max(local_start, dt.datetime.combine(day, begin, SHANGHAI))
                    hi = min(local_end, dt.datetime.combine(day, finish, SHANGHAI))
                    if hi > lo:
                        total += hi - lo
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600


@lru_cache(maxsize=1)
def _period_spans() -> tuple[tuple[dt.datetime, dt.datetime], ...]:
    day = dt.date(2000, 1, 3)
    return tuple(
        (dt.datetime.combine(day, begin), dt.datetime.combine(day, end))
        for begin, end in WORK_PERIODS
    )


def hours_between(start: dt.datetime, end: dt.datetime, basis: str) -> float:
    """The inverse of ``add_limit``: how many hours of the given basis lie between two moments."""
    if basis == TimeBasis.NATURAL_HOURS:
        return max((end - start).total_seconds() / 3600, 0.0)
    return working_hours_between(start, end)


def add_limit(start: dt.datetime, hours: float, basis: str) -> dt.datetime:
    if basis == TimeBasis.NATURAL_HOURS:
        return start + dt.timedelta(hours=hours)
    return add_working_hours(start, hours)


def limit_hours(case: Case, step: str) -> float:
    """Hours allowed for ``step`` of this case: severity row, then any-severity row, then the
    parent category's rows, then the defaults. Dispatch and close borrow accept and verify."""
    fallbacks: dict[str, str] = {Step.DISPATCH: Step.ACCEPT, Step.CLOSE: Step.VERIFY}
    steps = [step] + ([fallbacks[step]] if step in fallbacks else [])
    category = case.category
    categories = [category.pk] + ([category.parent_id] if category.parent_id else [])
    rows = reference.time_limits(category.pk)
    for cat_id in categories:
        for candidate in steps:
            for severity in (case.severity, None):
                if (cat_id, severity, candidate) in rows:
                    return rows[(cat_id, severity, candidate)]
    return DEFAULT_LIMIT_HOURS[step]


def time_basis(case: Case) -> str:
    return case.category.time_basis
