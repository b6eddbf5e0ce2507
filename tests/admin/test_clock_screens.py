"""One clock everywhere (issue #17, item 6): every screen that shows a case's clock — the desk's
case list, case page, dashboard and export, the field app's API, the public tracking page, the
evaluation colour board — shows the same deadline, colour and countdown, from
``selectors.case_clock``; and the desk's date-time picker for a dispatch deadline (item 9)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client
from django.utils import timezone

from apps.cases import clock as work_clock
from apps.cases.models import Case, Colour
from apps.cases.selectors import case_clock, deadline_preview
from tests.admin.conftest import at_town, num
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _client(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


def _stale(case: Case, *, stored: str, deadline_in: dt.timedelta, yellow_in: dt.timedelta) -> Case:
    """The clock moved on and the sweep has not run yet: the stored colour is ``stored``."""
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(
        colour=stored, step_deadline=now + deadline_in, yellow_at=now + yellow_in
    )
    case.refresh_from_db()
    return case


def _texts(case: Case) -> set[str]:
    # The countdown may cross a minute while the pages render: either side is the same clock.
    now = timezone.now()
    return {case_clock(case, now).text, case_clock(case, now + dt.timedelta(minutes=2)).text}


SCENARIOS = {
    # An overdue case the sweep still has as yellow (the "yellow bar beside 已超时" of the issue).
    "overdue, stored yellow": (
        Colour.YELLOW,
        -dt.timedelta(days=10),
        -dt.timedelta(days=11),
        Colour.RED,
    ),
    # Past its yellow mark, stored blue.
    "yellow, stored blue": (
        Colour.BLUE,
        dt.timedelta(days=3),
        -dt.timedelta(hours=1),
        Colour.YELLOW,
    ),
    # An extension moved the deadline far ahead while the row still says red.
    "blue, stored red by hand": (
        Colour.RED,
        dt.timedelta(days=30),
        dt.timedelta(days=20),
        Colour.BLUE,
    ),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_screen_shows_the_same_deadline_colour_and_countdown(org, scenario):
    stored, deadline_in, yellow_in, shown = SCENARIOS[scenario]
    case = _stale(at_town(org), stored=stored, deadline_in=deadline_in, yellow_in=yellow_in)
    clock = case_clock(case)
    assert clock.colour == shown
    texts = _texts(case)
    local = timezone.localtime(case.step_deadline)

    # 1. The desk's case list: the 预警 badge and the 本环节时限 column.
    desk = _client("td")
    page = desk.get(f"/admin/cases/case/?q={num(case)}").content.decode()
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [r for r in body.split("<tr")[1:] if f"/admin/cases/case/{case.pk}/change/" in r]
    assert len(rows) == 1, "the case is not in the list"
    assert f"ld-c-{shown}" in rows[0]
    assert any(t in html.unescape(rows[0]) for t in texts)
    assert "本环节时限" in page

    # ... and its colour filter finds it under the colour it shows, not the stored one.
    for colour in (shown, stored):
        listed = desk.get("/admin/cases/case/", {"colour__exact": colour}).content.decode()
        assert (f"/admin/cases/case/{case.pk}/change/" in listed) == (colour == shown)

    # 2. The desk's case page: the header badge, the countdown, and the date under its label.
    page = html.unescape(desk.get(f"/admin/cases/case/{case.pk}/change/").content.decode())
    assert f'data-colour="{shown}"' in page
    assert f"本环节时限（{clock.deadline_label.split('（')[1]}" in page
    assert f"{local:%Y-%m-%d %H:%M}" in page and any(t in page for t in texts)
    assert "/track/clock/" in page  # the rule, one click away

    # 3. The desk's dashboard tiles count the case under the colour it shows.
    stats = desk.get("/admin/desk/stats.json").json()
    tiles = {row["colour"]: row["count"] for row in stats["open_by_colour"]}
    assert tiles[shown] == 1 and sum(tiles.values()) == 1

    # 4. The field app's API (list and detail): colour, deadline and clock.
    api = _client("td").get(f"/api/cases/{case.pk}/").json()
    assert api["colour"] == shown and api["clock"]["colour"] == shown
    assert api["deadline"] == api["clock"]["deadline"]
    assert dt.datetime.fromisoformat(api["deadline"]) == case.step_deadline
    assert api["clock"]["text"] in texts and api["clock"]["deadline_label"] == clock.deadline_label

    # 5. The public tracking page: the colour words, the date and the countdown.
    public = html.unescape(Client().get(f"/track/t/{case.public_token}/").content.decode())
    assert f"colour-{shown}" in public and "预计办结" not in public
    assert clock.deadline_label in public and any(t in public for t in texts)
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" in public

    # 6. The evaluation colour board.
    board = _client("td").get("/evaluation/board.json").json()
    assert board["totals"][shown] == 1
    assert sum(board["totals"].get(c, 0) for c in ("red", "yellow", "blue")) == 1


def test_the_rule_page_says_which_deadline_drives_the_colour(client):
    body = client.get("/track/clock/").content.decode()
    assert "本环节时限" in body and "办结时限" in body and "到点即为红" in body


# --- the deadline picker (item 9) ------------------------------------------------------------


def _local_input(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_picked_moment_becomes_working_hours_and_the_dispatch_deadline(org):
    case = at_town(org)
    until = work_clock.add_working_hours(timezone.now(), 20)
    until = until.replace(second=0, microsecond=0)
    response = _client("td").post(
        f"/admin/cases/case/{case.pk}/act/dispatch/",
        {
            "dispatch-lead_unit": org.units["east-cg"].pk,
            "dispatch-deadline_hours_until": _local_input(until),
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert abs(case.overall_deadline - until) < dt.timedelta(minutes=2)
    hours = case.events.get(action="dispatch").data["deadline_hours"]
    assert 19.9 < hours <= 20


@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (lambda now: now - dt.timedelta(hours=1), "截止时间必须晚于现在"),
        (lambda now: now + dt.timedelta(days=6 * 365), "不能超过 8760"),
    ],
)
def test_the_picker_refuses_a_past_or_too_far_moment_in_chinese(org, moment, words):
    case = at_town(org)
    until = _local_input(moment(timezone.now()))
    response = _client("td").post(
        f"/admin/cases/case/{case.pk}/act/dispatch/",
        {"dispatch-lead_unit": org.units["east-cg"].pk, "dispatch-deadline_hours_until": until},
    )
    assert response.status_code == 400 and words in response.content.decode()
    case.refresh_from_db()
    assert case.lead_unit_id is None
    preview = _client("td").get(f"/admin/cases/case/{case.pk}/deadline-preview/", {"until": until})
    assert preview.status_code == 400 and words in preview.json()["error"]


def test_the_preview_says_the_working_time_result(org):
    case = at_town(org)
    until = work_clock.add_working_hours(timezone.now(), 12).replace(second=0, microsecond=0)
    data = (
        _client("td")
        .get(f"/admin/cases/case/{case.pk}/deadline-preview/", {"until": _local_input(until)})
        .json()
    )
    expected = deadline_preview(case, until=until)
    assert data["ok"] and data["text"] == expected.text
    assert data["text"].startswith("合 ") and "个工作小时，截止" in data["text"]
    by_hours = (
        _client("td").get(f"/admin/cases/case/{case.pk}/deadline-preview/", {"hours": "8"}).json()
    )
    assert by_hours["text"].startswith("合 8 个工作小时，截止")


def test_a_moment_after_hours_ends_at_the_last_working_minute_before_it(org):
    case = at_town(org)
    # Next Saturday noon (no calendar rows in the tests: an ordinary weekend).
    today = timezone.localdate()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    until = timezone.make_aware(dt.datetime.combine(saturday, dt.time(12, 0)))
    preview = deadline_preview(case, until=until)
    friday = timezone.localtime(preview.deadline)
    assert friday.weekday() == 4 and (friday.hour, friday.minute) == (18, 0)


def test_the_preview_needs_the_act_permission_and_a_visible_case(org):
    case = at_town(org)
    assert _client("td_w").get(
        f"/admin/cases/case/{case.pk}/deadline-preview/", {"hours": "8"}
    ).status_code in (302, 403, 404)


def test_bulk_dispatch_converts_a_picked_moment_for_each_case_on_its_own_calendar(org):
    working = at_town(org)
    natural = at_town(org, category="fire")
    until = work_clock.add_working_hours(timezone.now(), 16).replace(second=0, microsecond=0)
    ids = [working.pk, natural.pk]
    client = _client("td")
    page = client.post(
        "/admin/cases/case/", {"action": "dispatch_selected", "_selected_action": ids}
    )
    assert 'type="datetime-local"' in page.content.decode()
    assert "/deadline-preview/" in page.content.decode()
    client.post(
        "/admin/cases/case/",
        {
            "action": "dispatch_selected",
            "_selected_action": ids,
            "apply": "1",
            "lead_unit": org.units["east-cg"].pk,
            "deadline_hours_until": _local_input(until),
        },
    )
    for case in (working, natural):
        case.refresh_from_db()
        assert case.lead_unit_id == org.units["east-cg"].pk
        # Both end at the picked moment, though one counts working and one natural hours.
        assert abs(case.overall_deadline - until) < dt.timedelta(minutes=2)
    hours = {
        c.pk: c.events.get(action="dispatch").data["deadline_hours"] for c in (working, natural)
    }
    assert hours[natural.pk] > hours[working.pk]


def test_bulk_dispatch_refuses_a_past_moment(org):
    case = at_town(org)
    past = _local_input(timezone.now() - dt.timedelta(hours=3))
    page = _client("td").post(
        "/admin/cases/case/",
        {
            "action": "dispatch_selected",
            "_selected_action": [case.pk],
            "apply": "1",
            "lead_unit": org.units["east-cg"].pk,
            "deadline_hours_until": past,
        },
    )
    assert "截止时间必须晚于现在" in page.content.decode()
    case.refresh_from_db()
    assert case.lead_unit_id is None
