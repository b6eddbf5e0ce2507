"""Accounts by tier: a town manages its own town's accounts, the county its county's, and only a
superuser makes superusers — the holes an outside tester found, each tried again."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from apps.accounts.models import AccountAction, AccountEvent, AccountStatus
from apps.org.models import Profile, Role
from tests.admin.conftest import login
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Qiang-mima-2026"


def user_ids(client, query: str = "") -> set[str]:
    response = client.get("/admin/auth/user/" + query)
    assert response.status_code == 200
    return set(response.context["cl"].queryset.values_list("username", flat=True))


def add_account(
    client, *, username="new_gw", role=Role.GRID_WORKER, region=None, unit=None, grids=(), **extra
):
    data = {
        "username": username,
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "0",
        "profile-MIN_NUM_FORMS": "1",
        "profile-MAX_NUM_FORMS": "1",
        "profile-0-display_name": "新网格员",
        "profile-0-role": role,
        "profile-0-phone": "",
        "profile-0-region": region.pk if region else "",
        "profile-0-unit": unit.pk if unit else "",
        "profile-0-grids": [g.pk for g in grids],
        "_save": "保存",
        **extra,
    }
    return client.post("/admin/auth/user/add/", data)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password=PASSWORD)


def test_a_town_dispatcher_lists_only_the_accounts_of_their_town(org, superuser):
    assert user_ids(login(org.users["td"])) == {"gw", "gw2", "gl", "vh", "td", "dh"}
    assert user_ids(login(org.users["td"]), "?q=td_w") == set()


def test_the_county_dispatcher_lists_the_county_but_never_a_superuser(org, superuser):
    seen = user_ids(login(org.users["cd"]))
    assert {"td", "td_w", "gw_w", "dh_c", "leader", "cd"} <= seen
    assert "root" not in seen


@pytest.mark.parametrize("who", ["vh", "leader", "gw", "dh"])
def test_people_who_manage_no_accounts_get_no_account_screen(org, who):
    client = login(org.users[who])
    assert client.get("/admin/auth/user/").status_code in (302, 403)
    assert client.get(f"/admin/auth/user/{org.users['gw'].pk}/change/").status_code in (302, 403)


def test_a_town_cannot_open_or_reset_another_towns_account(org):
    client, foreign = login(org.users["td"]), org.users["td_w"]
    assert client.get(f"/admin/auth/user/{foreign.pk}/change/").status_code == 302
    assert client.get(f"/admin/auth/user/{foreign.pk}/password/").status_code == 404
    response = client.post(
        f"/admin/auth/user/{foreign.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.check_password(PASSWORD)
    assert not AccountEvent.objects.exists()


def test_a_town_makes_an_account_in_its_town_and_cannot_make_it_superuser(org):
    client = login(org.users["td"])
    response = add_account(
        client,
        region=org.villages["east-v1"],
        grids=[org.grids["east-v1-g1"]],
        is_superuser="on",
        is_staff="on",
        groups=[Group.objects.get(name="county_dispatcher").pk],
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    made = User.objects.get(username="new_gw")
    assert not made.is_superuser and not made.is_staff
    assert list(made.groups.values_list("name", flat=True)) == [Role.GRID_WORKER]
    assert made.profile.region == org.villages["east-v1"]
    assert AccountStatus.objects.get(user=made).must_change_password
    event = AccountEvent.objects.get(target=made)
    assert event.action == AccountAction.CREATE and event.actor == org.users["td"]
    assert event.region == org.villages["east-v1"]
    assert event.changes["role"] == Role.GRID_WORKER and event.changes["password"] == "已设置"
    assert NEW_PASSWORD not in str(event.changes)


def test_a_village_handler_account_gets_the_desk_and_its_group(org):
    client = login(org.users["td"])
    response = add_account(
        client,
        username="new_vh",
        role=Role.VILLAGE_HANDLER,
        region=org.villages["east-v2"],
        unit=org.units["east-v2-ws"],
    )
    assert response.status_code == 302
    made = User.objects.get(username="new_vh")
    assert made.is_staff and list(made.groups.values_list("name", flat=True)) == [
        Role.VILLAGE_HANDLER
    ]


@pytest.mark.parametrize(
    "role, place",
    [
        (Role.COUNTY_DISPATCHER, "county"),  # a tier above the town
        (Role.GRID_WORKER, "west-v1"),  # another town's village
        (Role.DEPARTMENT_HANDLER, "west-cg"),  # another town's stationed unit
        (Role.DEPARTMENT_HANDLER, "county-cg"),  # a county department
        (Role.LEADER, "county"),  # the county's leader
    ],
)
def test_a_town_cannot_make_an_account_above_or_outside_its_town(org, role, place):
    region = org.county if place == "county" else org.villages.get(place)
    unit = org.units.get(place)
    response = add_account(login(org.users["td"]), role=role, region=region, unit=unit)
    assert response.status_code == 200
    errors = str(response.context["inline_admin_formsets"][0].formset.errors)
    assert "选择一个有效的选项" in errors or "不能设置高于本级的角色" in errors
    assert not User.objects.filter(username="new_gw").exists()
    assert not AccountEvent.objects.exists()


def move_handler(client, profile, unit):
    """Send a department handler's profile form with ``unit`` instead of theirs."""
    return client.post(
        f"/admin/org/profile/{profile.pk}/change/",
        {
            "display_name": profile.display_name,
            "role": Role.DEPARTMENT_HANDLER,
            "phone": profile.phone,
            "region": "",
            "unit": unit.pk,
            "_save": "保存",
        },
    )


def test_a_town_cannot_move_its_handler_onto_another_towns_unit(org):
    profile = org.users["dh"].profile
    response = move_handler(login(org.users["td"]), profile, org.units["west-cg"])
    assert response.status_code == 200
    assert "选择一个有效的选项" in str(response.context["adminform"].form.errors)
    profile.refresh_from_db()
    assert profile.unit == org.units["east-cg"]


def test_a_town_moves_its_handler_within_the_town_and_it_is_recorded(org):
    dh = org.users["dh"]
    profile = dh.profile
    response = move_handler(login(org.users["td"]), profile, org.units["east-sj"])
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.unit == org.units["east-sj"]
    event = AccountEvent.objects.get(target=dh)
    assert event.action == AccountAction.CHANGE and event.changes == {"unit": "东镇市场监管所"}


def test_a_password_reset_by_the_town_must_be_changed_at_next_sign_in(org):
    gw = org.users["gw"]
    response = login(org.users["td"]).post(
        f"/admin/auth/user/{gw.pk}/password/",
        {
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    gw.refresh_from_db()
    assert gw.check_password(NEW_PASSWORD)
    assert AccountStatus.objects.get(user=gw).must_change_password
    event = AccountEvent.objects.get(target=gw)
    assert event.action == AccountAction.SET_PASSWORD and NEW_PASSWORD not in str(event.changes)


def test_a_weak_password_is_refused_in_chinese(org):
    gw = org.users["gw"]
    response = login(org.users["td"]).post(
        f"/admin/auth/user/{gw.pk}/password/",
        {
            "password1": "12345678",
            "password2": "12345678",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200 and response.context["form"].errors
    gw.refresh_from_db()
    assert gw.check_password(PASSWORD)


def test_a_town_cannot_tick_superuser_or_staff_on_an_account_it_manages(org):
    gw = org.users["gw"]
    response = login(org.users["td"]).post(
        f"/admin/auth/user/{gw.pk}/change/",
        {
            "username": "gw",
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [Group.objects.get(name="county_dispatcher").pk],
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-MIN_NUM_FORMS": "1",
            "profile-MAX_NUM_FORMS": "1",
            "profile-0-id": gw.profile.pk,
            "profile-0-user": gw.pk,
            "profile-0-display_name": gw.profile.display_name,
            "profile-0-role": Role.GRID_WORKER,
            "profile-0-phone": gw.profile.phone,
            "profile-0-region": org.villages["east-v1"].pk,
            "profile-0-unit": "",
            "profile-0-grids": [org.grids["east-v1-g1"].pk],
            "_save": "保存",
        },
    )
    assert response.status_code == 302
    gw.refresh_from_db()
    assert not gw.is_superuser and not gw.is_staff
    assert list(gw.groups.values_list("name", flat=True)) == [Role.GRID_WORKER]
    assert list(gw.profile.grids.all()) == [org.grids["east-v1-g1"]]


def test_deactivating_an_account_is_recorded_and_signs_it_out_of_the_api(org):
    gw = org.users["gw"]
    response = login(org.users["td"]).post(
        "/admin/auth/user/",
        {
            "action": "deactivate_selected",
            "_selected_action": [gw.pk, org.users["gw_w"].pk],
        },
    )
    assert response.status_code == 302
    gw.refresh_from_db()
    org.users["gw_w"].refresh_from_db()
    assert not gw.is_active and org.users["gw_w"].is_active
    assert list(AccountEvent.objects.values_list("target_username", "action")) == [
        ("gw", AccountAction.DEACTIVATE)
    ]


def test_the_county_reads_the_audit_log_and_a_town_does_not(org):
    AccountEvent.objects.create(
        target=org.users["gw"],
        target_username="gw",
        action=AccountAction.CHANGE,
        region=org.villages["east-v1"],
    )
    assert login(org.users["cd"]).get("/admin/accounts/accountevent/").status_code == 200
    assert login(org.users["td"]).get("/admin/accounts/accountevent/").status_code == 403


def test_the_audit_log_is_append_only(org):
    event = AccountEvent.objects.create(
        target=org.users["gw"], target_username="gw", action=AccountAction.CHANGE
    )
    event.changes = {"forged": True}
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    client = login(org.users["cd"])
    assert (
        client.post(f"/admin/accounts/accountevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AccountEvent.objects.filter(pk=event.pk).exists()


def test_only_a_superuser_sees_groups_and_tokens(org, superuser):
    for who in ("cd", "td"):
        client = login(org.users[who])
        assert client.get("/admin/auth/group/").status_code == 403
        assert client.get("/admin/authtoken/tokenproxy/").status_code == 403
    root = login(superuser)
    assert root.get("/admin/auth/group/").status_code == 200
    assert root.get("/admin/auth/user/").status_code == 200


def test_a_town_cannot_edit_the_county_department_it_sees_for_reference(org):
    client = login(org.users["td"])
    department = org.units["county-cg"]
    client.post(
        f"/admin/org/unit/{department.pk}/change/",
        {
            "name": "改名",
            "code": department.code,
            "kind": department.kind,
            "region": department.region_id,
            "is_active": "",
            "_save": "保存",
        },
    )
    department.refresh_from_db()
    assert department.name == "区城管局" and department.is_active


def test_profiles_are_added_with_their_account(org):
    assert login(org.users["td"]).get("/admin/org/profile/add/").status_code == 403
    assert Profile.objects.count() == len(org.users)


def test_a_town_lifts_a_login_lock_of_its_own_account_only(org):
    from axes.models import AccessAttempt

    for username in ("gw", "gw_w"):
        for _ in range(5):
            Client().post(
                "/field/login/",
                {"username": username, "password": "wrong-Pass-1"},
                REMOTE_ADDR=f"10.9.{len(username)}.1",
            )
    assert (
        Client()
        .post("/field/login/", {"username": "gw", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
        .status_code
        == 429
    )
    response = login(org.users["td"]).post(
        "/admin/auth/user/",
        {
            "action": "unlock_selected",
            "_selected_action": [org.users["gw"].pk, org.users["gw_w"].pk],
        },
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="gw").exists()
    assert AccessAttempt.objects.filter(username="gw_w").exists()
    assert (
        Client()
        .post("/field/login/", {"username": "gw", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
        .status_code
        == 302
    )
    assert list(AccountEvent.objects.values_list("target_username", "action")) == [
        ("gw", AccountAction.UNLOCK)
    ]


def test_a_town_ends_the_sign_ins_of_a_lost_phone(org):
    phone = Client()
    assert phone.post("/field/login/", {"username": "gw", "password": PASSWORD}).status_code == 302
    assert phone.get("/field/").status_code == 200
    response = login(org.users["td"]).post(
        "/admin/auth/user/",
        {"action": "end_sessions_selected", "_selected_action": [org.users["gw"].pk]},
    )
    assert response.status_code == 302
    assert phone.get("/field/").status_code == 302  # back to the login page
    assert AccountEvent.objects.filter(
        target=org.users["gw"], action=AccountAction.END_SESSIONS
    ).exists()
