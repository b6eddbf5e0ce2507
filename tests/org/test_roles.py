"""Roles and permission groups: created by migration, and each role gets only what it needs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.org.models import Role
from apps.org.scope import regions_in_scope, scope_of
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def perms(role: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role).permissions.select_related("content_type")
    }


def test_every_role_has_its_group_from_the_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_the_leader_may_look_at_everything_and_change_nothing():
    leader = perms(Role.LEADER)
    assert "cases.view_case" in leader and "org.view_grid" in leader
    assert not {p for p in leader if not p.split(".")[1].startswith("view_")}


def test_grid_workers_report_but_do_not_act_on_cases_or_configure():
    for role in (Role.GRID_WORKER, Role.GRID_LEADER):
        assert perms(role) == {"cases.add_case", "cases.view_case"}


def test_only_the_county_configures_grids_and_regions():
    county, town = perms(Role.COUNTY_DISPATCHER), perms(Role.TOWN_DISPATCHER)
    assert {
        "org.add_grid",
        "org.change_grid",
        "org.add_region",
        "cases.change_routingrule",
    } <= county
    assert "org.change_grid" in town
    assert not {"org.add_grid", "org.add_region", "cases.change_routingrule"} & town
    assert not {
        p
        for p in perms(Role.VILLAGE_HANDLER)
        if p.startswith("org.") and not p.startswith("org.view_")
    }


def test_department_handlers_see_cases_but_not_the_organisation():
    assert perms(Role.DEPARTMENT_HANDLER) == {"cases.view_case", "cases.view_casephoto"}


def test_a_grid_worker_cannot_open_the_admin(client, org):
    client.login(username="gw", password=PASSWORD)
    assert client.get("/admin/org/grid/").status_code == 302  # to the admin login: not staff


def test_a_leader_sees_grids_in_the_admin_but_cannot_change_one(client, org):
    client.login(username="leader", password=PASSWORD)
    grid = org.grids["east-v1-g1"]
    assert client.get("/admin/org/grid/").status_code == 200
    response = client.post(
        f"/admin/org/grid/{grid.pk}/change/", {"code": grid.code, "name": "改名"}
    )
    assert response.status_code == 403
    grid.refresh_from_db()
    assert grid.name != "改名"


def test_scopes_follow_the_tiers(org):
    east, west = org.towns["east"], org.towns["west"]
    town_scope = set(regions_in_scope(org.users["td"]))
    assert east in town_scope and org.villages["east-v1"] in town_scope
    assert west not in town_scope and org.villages["west-v1"] not in town_scope
    assert set(regions_in_scope(org.users["cd"])) >= {
        org.county,
        east,
        west,
        org.villages["west-v2"],
    }
    assert set(regions_in_scope(org.users["vh"])) == {org.villages["east-v1"]}
    assert scope_of(org.users["gw"]).grid_ids == {
        org.grids["east-v1-g1"].pk,
        org.grids["east-v1-g2"].pk,
    }
    assert not regions_in_scope(org.users["dh"]).exists()
