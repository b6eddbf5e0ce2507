"""End to end in Chromium against the real server: a phone's first sign-in with an initial
password, and the lockout pages of the field app and the desk."""

from __future__ import annotations

import pytest

from apps.accounts.models import AccountStatus
from apps.accounts.services import account_password_set
from tests.conftest import screenshot, submit_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEMPORARY = "Chushi-mima-2026"
CHOSEN = "Wode-xin-mima-7"


def test_a_phones_first_sign_in_chooses_a_password_then_opens_the_app(
    org_tx, asgi_server, phone_context
):
    gw = org_tx.users["gw"]
    account_password_set(actor=org_tx.users["td"], user=gw, password=TEMPORARY)
    page = phone_context.new_page()
    page.goto(asgi_server + "/field/")
    submit_login(page, "gw", TEMPORARY)
    page.wait_for_selector("input[name=new_password1]")
    assert page.url.endswith("/field/password/")
    assert "首次登录须先修改初始密码" in page.content()
    page.fill("input[name=old_password]", TEMPORARY)
    page.fill("input[name=new_password1]", "abcdefgh")
    page.fill("input[name=new_password2]", "abcdefgh")
    page.click("button.primary")
    page.wait_for_selector(".error")
    assert "密码太简单" in page.content()
    screenshot(page, "accounts-01-field-password")
    page.fill("input[name=old_password]", TEMPORARY)
    page.fill("input[name=new_password1]", CHOSEN)
    page.fill("input[name=new_password2]", CHOSEN)
    page.click("button.primary")
    page.wait_for_selector("body[data-ready='1']")
    assert page.url.endswith("/field/")
    assert not AccountStatus.objects.get(user=gw).must_change_password


def test_the_lockout_pages_look_like_the_login_that_was_used(
    org_tx, asgi_server, phone_context, desk_context
):
    phone = phone_context.new_page()
    phone.goto(asgi_server + "/field/login/")
    for _ in range(5):
        submit_login(phone, "gw", "wrong-Pass-1")
        phone.wait_for_load_state()
        if "登录已锁定" in phone.title():
            break
        phone.goto(asgi_server + "/field/login/")
    assert "登录已锁定" in phone.title()
    text = phone.text_content(".error")
    assert "分钟后" in text and "以后）再试" in text
    screenshot(phone, "accounts-02-field-locked")

    desk = desk_context.new_page()
    desk.goto(asgi_server + "/admin/login/")
    submit_login(desk, "td")
    # The same address (127.0.0.1) just failed five times: it is locked for every account.
    desk.wait_for_selector(".errornote")
    assert "登录失败次数过多" in desk.text_content(".errornote")
    screenshot(desk, "accounts-03-desk-locked")
