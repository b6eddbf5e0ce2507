"""Every admin screen, every role, another town's rows: nothing leaks and nothing changes.

The screens are read from the admin site's registry, not listed by hand, so a model registered
later is tried without touching this file. For each registered ModelAdmin, each desk and field
role of the east town (and the county dispatcher) tries a row that belongs to the west town (or a
superuser's account) through the changelist, the change page, history, delete (GET and POST), a
forged change POST, every action of the admin, the autocomplete endpoint of every autocomplete
field, and every choice list of the add and change forms. A row's town is found by following its
foreign keys to regions (``home_regions``), so new models need no rule here either — only rows
in the ``world`` below (a test fails when a registered model has no foreign row to try).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.forms import ModelChoiceField
from django.forms.models import model_to_dict
from rest_framework.authtoken.models import Token

from apps.accounts.models import AccountAction, AccountEvent, AccountStatus, LoginSession
from apps.cases import services
from apps.cases.models import Case
from apps.org.models import Region, Role
from apps.places.models import PlaceKind
from apps.places.services import place_add
from apps.public.models import Rating, ReviewItem
from tests.admin.conftest import add_photo, at_town, login
from tests.factories import PASSWORD, make_person

pytestmark = pytest.mark.django_db

SECRET = "WEST-SECRET"
SUPERUSER = -1  # the "region" of an account with no place in the organisation: a superuser's
ROLES = ["gw", "gl", "vh", "td", "dh", "leader_e", "cd"]
# Admins that hold only rows with no town (county-wide reference data) or rows nobody but a
# superuser sees: they are still tried for every role, against the superuser's rows if any.
REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def home_regions(obj: models.Model, depth: int = 0) -> set[int]:
    """The regions a row belongs to, by following its foreign keys (three steps deep)."""
    if isinstance(obj, Region):
        return {obj.pk}
    if isinstance(obj, User):
        profile = getattr(obj, "profile", None) if hasattr(obj, "profile") else None
        if profile is None:
            return {SUPERUSER} if obj.is_superuser else set()
        return {
            r for r in (profile.region_id, profile.unit.region_id if profile.unit_id else None) if r
        }
    found: set[int] = set()
    if depth >= 3:
        return found
    for field in obj._meta.concrete_fields:
        if field.is_relation and field.many_to_one or field.one_to_one:
            target = getattr(obj, field.name, None)
            if isinstance(target, models.Model):
                found |= home_regions(target, depth + 1)
    return found


@pytest.fixture
def world(org):
    """Rows of every registered model in both towns, the west ones marked with SECRET."""
    east = at_town(org, description="东镇的垃圾")
    west = at_town(org, town="west", description=f"西镇的垃圾 {SECRET}")
    add_photo(east), add_photo(west)
    services.case_dispatch(
        case=west, actor=org.users["td_w"], lead_unit=org.units["west-cg"], note=SECRET
    )
    services.case_sign(case=west, actor=org.users["dh_w"])
    services.extension_request(case=west, actor=org.users["dh_w"], hours=24, reason=SECRET)
    rating = Rating.objects.create(case=west, stars=1, comment=SECRET, via="token")
    ReviewItem.objects.create(case=west, rating=rating, town=org.towns["west"])
    org.users["leader_e"] = make_person("leader_e", Role.LEADER, region=org.towns["east"])
    root = User.objects.create_superuser("root", password=PASSWORD)
    Token.objects.create(user=org.users["gw_w"])
    AccountEvent.objects.create(
        actor=org.users["td_w"],
        target=org.users["gw_w"],
        target_username="gw_w",
        region=org.villages["west-v1"],
        action=AccountAction.CHANGE,
        changes={"x": SECRET},
    )
    AccountStatus.objects.create(user=org.users["gw_w"], must_change_password=True)
    LoginSession.objects.create(user=org.users["gw_w"], session_key="w" * 32)
    kind = PlaceKind.objects.create(
        code="premises", name="三小场所", supervising_department=org.units["county-sj"]
    )
    for who, grid, name in (
        ("gw", "east-v1-g1", "东镇小店"),
        ("gw_w", "west-v1-g1", f"西镇小店 {SECRET}"),
    ):
        lat, lng = org.point_in(org.grids[grid])
        place, _ = place_add(actor=org.users[who], kind=kind, name=name, lat=lat, lng=lng)
        west_case = west if who == "gw_w" else east
        Case.objects.filter(pk=west_case.pk).update(place=place)
    return {
        "west_regions": {
            org.towns["west"].pk,
            *[v.pk for k, v in org.villages.items() if k.startswith("west")],
        },
        "east_regions": {
            org.towns["east"].pk,
            *[v.pk for k, v in org.villages.items() if k.startswith("east")],
        },
        "root": root,
    }


def foreign_rows(model, world, who: str) -> list[models.Model]:
    """Rows of ``model`` that are not ``who``'s: the west town's (for east people) and superusers'."""
    rows = []
    for obj in model._default_manager.all()[:500]:
        regions = home_regions(obj)
        west = bool(regions & world["west_regions"]) and not regions & world["east_regions"]
        if SUPERUSER in regions or (west and who != "cd"):
            rows.append(obj)
    return rows


def snapshot(obj: models.Model) -> dict[str, Any]:
    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return model_to_dict(fresh) if fresh is not None else {}


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def own_choices_leaks(response, foreign_pks: dict[type, set]) -> list[str]:
    """Choice lists (select, raw id, autocomplete, filter_horizontal) offering a foreign row."""
    if response.status_code != 200 or response.context is None:
        return []
    forms = []
    adminform = response.context.get("adminform")
    if adminform is not None:
        forms.append(adminform.form)
    inline_pk_names = set()
    for inline in response.context.get("inline_admin_formsets") or []:
        forms.extend(inline.formset.forms)
        forms.append(inline.formset.empty_form)
        # An inline form's hidden primary key is looked up in the formset's own rows (those of
        # the parent object) whatever it offers, and ignored on new forms.
        inline_pk_names.add((inline.formset.model, inline.formset.model._meta.pk.name))
    leaks = []
    for form in forms:
        for name, field in form.fields.items():
            if (form._meta.model, name) in inline_pk_names:
                continue
            if isinstance(field, ModelChoiceField):
                model = field.queryset.model
                offered = foreign_pks.get(model, set()) & set(
                    field.queryset.values_list("pk", flat=True)
                )
                if offered:
                    leaks.append(f"field {name} offers {model._meta.label} {sorted(offered)}")
    return leaks


@pytest.mark.parametrize("model, model_admin", REGISTRY, ids=[m._meta.label for m, _ in REGISTRY])
def test_no_role_reaches_another_towns_rows_through_this_admin(world, org, model, model_admin):
    app, name = model._meta.app_label, model._meta.model_name
    base = f"/admin/{app}/{name}/"
    actions = [action_name for _func, action_name, _desc in model_admin._get_base_actions()]
    leaks: list[str] = []
    tried = 0
    for who in ROLES:
        client = login(org.users[who])
        foreign = foreign_rows(model, world, who)
        foreign_pks = {m: {o.pk for o in foreign_rows(m, world, who)} for m, _ in REGISTRY}
        changelist = client.get(base)
        if changelist.status_code == 200:
            listed = set(changelist.context["cl"].queryset.values_list("pk", flat=True))
            leaks += [f"{who}: changelist lists {obj.pk}" for obj in foreign if obj.pk in listed]
            if who != "cd" and SECRET.encode() in changelist.content:
                leaks.append(f"{who}: changelist shows the secret")
            own = next(iter(sorted(listed)), None)
            if own is not None:
                leaks += [
                    f"{who}: own change page {leak}"
                    for leak in own_choices_leaks(client.get(f"{base}{own}/change/"), foreign_pks)
                ]
        leaks += [
            f"{who}: add page {leak}"
            for leak in own_choices_leaks(client.get(f"{base}add/"), foreign_pks)
        ]
        for obj in foreign[:3]:
            tried += 1
            before = snapshot(obj)
            for suffix in ("change/", "history/", "delete/"):
                response = client.get(f"{base}{obj.pk}/{suffix}")
                if response.status_code == 200 or (
                    who != "cd" and SECRET.encode() in body_of(response)
                ):
                    leaks.append(f"{who}: GET {suffix} of {obj.pk} answered {response.status_code}")
            client.post(f"{base}{obj.pk}/delete/", {"post": "yes"})
            forged = {
                k: v for k, v in before.items() if v is not None and not isinstance(v, (list, dict))
            }
            forged.update(
                {
                    k: "forged"
                    for k, v in before.items()
                    if isinstance(v, str) and k not in ("password",)
                }
            )
            client.post(f"{base}{obj.pk}/change/", {**forged, "_save": "保存"})
            for action in actions:
                response = client.post(
                    base,
                    {"action": action, "_selected_action": [obj.pk], "post": "yes", "index": 0},
                )
                if who != "cd" and SECRET.encode() in body_of(response):
                    leaks.append(f"{who}: action {action} showed the secret of {obj.pk}")
            if snapshot(obj) != before:
                leaks.append(f"{who}: {model._meta.label} {obj.pk} was changed or deleted")
        for source_model, source_admin in REGISTRY:
            for field_name in source_admin.autocomplete_fields:
                target = source_model._meta.get_field(field_name).related_model
                if target is not model:
                    continue
                response = client.get(
                    "/admin/autocomplete/",
                    {
                        "app_label": source_model._meta.app_label,
                        "model_name": source_model._meta.model_name,
                        "field_name": field_name,
                        "term": "",
                    },
                )
                if response.status_code == 200:
                    offered = {int(r["id"]) for r in response.json()["results"]}
                    leaks += [
                        f"{who}: autocomplete {source_model._meta.label}.{field_name} offers {obj.pk}"
                        for obj in foreign
                        if obj.pk in offered
                    ]
    assert not leaks, "\n".join(leaks)
    towns = world["west_regions"] | world["east_regions"]
    if any(home_regions(obj) & towns for obj in model._default_manager.all()[:50]):
        assert tried, f"no foreign {model._meta.label} row was tried: add one to the world fixture"


def test_the_world_has_a_foreign_row_of_every_model_that_belongs_to_a_town(world):
    """Guards the guard: the world fixture must hold west rows of every town-scoped model."""
    missing = []
    for model, _admin in REGISTRY:
        rows = list(model._default_manager.all()[:200])
        town_scoped = any(
            home_regions(obj) & (world["west_regions"] | world["east_regions"]) for obj in rows
        )
        if town_scoped and not foreign_rows(model, world, "td"):
            missing.append(model._meta.label)
    assert not missing, missing


def test_the_foreign_rows_are_the_west_towns_and_the_superusers(world, org):
    """The row finder the checks rely on: the west town's case, account and photo are foreign to
    the east town; the east town's are not; a superuser's account is foreign to everyone else."""
    from apps.cases.models import Case, CasePhoto

    west = Case.objects.get(description__contains=SECRET)
    assert [c.pk for c in foreign_rows(Case, world, "td")] == [west.pk]
    assert foreign_rows(Case, world, "cd") == []
    assert [p.case_id for p in foreign_rows(CasePhoto, world, "td")] == [west.pk]
    users = {u.username for u in foreign_rows(User, world, "td")}
    assert {"gw_w", "vh_w", "td_w", "dh_w", "root"} <= users and not users & {
        "gw",
        "td",
        "dh",
        "cd",
    }
    assert {u.username for u in foreign_rows(User, world, "cd")} == {"root"}


def test_every_role_signs_in_to_be_tried(world, org):
    for who in ROLES:
        assert login(org.users[who]).get("/admin/").status_code in (200, 302)
