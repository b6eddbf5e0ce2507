"""WebSocket tickets: ``POST /api/notifications/ticket/`` and the rules a ticket obeys — bound to
its user, single use, short-lived. (Opening sockets with them: tests/notify/test_live.py.)"""

import time
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.notify import tickets

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api


def test_a_token_client_trades_its_token_for_a_ticket_of_its_own(org):
    response = token_client(org.users["dh"]).post("/api/notifications/ticket/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 60
    assert tickets.ticket_redeem(body["ticket"]) == org.users["dh"].pk


def test_a_logged_in_browser_gets_one_with_its_session_and_csrf_token(org):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(org.users["td"])
    refused = api.post("/api/notifications/ticket/")
    assert refused.status_code == 403 and "页面已过期" in refused.json()["detail"]
    api.get("/accounts/login/")  # any page with a form sets the CSRF cookie, as the desk's do
    response = api.post(
        "/api/notifications/ticket/", HTTP_X_CSRFTOKEN=api.cookies["csrftoken"].value
    )
    assert response.status_code == 200
    assert tickets.ticket_redeem(response.json()["ticket"]) == org.users["td"].pk


def test_nobody_gets_a_ticket_without_logging_in(org):
    response = APIClient().post("/api/notifications/ticket/")
    assert response.status_code == 403
    assert response.json() == {"detail": "您还没有登录，或登录已过期；请重新登录后再试。"}
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert bad.post("/api/notifications/ticket/").status_code in (401, 403)
    assert APIClient().get("/api/notifications/ticket/").status_code == 403


def test_a_ticket_works_once(org):
    ticket = tickets.ticket_issue(user=org.users["gw"])
    assert tickets.ticket_redeem(ticket) == org.users["gw"].pk
    assert tickets.ticket_redeem(ticket) is None


def test_a_ticket_expires(org):
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 61):
        old = tickets.ticket_issue(user=org.users["gw"])
    assert tickets.ticket_redeem(old) is None
    with override_settings(WS_TICKET_TTL_S=120):
        with mock.patch("django.core.signing.time.time", return_value=time.time() - 61):
            recent_enough = tickets.ticket_issue(user=org.users["gw"])
        assert tickets.ticket_redeem(recent_enough) == org.users["gw"].pk


def test_a_ticket_cannot_be_moved_to_another_user_or_made_up(org):
    gw, dh = org.users["gw"], org.users["dh"]
    ticket = tickets.ticket_issue(user=gw)
    assert tickets.ticket_redeem(ticket.replace(f"{gw.pk}.", f"{dh.pk}.", 1)) is None
    # Signed by the same key for another purpose (another salt): not a ticket.
    assert (
        tickets.ticket_redeem(signing.TimestampSigner(salt="other").sign(f"{dh.pk}.nonce")) is None
    )
    for junk in ["", "x", None, 7, {"ticket": ticket}, ticket + "x" * 300]:
        assert tickets.ticket_redeem(junk) is None
    assert tickets.ticket_redeem(ticket) == gw.pk  # the failed attempts did not spend it


def test_the_schema_documents_the_ticket_endpoint(org):
    api = APIClient()
    api.force_authenticate(org.users["gw"])
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/notifications/ticket/"]["post"]
    assert set(operation["responses"]) == {"200", "403"}
    assert "WebSocket" in operation["description"]
