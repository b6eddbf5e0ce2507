"""A county loads next year's holidays and 调休 days with one command, and hears in December
when they are missing."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.management import CommandError, call_command

from apps.cases import work_calendar
from apps.cases.models import WorkCalendarDay
from apps.cases.tasks import check_work_calendar

pytestmark = pytest.mark.django_db


def rows(year: int) -> dict[dt.date, tuple[bool, str]]:
    return {r.date: (r.is_workday, r.note) for r in WorkCalendarDay.objects.filter(date__year=year)}


def test_a_year_loads_its_holidays_and_make_up_days_once(capsys):
    call_command("work_calendar_load", "--year", "2026")
    loaded = rows(2026)
    assert loaded[dt.date(2026, 10, 1)] == (False, "国庆节放假")
    assert loaded[dt.date(2026, 1, 1)] == (False, "元旦放假")
    make_up = [day for day, (workday, _) in loaded.items() if workday]
    assert make_up and all(day.weekday() >= 5 for day in make_up)
    assert all(day.weekday() < 5 for day, (workday, _) in loaded.items() if not workday)
    first = capsys.readouterr().out
    assert f"已新增 {len(loaded)} 天" in first

    call_command("work_calendar_load", "--year", "2026")
    assert rows(2026) == loaded
    assert "已新增 0 天，已更正 0 天" in capsys.readouterr().out


def test_a_wrong_row_is_corrected_and_a_countys_own_day_is_kept(capsys):
    WorkCalendarDay.objects.create(date=dt.date(2026, 10, 1), is_workday=True, note="录错了")
    own = WorkCalendarDay.objects.create(date=dt.date(2026, 7, 15), is_workday=False, note="县庆")
    result = work_calendar.work_calendar_load(year=2026)
    assert result.updated == [dt.date(2026, 10, 1)]
    assert result.kept == [own.date]
    assert rows(2026)[dt.date(2026, 10, 1)] == (False, "国庆节放假")
    assert rows(2026)[own.date] == (False, "县庆")


def test_a_dry_run_writes_nothing(capsys):
    call_command("work_calendar_load", "--year", "2026", "--dry-run")
    assert not WorkCalendarDay.objects.exists()
    assert "将新增" in capsys.readouterr().out


def test_a_year_without_published_data_is_refused_plainly():
    with pytest.raises(CommandError, match="chinesecalendar 尚无 2099 年的节假日安排"):
        call_command("work_calendar_load", "--year", "2099")
    assert not WorkCalendarDay.objects.exists()


def test_december_without_next_years_calendar_warns(monkeypatch, caplog):
    assert "2027 年工作日历尚未录入" in work_calendar.calendar_warning(dt.date(2026, 12, 6))
    assert work_calendar.calendar_warning(dt.date(2026, 11, 30)) is None

    monkeypatch.setattr(work_calendar.timezone, "localdate", lambda: dt.date(2026, 12, 6))
    with caplog.at_level(logging.WARNING, logger="apps.cases.tasks"):
        check_work_calendar.apply()
    assert any("work_calendar_load --year 2027" in r.getMessage() for r in caplog.records)

    WorkCalendarDay.objects.create(date=dt.date(2027, 1, 1), is_workday=False, note="元旦放假")
    assert work_calendar.calendar_warning(dt.date(2026, 12, 6)) is None
