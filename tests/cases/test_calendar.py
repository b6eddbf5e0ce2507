"""Time limits on the work calendar: working hours 08:30–12:00 and 13:30–18:00, Monday to Friday,
minus public holidays, plus the make-up working days (调休) kept in WorkCalendarDay."""

import datetime as dt

import pytest

from apps.cases import clock, services
from apps.cases.models import Case, Step, TimeBasis, WorkCalendarDay

pytestmark = pytest.mark.django_db


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


@pytest.fixture(autouse=True)
def fresh_calendar():
    # The calendar is cached per process by version; every test starts from its own rows.
    clock.calendar_changed()
    yield
    clock.calendar_changed()


def holidays(*days: tuple[str, bool, str]) -> None:
    for day, is_workday, note in days:
        WorkCalendarDay.objects.create(
            date=dt.date.fromisoformat(day), is_workday=is_workday, note=note
        )
    clock.calendar_changed()


WH, WD, NH = TimeBasis.WORKING_HOURS, TimeBasis.WORKING_DAYS, TimeBasis.NATURAL_HOURS
LABOUR_DAY = [(day, False, "劳动节") for day in ("2025-05-01", "2025-05-02", "2025-05-05")]
MAKE_UP_SATURDAY = [("2025-10-11", True, "国庆调休上班")]


@pytest.mark.parametrize(
    ("start", "hours", "basis", "days", "end"),
    [
        pytest.param(
            "2025-03-05 09:00", 2, WH, [], "2025-03-05 11:00", id="inside-one-morning-same-morning"
        ),
        pytest.param("2025-03-05 11:00", 2, WH, [], "2025-03-05 14:30", id="lunch-does-not-count"),
        pytest.param(
            "2025-03-05 21:40", 1, WH, [], "2025-03-06 09:30", id="after-hours-next-working-morning"
        ),
        # Friday 16:00 + 4 working hours: 2 on Friday, 2 on Monday morning.
        pytest.param("2025-03-07 16:00", 4, WH, [], "2025-03-10 10:30", id="skips-the-weekend"),
        # Labour Day 2025: Thursday 1 May to Monday 5 May off.
        pytest.param(
            "2025-04-30 17:00", 3, WH, LABOUR_DAY, "2025-05-06 10:30", id="skips-a-public-holiday"
        ),
        # 调休: Saturday 11 October 2025 was worked in exchange for the National Day holiday.
        pytest.param(
            "2025-10-10 17:00", 4, WH, MAKE_UP_SATURDAY, "2025-10-11 11:30", id="make-up-saturday"
        ),
        pytest.param(
            "2025-10-10 17:00", 4, WH, [], "2025-10-13 11:30", id="without-the-make-up-row-monday"
        ),
        # 2 working days from Friday noon: Friday afternoon (4.5 h), Monday (8 h), Tuesday 3.5 h.
        pytest.param("2025-03-07 12:00", 16, WD, [], "2025-03-11 12:00", id="working-days-of-8-h"),
        pytest.param(
            "2025-04-30 22:00", 4, NH, LABOUR_DAY[:1], "2025-05-01 02:00", id="natural-hours"
        ),
    ],
)
def test_a_limit_ends_on_the_work_calendar(start, hours, basis, days, end):
    holidays(*days)
    assert clock.add_limit(at(start), hours, basis) == at(end)


def test_a_make_up_saturday_is_a_working_day():
    holidays(*MAKE_UP_SATURDAY)
    assert clock.is_workday(dt.date(2025, 10, 11)) and not clock.is_workday(dt.date(2025, 10, 12))


def test_working_hours_between_is_the_inverse_of_adding_them():
    holidays(("2025-10-11", True, "国庆调休上班"), ("2025-10-08", False, "国庆"))
    for start, hours in [
        ("2025-10-07 15:00", 13.25),
        ("2025-03-07 11:00", 2),
        ("2025-03-08 10:00", 8),
    ]:
        end = clock.add_limit(at(start), hours, TimeBasis.WORKING_HOURS)
        assert clock.hours_between(at(start), end, TimeBasis.WORKING_HOURS) == pytest.approx(hours)


def test_a_case_clock_follows_its_category(org):
    """Rubbish counts working hours (accept: 2 h); a fire hazard counts natural hours (1 h)."""
    friday_evening = at("2025-03-07 17:30")
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    rubbish = Case(category=org.categories["rubbish"], severity=3, lat=lat, lng=lng)
    fire = Case(category=org.categories["fire"], severity=3, lat=lat, lng=lng)
    rubbish_clock = services.clock_fields(rubbish, status="reported", now=friday_evening)
    fire_clock = services.clock_fields(fire, status="reported", now=friday_evening)
    assert rubbish_clock["step"] == Step.ACCEPT
    assert rubbish_clock["step_deadline"] == at("2025-03-10 10:00")  # 0.5 h Friday, 1.5 h Monday
    assert fire_clock["step_deadline"] == at("2025-03-07 18:30")
    # Yellow at 80 % of the limit counted in the limit's own time, escalation half a limit after
    # the deadline: the rubbish case turns yellow on Monday morning, not on Sunday night.
    assert rubbish_clock["yellow_at"] == at("2025-03-10 09:36")
    assert fire_clock["yellow_at"] == at("2025-03-07 18:18")
    assert fire_clock["escalate_at"] == at("2025-03-07 19:00")
    assert rubbish_clock["sweep_due_at"] == rubbish_clock["yellow_at"]


def test_an_admin_edit_of_the_calendar_is_seen_after_calendar_changed():
    start = at("2025-10-10 17:00")
    assert clock.add_limit(start, 4, TimeBasis.WORKING_HOURS) == at("2025-10-13 11:30")
    WorkCalendarDay.objects.create(date=dt.date(2025, 10, 11), is_workday=True, note="调休")
    clock.calendar_changed()
    assert clock.add_limit(start, 4, TimeBasis.WORKING_HOURS) == at("2025-10-11 11:30")
