"""The desk's screens: poor-rating reviews scoped to the town, ratings read-only, Open311 keys."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from apps.cases import tracking
from apps.cases.models import Case
from apps.public import services
from apps.public.models import Open311Key, ReviewItem, ReviewStatus
from tests.conftest import grant_role_permissions
from tests.public.conftest import citizen_case, close_through_town

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_permissions(org):
    grant_role_permissions("public", "0002_review_permissions")


@pytest.fixture
def reviews(org):
    """A poor rating in the east town and one in the west town."""
    east = close_through_town(org, citizen_case(org))
    west = close_through_town(org, citizen_case(org, grid_key="west-v1-g1"), town="west")
    services.rating_submit(case=east, stars=1, comment="东边还是脏", via="token")
    services.rating_submit(case=west, stars=2, comment="西边没人管", via="phone")
    return ReviewItem.objects.get(case=east), ReviewItem.objects.get(case=west)


def test_a_town_dispatcher_sees_only_their_towns_poor_ratings(client, org, reviews):
    east, west = reviews
    client.force_login(org.users["td"])
    page = client.get("/admin/public/reviewitem/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "东边还是脏" in body and "西边没人管" not in body
    assert client.get(f"/admin/public/reviewitem/{west.pk}/change/").status_code in (302, 404)


def test_a_review_is_found_by_its_number_as_printed_even_an_old_one(client, org, reviews):
    east, _ = reviews
    client.force_login(org.users["td"])
    for number in (east.case.tracking_number, "QA8W9BTCFXQX$"):
        Case.objects.filter(pk=east.case_id).update(tracking_number=number)
        for typed in (tracking.display(number), tracking.display(number).lower().replace("-", " ")):
            page = client.get("/admin/public/reviewitem/", {"q": typed})
            assert [r.pk for r in page.context["cl"].result_list] == [east.pk], typed


def test_the_county_sees_every_town(client, org, reviews):
    client.force_login(org.users["cd"])
    body = client.get("/admin/public/reviewitem/").content.decode()
    assert "东边还是脏" in body and "西边没人管" in body


def test_a_grid_worker_has_no_review_screen(client, org, reviews):
    client.force_login(org.users["gw"])
    assert client.get("/admin/public/reviewitem/").status_code in (302, 403)


def test_the_dispatcher_answers_a_review_and_it_is_closed(client, org, reviews):
    east, _ = reviews
    client.force_login(org.users["td"])
    response = client.post(
        f"/admin/public/reviewitem/{east.pk}/change/", {"resolution": "已电话回访，重新清运"}
    )
    assert response.status_code == 302
    east.refresh_from_db()
    assert east.status == ReviewStatus.DONE and east.resolved_by == org.users["td"]
    assert east.resolution == "已电话回访，重新清运" and east.resolved_at is not None


def test_a_foreign_dispatcher_cannot_answer_a_review(client, org, reviews):
    east, _ = reviews
    client.force_login(org.users["td_w"])
    response = client.post(f"/admin/public/reviewitem/{east.pk}/change/", {"resolution": "越权"})
    assert response.status_code in (302, 404)
    east.refresh_from_db()
    assert east.status == ReviewStatus.OPEN


def test_ratings_are_listed_read_only_and_scoped(client, org, reviews):
    client.force_login(org.users["td"])
    body = client.get("/admin/public/rating/").content.decode()
    assert "东边还是脏" in body and "西边没人管" not in body
    east_rating = reviews[0].rating
    response = client.post(f"/admin/public/rating/{east_rating.pk}/change/", {"stars": "5"})
    east_rating.refresh_from_db()
    assert east_rating.stars == 1 and response.status_code in (200, 302, 403)


def test_a_superuser_issues_an_open311_key_in_the_admin_and_sees_it_once(client, org):
    admin = User.objects.create_superuser("root", password="x-very-long-pass")
    client.force_login(admin)
    response = client.post("/admin/public/open311key/add/", {"name": "12345 热线"}, follow=True)
    assert response.status_code == 200
    raw = re.search(r"ld311_[A-Za-z0-9_-]+", response.content.decode()).group(0)
    key = Open311Key.objects.get(name="12345 热线")
    assert services.open311_key_check(raw) == key
    assert raw not in key.key_hash
    # The list and the key's own page never show it again.
    assert raw not in client.get("/admin/public/open311key/").content.decode()
    assert raw not in client.get(f"/admin/public/open311key/{key.pk}/change/").content.decode()


def test_dispatchers_cannot_issue_open311_keys(client, org):
    client.force_login(org.users["cd"])
    assert client.get("/admin/public/open311key/add/").status_code == 403
    assert not Open311Key.objects.exists()
