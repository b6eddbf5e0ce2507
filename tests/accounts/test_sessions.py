"""Session policy: desk sessions end after idle time (sliding), field sessions stay long, an
administrator ends every sign-in of an account, and the sign-ins are named in LoginSession."""

from __future__ import annotations

import time
from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts import middleware
from apps.accounts.models import AccountAction, AccountEvent, LoginSession
from apps.accounts.services import account_end_sessions
from tests.accounts.conftest import sign_in
from tests.factories import PASSWORD

DAY = 86400


def session_of(client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def seconds_left(session: Session) -> float:
    return (session.expire_date - timezone.now()).total_seconds()


def drop_cached_copy(session_key: str) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    caches[settings.SESSION_CACHE_ALIAS].delete(store.cache_key_prefix + session_key)


def test_a_desk_sign_in_lasts_the_idle_timeout_and_is_named_as_desk(org, new_ip):
    client = Client()
    assert sign_in("/accounts/login/", "td", ip=new_ip(), client=client).status_code == 302
    assert settings.SESSION_COOKIE_AGE == 1800
    assert 1790 < seconds_left(session_of(client)) <= 1800
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 1800
    row = LoginSession.objects.get(user=org.users["td"])
    assert row.kind == LoginSession.Kind.DESK and row.session_key == session_of(client).session_key


def test_a_field_sign_in_lasts_long_and_is_named_as_field(org, new_ip):
    client = Client()
    assert sign_in("/field/login/", "gw", ip=new_ip(), client=client).status_code == 302
    assert seconds_left(session_of(client)) > 89 * DAY
    assert LoginSession.objects.get(user=org.users["gw"]).kind == LoginSession.Kind.FIELD
    assert client.get("/field/").status_code == 200


def test_signing_out_forgets_the_session(org, new_ip):
    client = Client()
    sign_in("/field/login/", "gw", ip=new_ip(), client=client)
    assert LoginSession.objects.filter(user=org.users["gw"]).count() == 1
    client.post("/field/logout/")
    assert not LoginSession.objects.filter(user=org.users["gw"]).exists()


def a_desk_session_about_to_expire(new_ip):
    """A dispatcher's desk session that expires in 20 s; returns the client and the expiry."""
    client = Client()
    sign_in("/accounts/login/", "td", ip=new_ip(), client=client)
    almost_over = timezone.now() + timedelta(seconds=20)
    Session.objects.filter(session_key=session_of(client).session_key).update(
        expire_date=almost_over
    )
    return client, almost_over


def a_refresh_interval_later(monkeypatch) -> None:
    real_time = time.time
    monkeypatch.setattr(
        middleware.time, "time", lambda: real_time() + settings.SESSION_IDLE_REFRESH_S + 1
    )


def test_use_slides_the_expiry_at_most_once_a_minute(org, new_ip, monkeypatch):
    client, almost_over = a_desk_session_about_to_expire(new_ip)

    # Within the minute after the last save: no write, the expiry stays where it was.
    assert client.get("/admin/").status_code == 200
    assert session_of(client).expire_date == almost_over

    # A minute later the next request re-saves it: a full idle timeout from now.
    a_refresh_interval_later(monkeypatch)
    assert client.get("/admin/").status_code == 200
    assert 1790 < seconds_left(session_of(client)) <= 1800


def test_the_desk_dashboards_poll_is_not_activity(org, new_ip, monkeypatch):
    client, almost_over = a_desk_session_about_to_expire(new_ip)
    a_refresh_interval_later(monkeypatch)
    assert client.get("/admin/desk/stats.json").status_code == 200
    assert session_of(client).expire_date == almost_over


def test_an_idle_desk_session_has_ended(org, new_ip):
    client = Client()
    sign_in("/accounts/login/", "td", ip=new_ip(), client=client)
    assert client.get("/admin/").status_code == 200
    # Thirty idle minutes later: the stored expiry has passed (and the cached copy timed out).
    key = session_of(client).session_key
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    drop_cached_copy(key)
    response = client.get("/admin/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


@override_settings(SESSION_COOKIE_AGE=2, SESSION_IDLE_REFRESH_S=0)
def test_in_real_time_a_desk_session_ends_when_idle_and_a_field_session_does_not(org, new_ip):
    desk, field = Client(), Client()
    sign_in("/accounts/login/", "td", ip=new_ip(), client=desk)
    sign_in("/field/login/", "gw", ip=new_ip(), client=field)
    assert desk.get("/admin/").status_code == 200
    time.sleep(3)
    assert desk.get("/admin/").status_code == 302
    assert field.get("/field/").status_code == 200


def test_ending_the_sessions_signs_a_phone_out_and_kills_its_token(org, new_ip):
    gw = org.users["gw"]
    phone, desk = Client(), Client()
    sign_in("/field/login/", "gw", ip=new_ip(), client=phone)
    sign_in("/accounts/login/", "gw", ip=new_ip(), client=desk)
    token = sign_in("/api/auth/token/", "gw", ip=new_ip()).json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/me/").status_code == 200
    keys = list(LoginSession.objects.filter(user=gw).values_list("session_key", flat=True))
    assert len(keys) == 2

    ended = account_end_sessions(actor=org.users["td"], user=gw)

    assert ended == 2
    response = phone.get("/field/")
    assert response.status_code == 302 and response.url.startswith("/field/login/")
    assert desk.get("/").url == "/track/"  # anonymous again
    refused = api.get("/api/me/")
    # 403, not 401: the first authentication class (the session's) sends no WWW-Authenticate.
    assert refused.status_code == 403 and "令牌" in refused.json()["detail"], refused.json()
    assert not Token.objects.filter(user=gw).exists()
    assert not Session.objects.filter(session_key__in=keys).exists()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert all(
        caches[settings.SESSION_CACHE_ALIAS].get(store.cache_key_prefix + k) is None for k in keys
    )
    assert not LoginSession.objects.filter(user=gw).exists()
    event = AccountEvent.objects.get(action=AccountAction.END_SESSIONS)
    assert event.target == gw and event.changes["sessions"] == 2 and event.changes["tokens"] == 1
    # Other accounts keep theirs.
    other = Client()
    sign_in("/field/login/", "gl", ip=new_ip(), client=other)
    account_end_sessions(actor=None, user=gw)
    assert other.get("/field/").status_code == 200


def test_a_sign_in_forgets_the_accounts_sessions_that_expired(org, new_ip):
    first = Client()
    sign_in("/field/login/", "gw", ip=new_ip(), client=first)
    Session.objects.filter(session_key=session_of(first).session_key).delete()
    sign_in("/field/login/", "gw", ip=new_ip(), client=Client())
    assert LoginSession.objects.filter(user=org.users["gw"]).count() == 1


@pytest.mark.parametrize("path", ["/accounts/login/", "/field/login/"])
def test_the_session_cookie_is_not_readable_by_scripts(org, new_ip, path):
    client = Client()
    sign_in(path, "gw", PASSWORD, ip=new_ip(), client=client)
    assert client.cookies[settings.SESSION_COOKIE_NAME]["httponly"]
