"""/api/notifications/: a person's own notifications, catching up by id, unread counts, marking
read, and the desk counters — each refusing what is not the caller's."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.cases import services as workflow
from apps.cases.tracking import display
from apps.desk.dashboard import desk_stats
from apps.notify.models import Kind, Notification
from tests.cases.helpers import dispatched_at_town
from tests.notify.helpers import at_town_desk, fan_out


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def dispatched(org):
    """A case at the east town, dispatched to east-cg and urged twice: dh has three notifications."""
    case = dispatched_at_town(org)
    workflow.case_urge(case=case, actor=org.users["td"], note="尽快")
    workflow.case_urge(case=case, actor=org.users["td"], note="再次督办")
    fan_out(case)
    return case


@pytest.mark.django_db
def test_the_list_is_newest_first_and_since_gives_the_rest_oldest_first(org, dispatched):
    api = client_for(org.users["dh"])
    listed = api.get("/api/notifications/").json()
    ids = [row["id"] for row in listed["results"]]
    assert listed["count"] == 3 and ids == sorted(ids, reverse=True)
    assert (
        listed["results"][-1]["kind"] == Kind.DISPATCH
        and listed["results"][-1]["kind_label"] == "新派遣"
    )
    assert listed["results"][0]["tracking_number"] == display(dispatched.tracking_number)
    rest = api.get(f"/api/notifications/?since={ids[-1]}").json()
    assert [row["id"] for row in rest["results"]] == sorted(ids)[1:]
    assert api.get(f"/api/notifications/?since={ids[0]}").json()["results"] == []


@pytest.mark.django_db
def test_a_malformed_since_is_answered_with_a_message(org, dispatched):
    response = client_for(org.users["dh"]).get("/api/notifications/?since=abc")
    assert response.status_code == 400
    assert "since" in response.json()["detail"] and "errors" in response.json()


@pytest.mark.django_db
def test_nobody_lists_another_persons_notifications(org, dispatched):
    assert client_for(org.users["dh_w"]).get("/api/notifications/").json()["count"] == 0
    assert (
        client_for(org.users["td"]).get("/api/notifications/").json()["count"] == 1
    )  # the escalation
    assert APIClient().get("/api/notifications/").status_code in (401, 403)


@pytest.mark.django_db
def test_marking_one_read_lowers_the_unread_count_and_another_persons_is_not_found(org, dispatched):
    api = client_for(org.users["dh"])
    assert api.get("/api/notifications/unread-count/").json() == {"unread": 3}
    first = Notification.objects.filter(recipient=org.users["dh"]).order_by("id").first()
    marked = api.post(f"/api/notifications/{first.pk}/read/").json()
    assert marked["id"] == first.pk and marked["read_at"] and marked["unread"] == 2
    assert (
        api.post(f"/api/notifications/{first.pk}/read/").json()["unread"] == 2
    )  # twice is harmless
    assert api.get("/api/notifications/?unread=1").json()["count"] == 2
    theirs = Notification.objects.filter(recipient=org.users["td"]).first()
    response = api.post(f"/api/notifications/{theirs.pk}/read/")
    assert response.status_code == 404 and response.json()["detail"]
    assert Notification.objects.get(pk=theirs.pk).read_at is None


@pytest.mark.django_db
def test_marking_all_read_touches_only_the_callers_notifications(org, dispatched):
    api = client_for(org.users["dh"])
    assert api.post("/api/notifications/read-all/").json() == {"marked": 3, "unread": 0}
    assert api.post("/api/notifications/read-all/").json() == {"marked": 0, "unread": 0}
    assert Notification.objects.filter(recipient=org.users["td"], read_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_a_token_works_for_api_clients(org, dispatched):
    token = Token.objects.create(user=org.users["dh"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/notifications/unread-count/").json() == {"unread": 3}


@pytest.mark.django_db
def test_the_desk_counts_new_and_overdue_for_its_own_region_only(org):
    late = at_town_desk(org)
    at_town_desk(org, grid_key="east-v1-g2")
    type(late).objects.filter(pk=late.pk).update(
        step_deadline=timezone.now() - dt.timedelta(hours=1)
    )
    counts = client_for(org.users["td"]).get("/api/notifications/desk-counts/").json()
    assert counts == {"region": org.towns["east"].pk, "new": 2, "overdue": 1}
    dashboard = desk_stats(org.users["td"])  # the command desk's own numbers agree
    assert (counts["new"], counts["overdue"]) == (
        dashboard["waiting_total"],
        dashboard["overdue_total"],
    )
    assert client_for(org.users["td_w"]).get("/api/notifications/desk-counts/").json()["new"] == 0
    response = client_for(org.users["gw"]).get("/api/notifications/desk-counts/")
    assert response.status_code == 403 and response.json()["detail"]


@pytest.mark.django_db
def test_catching_up_by_cursor_returns_a_notification_committed_after_a_higher_one(org, dispatched):
    """The REST replay uses the socket's rule: the cursor the server moved plus the ids the
    client has. A notification whose row commits after a higher id reached the phone (ids are
    taken before commit, and a push can be lost) comes back; ``?since=<highest id seen>`` loses
    it for good."""
    api = client_for(org.users["dh"])
    first = api.get("/api/notifications/?cursor=0").json()
    ids = [row["id"] for row in first["results"]]
    assert len(ids) == 3 and ids == sorted(ids) and first["more"] is False
    assert first["cursor"] == 0  # all three are younger than NOTIFY_SETTLE_S: not settled yet
    # The phone has the three; then the "late" one: a lower id than a notification the phone
    # already has (committed out of order, its push lost) — here, its row gets an id between.
    late, newer = sorted(ids)[1], sorted(ids)[2]
    has = [i for i in ids if i != late]
    answer = api.get(f"/api/notifications/?cursor=0&seen={','.join(map(str, has))}").json()
    assert [row["id"] for row in answer["results"]] == [late]
    assert api.get(f"/api/notifications/?since={newer}").json()["results"] == []  # the old gap
    # Once settled, the cursor moves over them all, and nothing comes twice.
    Notification.objects.filter(pk__in=ids).update(
        created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    settled = api.get(f"/api/notifications/?cursor=0&seen={','.join(map(str, ids))}").json()
    assert settled == {"results": [], "more": False, "cursor": max(ids)}
    assert api.get(f"/api/notifications/?cursor={max(ids)}").json()["results"] == []


@pytest.mark.django_db
def test_a_malformed_cursor_or_seen_is_answered_with_a_message(org, dispatched):
    api = client_for(org.users["dh"])
    for query in ("cursor=-1", "cursor=abc", "cursor=0&seen=1,x", "cursor=0&since=3"):
        response = api.get(f"/api/notifications/?{query}")
        assert response.status_code == 400, query
        assert response.json()["detail"], query
