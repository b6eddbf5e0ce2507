"""Concurrent adds in one grid get distinct, consecutive codes; two edits of one version have
one winner — each thread on its own database connection (SQLite here; on PostgreSQL the
sequence row's UPDATE lock does what select_for_update would, see apps/places/services.py)."""

from __future__ import annotations

import pytest

from apps.places import services
from apps.places.models import Place, PlaceKind
from tests.cases.test_concurrency import race
from tests.places.conftest import BUILDING_SCHEMA, point

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_adds_in_one_grid_get_distinct_sequential_codes(org_tx):
    kind = PlaceKind.objects.create(code="building", name="楼栋", attribute_schema=BUILDING_SCHEMA)
    users = [org_tx.users["gw"], org_tx.users["gw2"], org_tx.users["gl"], org_tx.users["td"]] * 2

    def add(i, user):
        lat, lng = point(org_tx, "east-v1-g1", i)
        return services.place_add(
            actor=user, kind=kind, name=f"并发楼 {i}", lat=lat, lng=lng, attributes={"floors": 3}
        )[0].code

    outcomes = race(*[lambda i=i, u=u: add(i, u) for i, u in enumerate(users)])
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    grid = org_tx.grids["east-v1-g1"].code
    assert sorted(code for _, code in outcomes) == [f"{grid}{n:05d}" for n in range(1, 9)]
    assert Place.objects.count() == 8


def test_two_edits_of_the_same_version_have_one_winner(org_tx):
    kind = PlaceKind.objects.create(code="building", name="楼栋", attribute_schema=BUILDING_SCHEMA)
    lat, lng = point(org_tx, "east-v1-g1")
    place, _ = services.place_add(
        actor=org_tx.users["gw"], kind=kind, name="楼", lat=lat, lng=lng, attributes={"floors": 3}
    )
    outcomes = race(
        lambda: services.place_update(
            actor=org_tx.users["gw"],
            place=Place.objects.get(pk=place.pk),
            version=0,
            changes={"name": "甲"},
        ),
        lambda: services.place_update(
            actor=org_tx.users["vh"],
            place=Place.objects.get(pk=place.pk),
            version=0,
            changes={"name": "乙"},
        ),
    )
    assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
    assert isinstance(next(v for k, v in outcomes if k == "error"), services.ConcurrentChange)
    assert Place.objects.get(pk=place.pk).version == 1
