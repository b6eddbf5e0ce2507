"""What the intake keeps in memory per process, and that a change made anywhere still reaches it:
the category tree and time-limit table (apps/cases/reference.py), the village/town/county of
each grid (apps/org/geo.py), the work calendar version (apps/cases/clock.py), and the ASGI
handler that runs the middleware chain in one thread (config/asgi.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import SyncToAsync
from channels.testing import HttpCommunicator
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from apps.cases import clock, reference
from apps.cases.models import Case, Category, Step, TimeLimit
from apps.org import geo
from apps.org.models import Region
from tests.api.conftest import report_payload

pytestmark = pytest.mark.django_db

URL = "/api/reports/"


def test_a_category_switched_off_in_this_process_is_refused_by_the_next_report(org, client_for):
    client = client_for(org.users["gw"])
    assert client.post(URL, report_payload(org), format="json").status_code == 201
    rubbish = Category.objects.get(pk=org.categories["rubbish"].pk)
    rubbish.is_active = False
    rubbish.save()
    response = client.post(URL, report_payload(org), format="json")
    assert response.status_code == 400
    assert "category" in response.json()["errors"]
    assert Case.objects.count() == 1


def test_a_change_another_process_made_is_picked_up_once_the_version_moves(org, settings):
    settings.REFERENCE_RECHECK_S = 3600  # only the version decides here, never the clock
    rubbish = org.categories["rubbish"].pk
    assert reference.active_leaf(rubbish) is not None
    # Another process switched it off: a row change without a signal here, then its bump.
    Category.objects.filter(pk=rubbish).update(is_active=False)
    assert reference.active_leaf(rubbish) is not None  # the copy is trusted until rechecked
    cache.set(reference.VERSION_KEY, (cache.get(reference.VERSION_KEY) or 1) + 1, timeout=None)
    settings.REFERENCE_RECHECK_S = 0
    assert reference.active_leaf(rubbish) is None


def test_a_category_added_elsewhere_a_moment_ago_is_found_without_waiting(org, settings):
    settings.REFERENCE_RECHECK_S = 3600
    reference.get()  # this process's copy, taken before the new category exists
    parent = org.categories["rubbish"].parent
    created = Category.objects.bulk_create([Category(code="new-leaf", name="新小类", parent=parent)])[0]
    # bulk_create sends no signal: only the other process's bump tells us.
    cache.set(reference.VERSION_KEY, (cache.get(reference.VERSION_KEY) or 1) + 1, timeout=None)
    assert reference.active_leaf(created.pk).name == "新小类"
    assert reference.active_leaf(999_999) is None


def test_a_time_limit_edit_counts_for_the_next_clock(org):
    rubbish = Category.objects.select_related("parent").get(pk=org.categories["rubbish"].pk)
    case = Case(category=rubbish, severity=3)
    before = clock.limit_hours(case, Step.HANDLE)
    assert before == 4  # the any-severity row of the test organisation
    # A row for this severity takes precedence over the any-severity one, from the next clock on …
    row = TimeLimit.objects.create(category=rubbish, severity=3, step=Step.HANDLE, hours=9)
    assert clock.limit_hours(case, Step.HANDLE) == 9
    row.hours = 11
    row.save()
    assert clock.limit_hours(case, Step.HANDLE) == 11
    # … and deleting it brings the any-severity row back.
    row.delete()
    assert clock.limit_hours(case, Step.HANDLE) == before


def test_the_calendar_version_is_read_again_after_a_change(org, settings):
    from apps.cases.models import WorkCalendarDay

    settings.CALENDAR_RECHECK_S = 3600
    monday = dt.date(2031, 3, 3)
    assert clock.is_workday(monday)
    WorkCalendarDay.objects.create(date=monday, is_workday=False, note="测试假日")
    clock.calendar_changed()
    assert not clock.is_workday(monday)


def test_a_report_is_filed_under_the_town_and_county_the_map_index_knows(org, client_for):
    grid = org.grids["east-v1-g1"]
    place = geo.place_of(grid.pk)
    assert (place.village_id, place.town_id, place.county_id) == (
        grid.village_id, grid.village.parent_id, grid.village.parent.parent_id)
    response = client_for(org.users["gw"]).post(URL, report_payload(org), format="json")
    assert response.status_code == 201
    assert response.json()["grid_name"] == grid.name
    case = Case.objects.get(pk=response.json()["id"])
    assert (case.village_id, case.town_id, case.county_id, case.holder_id) == (
        grid.village_id, grid.village.parent_id, grid.village.parent.parent_id, grid.village_id)


def test_moving_a_village_to_another_town_in_the_admin_reaches_the_index(org, client):
    from django.contrib.auth.models import User

    village = org.grids["east-v1-g1"].village
    other_town = Region.objects.filter(tier=village.parent.tier).exclude(pk=village.parent_id).first()
    assert geo.place_of(org.grids["east-v1-g1"].pk).town_id == village.parent_id
    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    response = client.post(f"/admin/org/region/{village.pk}/change/", {
        "code": other_town.code[:9] + "901", "name": village.name, "tier": village.tier,
        "parent": other_town.pk,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert geo.place_of(org.grids["east-v1-g1"].pk).town_id == other_town.pk


@pytest.mark.django_db(transaction=True)
def test_the_asgi_app_enters_the_sync_middleware_chain_once_and_serves_a_report(org_tx):
    from config.asgi import application, django_asgi_app

    assert isinstance(django_asgi_app._middleware_chain, SyncToAsync)
    token = Token.objects.create(user=org_tx.users["gw"])
    body = json.dumps(report_payload(org_tx)).encode()

    async def post():
        communicator = HttpCommunicator(application, "POST", URL, body=body, headers=[
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Token {token.key}".encode()),
            (b"host", b"localhost")])
        return await communicator.get_response(timeout=30)

    # An event loop of its own, in a thread of its own, as a server has (another test of the
    # run may have left one set on this thread).
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(asyncio.run, post()).result()
        again = pool.submit(asyncio.run, post()).result()
    assert first["status"] == 201, first["body"][:500]
    assert again["status"] == 200 and (b"idempotent-replay", b"true") in [(k.lower(), v) for k, v in again["headers"]]
    assert Case.objects.count() == 1
