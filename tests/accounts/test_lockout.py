"""Login protection: django-axes on every login path, per account and per address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import AccountAction, AccountEvent
from apps.accounts.services import account_unlock
from tests.accounts.conftest import LOGIN_PATHS, sign_in, signed_in
from tests.factories import PASSWORD

RETRY_WORDS = ("登录失败次数过多", "分钟后", "以后）再试", "联系管理员解除锁定")


def assert_locked(path: str, response) -> None:
    assert response.status_code == 429, response.content[:300]
    text = response.json()["detail"] if path.startswith("/api/") else response.content.decode()
    for words in RETRY_WORDS:
        assert words in text
    if path.startswith("/field/"):
        assert "联动 · 网格外勤" in text and "field/app.css" in text
    elif not path.startswith("/api/"):
        assert "登录已锁定" in text and "errornote" in text


def fail_until_locked(path: str, username: str, ip: str) -> None:
    """AXES_FAILURE_LIMIT wrong passwords; the last one already answers with the lock."""
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in(path, username, "wrong-Pass-1", ip=ip)
        if attempt < settings.AXES_FAILURE_LIMIT - 1:
            assert response.status_code in (200, 400), response.status_code
    assert_locked(path, response)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_five_bad_passwords_lock_the_account_even_against_the_right_one(org, new_ip, path):
    ip = new_ip()
    fail_until_locked(path, "td", ip)
    # The right password is refused too, with the Chinese message saying when to retry.
    assert_locked(path, sign_in(path, "td", PASSWORD, ip=ip))
    # From another address the account is still locked (the lock is per account)…
    assert_locked(path, sign_in(path, "td", PASSWORD, ip=new_ip()))
    # …while another account signs in from there.
    assert signed_in(path, sign_in(path, "cd", PASSWORD, ip=new_ip()))


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_failures_across_usernames_from_one_address_lock_that_address(org, new_ip, path):
    ip = new_ip()
    for username in ["gw", "gl", "vh", "nobody", "td_w"]:
        sign_in(path, username, "wrong-Pass-1", ip=ip)
    # An account with no failure of its own is refused from that address…
    assert_locked(path, sign_in(path, "cd", PASSWORD, ip=ip))
    # …and signs in from any other one.
    assert signed_in(path, sign_in(path, "cd", PASSWORD, ip=new_ip()))


def test_the_retry_time_is_the_cool_off_from_now_in_local_time(org, new_ip):
    ip = new_ip()
    fail_until_locked("/accounts/login/", "td", ip)
    text = sign_in("/accounts/login/", "td", ip=ip).content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"请在 {minutes} 分钟后" in text
    soon = timezone.localtime() + settings.AXES_COOLOFF_TIME
    assert any(f"{soon + timedelta(minutes=d):%H:%M} 以后" in text for d in (0, 1)), text


def test_the_lock_lifts_by_itself_after_the_cool_off(org, new_ip):
    ip = new_ip()
    fail_until_locked("/field/login/", "gw", ip)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert signed_in("/field/login/", sign_in("/field/login/", "gw", ip=ip))


def test_a_successful_sign_in_clears_the_failures(org, new_ip):
    ip = new_ip()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in("/accounts/login/", "td", "wrong-Pass-1", ip=ip)
    assert signed_in("/accounts/login/", sign_in("/accounts/login/", "td", ip=ip))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in("/api/auth/token/", "td", "wrong-Pass-1", ip=ip)
    assert signed_in("/api/auth/token/", sign_in("/api/auth/token/", "td", ip=ip))
    assert not AccessAttempt.objects.filter(username="td").exists()


def test_a_forged_forwarded_for_header_does_not_give_a_fresh_address(org, new_ip):
    ip = new_ip()
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": f"x{n}", "password": "bad"},
            REMOTE_ADDR=ip,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    response = client.post(
        "/accounts/login/",
        {"username": "cd", "password": PASSWORD},
        REMOTE_ADDR=ip,
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )
    assert_locked("/accounts/login/", response)


def test_unlock_lifts_the_lock_and_is_recorded(org, new_ip):
    ip = new_ip()
    fail_until_locked("/admin/login/", "td", ip)
    cleared = account_unlock(actor=org.users["cd"], user=org.users["td"])
    assert cleared >= 1
    # Same account, same address: the account's failures were also the address's.
    assert signed_in("/admin/login/", sign_in("/admin/login/", "td", ip=ip))
    event = AccountEvent.objects.get(action=AccountAction.UNLOCK)
    assert event.actor == org.users["cd"] and event.target == org.users["td"]


def test_the_unlock_command_lifts_an_account_or_an_address(org, new_ip, capsys):
    ip = new_ip()
    fail_until_locked("/field/login/", "gw", ip)
    call_command("account_unlock", "gw")
    assert "已解除账号“gw”的登录锁定" in capsys.readouterr().out
    assert signed_in("/field/login/", sign_in("/field/login/", "gw", ip=ip))

    other = new_ip()
    for username in ["a1", "a2", "a3", "a4", "a5"]:
        sign_in("/field/login/", username, "bad", ip=other)
    assert_locked("/field/login/", sign_in("/field/login/", "gl", ip=other))
    call_command("account_unlock", "--ip", other)
    assert signed_in("/field/login/", sign_in("/field/login/", "gl", ip=other))


def test_the_test_clients_login_still_works_with_the_lockout_installed(org):
    assert Client().login(username="td", password=PASSWORD)
    assert not Client().login(username="td", password="wrong")


def test_the_unlock_command_says_what_is_missing(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="请给出要解除锁定的账号"):
        call_command("account_unlock")
    with pytest.raises(CommandError, match="账号“nobody”不存在"):
        call_command("account_unlock", "nobody")
