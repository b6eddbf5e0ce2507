"""The demo county generator (manage.py demo_county)."""

from __future__ import annotations

import io

import pytest
import shapely
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from shapely.geometry import shape

from apps.cases.models import (
    Case,
    CaseEvent,
    Category,
    RoutingRule,
    Status,
    TimeLimit,
    WorkCalendarDay,
)
from apps.demo.county import DEMO_PASSWORD, build_demo_county
from apps.org import geo
from apps.org.models import Grid, Platform, Profile, Region, Role, Tier, Unit, UnitKind
from apps.places.models import Place, PlaceKind, PlaceStatus

pytestmark = pytest.mark.django_db


def _snapshot() -> dict:
    return {
        "regions": list(Region.objects.order_by("code").values_list("code", "name")),
        "grids": list(
            Grid.objects.order_by("code").values_list(
                "code", "name", "centroid_lat", "centroid_lng"
            )
        ),
        "people": list(
            Profile.objects.order_by("user__username").values_list(
                "user__username", "role", "display_name"
            )
        ),
        "places": list(Place.objects.order_by("code").values_list("code", "name", "kind__code")),
    }


def _wipe() -> None:
    from django.contrib.auth.models import User

    Place.objects.all().delete()
    PlaceKind.objects.all().delete()
    for model in (RoutingRule, TimeLimit):
        model.objects.all().delete()
    Category.objects.filter(parent__isnull=False).delete()
    Category.objects.all().delete()
    Profile.objects.all().delete()
    User.objects.all().delete()
    Unit.objects.filter(
        kind__in=[UnitKind.STATIONED, UnitKind.TOWN_OFFICE, UnitKind.WORKSTATION]
    ).delete()
    Unit.objects.all().delete()
    Platform.objects.all().delete()
    Grid.objects.all().delete()
    Region.objects.filter(tier=Tier.VILLAGE).delete()
    Region.objects.filter(tier=Tier.TOWN).delete()
    Region.objects.all().delete()


@pytest.fixture
def demo():
    return build_demo_county(seed=7)


def test_the_same_seed_gives_the_same_county_and_another_seed_a_different_one():
    build_demo_county(seed=7)
    first = _snapshot()
    _wipe()
    build_demo_county(seed=7)
    assert _snapshot() == first
    _wipe()
    build_demo_county(seed=8)
    assert _snapshot() != first


def test_it_has_the_shape_the_brief_asks_for(demo):
    assert Region.objects.filter(tier=Tier.COUNTY).count() == 1
    assert Region.objects.filter(tier=Tier.TOWN).count() == 8
    assert 55 <= Region.objects.filter(tier=Tier.VILLAGE).count() <= 65
    assert Grid.objects.count() == 200
    assert Unit.objects.filter(kind=UnitKind.DEPARTMENT).count() >= 12
    assert Platform.objects.count() == 8 * 4
    assert (
        Unit.objects.filter(kind=UnitKind.WORKSTATION).count()
        == Region.objects.filter(tier=Tier.VILLAGE).count()
    )
    assert Profile.objects.filter(role=Role.GRID_WORKER).count() == 200
    for role in Role.values:
        assert Profile.objects.filter(role=role).exists(), role
    parents = Category.objects.filter(parent__isnull=True).count()
    leaves = Category.objects.filter(parent__isnull=False).count()
    assert parents == 8 and 38 <= leaves <= 42
    assert RoutingRule.objects.count() == 2 * leaves
    assert set(TimeLimit.objects.values_list("step", flat=True)) == {
        "accept",
        "dispatch",
        "sign",
        "handle",
        "verify",
        "close",
        "overall",
    }
    assert WorkCalendarDay.objects.filter(
        date__year=2025, is_workday=True
    ).exists()  # 调休 make-up days
    assert WorkCalendarDay.objects.filter(date="2025-10-01", is_workday=False).exists()


def test_the_county_ships_its_place_kinds_and_a_few_hundred_places(demo):
    assert set(PlaceKind.objects.values_list("code", flat=True)) == {
        "building",
        "sanxiao",
        "qunzu",
        "construction",
        "chemical",
        "key_area",
        "fire_station",
    }
    assert 250 <= Place.objects.count() <= 400
    assert Place.objects.filter(status=PlaceStatus.PENDING).count() == 8
    for place in Place.objects.select_related("grid")[:50]:
        assert place.code.startswith(place.grid.code) and len(place.code) == 20
        assert place.events.exists()


def test_every_region_and_grid_code_starts_with_its_parents_code(demo):
    for region in Region.objects.exclude(tier=Tier.COUNTY).select_related("parent"):
        region.full_clean()
    for grid in Grid.objects.select_related("village"):
        assert len(grid.code) == 15 and grid.code.startswith(grid.village.code)
        grid.full_clean(exclude=["leader"])


def test_no_two_grids_overlap_and_every_boundary_is_valid(demo):
    polygons = [shape(b) for b in Grid.objects.order_by("pk").values_list("boundary", flat=True)]
    assert all(p.is_valid for p in polygons)
    tree = shapely.STRtree(polygons)
    left, right = tree.query(polygons, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist()):
        if i < j:
            assert polygons[i].intersection(polygons[j]).area < 1e-12, (i, j)


def test_every_grid_centre_locates_to_that_grid(demo):
    geo.invalidate()
    for pk, lat, lng in Grid.objects.values_list("pk", "centroid_lat", "centroid_lng"):
        assert geo.locate(lat, lng).grid_id == pk


def test_the_demo_accounts_log_in_and_carry_their_role_group(demo):
    for username in [
        "admin",
        "leader",
        "county",
        "dept_cg",
        "town01",
        "t01_cg",
        "vh001",
        "gl001",
        "gw001",
        "gw200",
    ]:
        user = authenticate(username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        if username != "admin":
            assert user.groups.filter(name=user.profile.role).exists()
            user.profile.full_clean()
    assert authenticate(username="admin", password=DEMO_PASSWORD).is_superuser
    assert authenticate(username="gw001", password="wrong") is None
    assert not authenticate(username="gw001", password=DEMO_PASSWORD).is_staff
    assert authenticate(username="town01", password=DEMO_PASSWORD).is_staff


def test_grid_workers_and_leaders_cover_their_village_grids(demo):
    gw = Profile.objects.get(user__username="gw001")
    assert gw.grids.count() == 1 and gw.grids.get().village_id == gw.region_id
    gl = Profile.objects.get(user__username="gl001")
    assert set(gl.grids.all()) == set(Grid.objects.filter(village=gl.region))
    assert set(
        Grid.objects.filter(village=gl.region).values_list("leader__username", flat=True)
    ) == {"gl001"}


def test_the_command_prints_the_address_run_py_serves(monkeypatch):
    monkeypatch.setenv("PORT", "8011")
    out = io.StringIO()
    call_command("demo_county", "--grids", "40", "--towns", "3", stdout=out)
    assert "http://127.0.0.1:8011/accounts/login/" in out.getvalue()
    assert "127.0.0.1:8000" not in out.getvalue()


def test_the_command_refuses_a_second_county_unless_if_empty():
    out = io.StringIO()
    call_command("demo_county", "--grids", "40", "--towns", "3", stdout=out)
    assert "gw001" in out.getvalue() and DEMO_PASSWORD in out.getvalue()
    with pytest.raises(CommandError):
        call_command("demo_county", stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_county", "--if-empty", stdout=out)
    assert Region.objects.filter(tier=Tier.COUNTY).count() == 1
    assert "跳过" in out.getvalue()


def test_history_makes_cases_with_a_consistent_record():
    call_command(
        "demo_county",
        "--grids",
        "40",
        "--towns",
        "3",
        "--history",
        "3000",
        "--quiet-accounts",
        stdout=io.StringIO(),
    )
    assert Case.objects.count() == 3000
    assert CaseEvent.objects.exists()
    assert Case.objects.filter(status=Status.CLOSED).count() > 2000
    assert not Case.objects.filter(status=Status.CLOSED, closed_at__isnull=True).exists()
    assert not Case.objects.filter(status=Status.CLOSED).exclude(colour="green").exists()
    assert not Case.objects.exclude(village__parent=models_town_of_village()).exists()
    sample = Case.objects.select_related("grid").order_by("?")[:50]
    geo.invalidate()
    for case in sample:
        assert case.grid.code.startswith(case.village.code)
        assert geo.locate(case.lat, case.lng).grid_id == case.grid_id
    assert len(set(Case.objects.values_list("tracking_number", flat=True))) == 3000
    first_event = CaseEvent.objects.order_by("pk").first()
    assert first_event.notified_at is not None  # history is never re-notified
    # New rows number on after the fabricated ones (PostgreSQL sequences were reset).
    note = CaseEvent.objects.create(case=first_event.case, action="note", note="after the history")
    assert note.pk > first_event.pk and note.pk == CaseEvent.objects.order_by("-pk").first().pk


def models_town_of_village():
    from django.db.models import F

    return F("town")


def test_a_demo_account_logs_in_through_the_login_page(client):
    build_demo_county(seed=7, grids=40, towns=3)
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.content.decode()
    response = client.post("/accounts/login/", {"username": "town01", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").url == "/admin/"
    bad = client.post("/accounts/login/", {"username": "town01", "password": "nope"})
    assert bad.status_code == 200 and "errornote" in bad.content.decode()
