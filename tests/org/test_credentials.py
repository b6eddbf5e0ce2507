"""The per-process copy of API callers (apps/org/credentials.py): a token is read from the
database once, and every change to the rows behind it — made here, in another process or behind
the ORM's back — is honoured: revoked tokens and deactivated users are refused, new grid
assignments count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.cases.models import Case
from apps.org import credentials
from tests.api.conftest import report_payload
from tests.factories import another_process_bumps

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone(org):
    """gw's phone: an API client with gw's token."""
    token = Token.objects.create(user=org.users["gw"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def reads_of_the_caller(client, path="/api/me/"):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return [
        q["sql"]
        for q in queries
        if "authtoken_token" in q["sql"] or "org_profile_grids" in q["sql"]
    ]


def refused(response) -> bool:
    # DRF answers a failed token with 403 here: the first authenticator (the session) sends no
    # WWW-Authenticate challenge. The caller's data must not be in it.
    return response.status_code == 403 and "username" not in response.json()


def test_a_token_is_read_once_then_answered_from_memory(phone):
    client, _ = phone
    assert len(reads_of_the_caller(client)) == 2  # the token with its user and profile; the grids
    assert reads_of_the_caller(client) == []
    assert client.get("/api/me/").json()["username"] == "gw"


def test_a_deleted_token_is_refused_at_once(phone):
    client, token = phone
    assert client.get("/api/me/").status_code == 200
    token.delete()
    response = client.get("/api/me/")
    assert refused(response)
    assert response.json()["detail"] == "登录凭证（令牌）无效或已被撤销，请重新登录。"


def test_a_deactivated_user_is_refused_at_once(phone, org):
    client, _ = phone
    assert client.get("/api/me/").status_code == 200
    user = org.users["gw"]
    user.is_active = False
    user.save()
    assert refused(client.get("/api/me/"))


def test_a_grid_taken_away_counts_for_the_next_report(phone, org):
    client, _ = phone
    assert client.post("/api/reports/", report_payload(org), format="json").status_code == 201
    org.users["gw"].profile.grids.remove(org.grids["east-v1-g1"])
    response = client.post("/api/reports/", report_payload(org), format="json")
    assert response.status_code == 403 and "lat" in response.json()["errors"]
    assert Case.objects.count() == 1


def test_a_change_made_in_another_process_is_seen_after_the_recheck(phone, settings):
    client, token = phone
    settings.CREDENTIALS_RECHECK_S = 0  # "a second later"
    assert client.get("/api/me/").status_code == 200
    # Another process deleted the token and bumped the shared version: no signal reached us.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE key = %s", [token.key])
    assert client.get("/api/me/").status_code == 200  # our copy, still within its version
    another_process_bumps(credentials.VERSION.key)
    assert refused(client.get("/api/me/"))


def test_a_change_behind_the_orms_back_is_seen_after_the_time_to_live(phone, org, settings):
    client, _ = phone
    assert client.get("/api/me/").status_code == 200
    type(org.users["gw"]).objects.filter(pk=org.users["gw"].pk).update(is_active=False)  # no signal
    assert client.get("/api/me/").status_code == 200
    settings.CREDENTIALS_TTL_S = 0
    assert refused(client.get("/api/me/"))


def test_each_request_gets_instances_of_its_own(phone):
    _, token = phone
    first, _ = credentials.token_user(token.key)
    second, _ = credentials.token_user(token.key)
    assert first is not second and first.profile is not second.profile
    first.profile.display_name = "changed by one request"
    first.profile.region.name = "changed too"
    assert second.profile.display_name != "changed by one request"
    assert credentials.token_user(token.key)[0].profile.region.name != "changed too"


def test_unknown_tokens_are_refused_and_not_kept(phone):
    client = APIClient()
    for n in range(50):
        client.credentials(HTTP_AUTHORIZATION=f"Token {n:040x}")
        assert refused(client.get("/api/me/"))
    assert credentials._by_token == {}


def test_a_user_without_a_profile_is_answered_as_before(org):
    from django.contrib.auth import get_user_model

    bare = get_user_model().objects.create_user("bare", password="bare-pass-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bare).key}")
    for _ in range(2):  # from the database, then from memory
        response = client.post("/api/reports/", report_payload(org), format="json")
        assert response.status_code == 403


def test_a_session_callers_profile_and_grids_are_read_once(org):
    client = APIClient()
    client.force_login(org.users["gw"])  # the field app signs in with a session

    def profile_reads():
        with CaptureQueriesContext(connection) as queries:
            assert (
                client.post("/api/reports/", report_payload(org), format="json").status_code == 201
            )
        return [
            q["sql"]
            for q in queries
            if '"org_profile"' in q["sql"] or "org_profile_grids" in q["sql"]
        ]

    assert len(profile_reads()) == 2  # the profile with its region and unit; the grids
    assert profile_reads() == []
    org.users["gw"].profile.grids.remove(
        org.grids["east-v1-g1"]
    )  # and a change still counts at once
    response = client.post("/api/reports/", report_payload(org), format="json")
    assert response.status_code == 403 and "lat" in response.json()["errors"]
