"""The work calendar (工作日历): public holidays on weekdays and make-up working days (调休) on
weekends, which the clocks count working hours and days on (``apps.cases.clock``).

The State Council publishes each year's arrangement in November or December; the
``chinesecalendar`` package carries it once a release has caught up. ``work_calendar_load``
fills a year from it (``manage.py work_calendar_load --year 2027``); rows a county typed by hand
for local days off are kept. Loading the same year again changes nothing. In December the beat
task ``check_work_calendar`` warns while next year is still missing, and the desk shows it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.cases.clock import calendar_changed
from apps.cases.models import WorkCalendarDay

log = logging.getLogger(__name__)

# chinesecalendar's English holiday names → the names on a Chinese calendar.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


class CalendarDataMissing(Exception):
    """chinesecalendar has no arrangement for the year (not yet published, or not yet released)."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"chinesecalendar 尚无 {year} 年的节假日安排（国务院办公厅通知发布后，升级 chinesecalendar "
            f"再运行本命令；也可在后台“工作日历”中逐日录入）。"
        )
        self.year = year


@dataclass
class CalendarLoad:
    year: int
    created: list[dt.date] = field(default_factory=list)
    updated: list[dt.date] = field(default_factory=list)
    unchanged: int = 0
    # Rows of the year that chinesecalendar does not have (a county's own days): kept as they are.
    kept: list[dt.date] = field(default_factory=list)


def published_days(year: int) -> dict[dt.date, tuple[bool, str]]:
    """The year's exceptions to Monday–Friday: date → (is a working day, note)."""
    import chinese_calendar

    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError as exc:
        raise CalendarDataMissing(year) from exc
    days: dict[dt.date, tuple[bool, str]] = {}
    day = dt.date(year, 1, 1)
    while day.year == year:
        is_holiday, holiday = chinese_calendar.get_holiday_detail(day)
        label = HOLIDAY_NAMES.get(holiday, holiday or "")
        if day.weekday() < 5 and is_holiday and holiday:
            days[day] = (False, f"{label}放假")
        elif day.weekday() >= 5 and not is_holiday:
            days[day] = (True, f"{label}调休上班".strip())
        day += dt.timedelta(days=1)
    return days


def work_calendar_load(*, year: int, dry_run: bool = False) -> CalendarLoad:
    """Bring the year's rows in line with chinesecalendar, all or nothing; ``dry_run`` only
    says what would change. Every process reloads the calendar after the commit."""
    wanted = published_days(year)
    result = CalendarLoad(year=year)
    with transaction.atomic():
        existing = {
            row.date: row
            for row in WorkCalendarDay.objects.select_for_update().filter(date__year=year)
        }
        to_create, to_update = [], []
        for day, (is_workday, note) in sorted(wanted.items()):
            row = existing.get(day)
            if row is None:
                to_create.append(WorkCalendarDay(date=day, is_workday=is_workday, note=note))
                result.created.append(day)
            elif (row.is_workday, row.note) != (is_workday, note):
                row.is_workday, row.note = is_workday, note
                to_update.append(row)
                result.updated.append(day)
            else:
                result.unchanged += 1
        result.kept = sorted(set(existing) - set(wanted))
        if not dry_run and (to_create or to_update):
            WorkCalendarDay.objects.bulk_create(to_create)
            WorkCalendarDay.objects.bulk_update(to_update, ["is_workday", "note"])
            calendar_changed()
    return result


def year_is_loaded(year: int) -> bool:
    return WorkCalendarDay.objects.filter(date__year=year).exists()


def calendar_warning(today: dt.date | None = None) -> str | None:
    """In December, while next year has no calendar: what the county administrators must do."""
    today = today or timezone.localdate()
    if today.month != 12 or year_is_loaded(today.year + 1):
        return None
    return (
        f"{today.year + 1} 年工作日历尚未录入：节假日与调休未知，时限将按周一至周五计算。"
        f"请运行 python manage.py work_calendar_load --year {today.year + 1}，"
        f"或在“工作日历”中录入。"
    )
