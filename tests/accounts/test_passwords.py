"""Password policy and the first-login password change (desk, field app, token endpoint)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from apps.accounts.models import AccountAction, AccountEvent, AccountStatus
from apps.accounts.services import account_password_change_own, account_password_set
from tests.accounts.conftest import sign_in

TEMPORARY = "Chushi-mima-2026"
CHOSEN = "Wode-xin-mima-7"


@pytest.mark.parametrize(
    "password, message",
    [
        ("Ab1!xyz", "密码太短：至少需要 8 个字符，请换一个更长的密码。"),
        ("abcdefgh-", "密码太简单：须包含小写字母、大写字母、数字、符号中的至少 3 类，请换一个。"),
        ("Zhangwei-2026", "密码与账号的用户名太相似，请换一个与账号信息无关的密码。"),
        ("P@ssw0rd", "这个密码太常见，容易被猜中，请换一个。"),
        ("73920581", "密码不能全是数字，请加入字母或符号。"),
    ],
)
def test_each_password_rule_refuses_with_its_chinese_message(password, message):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, User(username="zhangwei"))
    assert message in refused.value.messages


@pytest.mark.parametrize("password", ["Liandong-2026x", "Qingshan7Cun", "test-pass-123"])
def test_a_good_password_is_accepted(password):
    validate_password(password, User(username="zhangwei"))


def test_an_administrators_reset_must_follow_the_policy_and_is_recorded_without_the_password(org):
    gw = org.users["gw"]
    with pytest.raises(ValidationError):
        account_password_set(actor=org.users["td"], user=gw, password="12345678")
    account_password_set(actor=org.users["td"], user=gw, password=TEMPORARY)
    gw.refresh_from_db()
    assert gw.check_password(TEMPORARY)
    status = AccountStatus.objects.get(user=gw)
    assert status.must_change_password and status.password_changed_at
    event = AccountEvent.objects.get(action=AccountAction.SET_PASSWORD)
    assert event.actor == org.users["td"] and TEMPORARY not in json.dumps(event.changes)


def test_the_desk_sends_a_new_account_to_the_password_page_first(org, new_ip):
    td = org.users["td"]
    account_password_set(actor=org.users["cd"], user=td, password=TEMPORARY)
    desk = Client()
    assert sign_in("/accounts/login/", "td", TEMPORARY, ip=new_ip(), client=desk).status_code == 302
    for path in ["/", "/admin/", "/admin/cases/case/"]:
        response = desk.get(path)
        assert response.status_code == 302 and response.url == "/accounts/password/", path
    api = desk.get("/api/me/")
    assert api.status_code == 403 and "首次登录须先修改初始密码" in api.json()["detail"]
    page = desk.get("/accounts/password/")
    assert page.status_code == 200 and "首次登录须先修改初始密码" in page.content.decode()
    # The admin's own “修改密码” link leads to the same page.
    assert "首次登录须先修改初始密码" in desk.get("/admin/password_change/").content.decode()

    weak = desk.post(
        "/accounts/password/",
        {"old_password": TEMPORARY, "new_password1": "abcdefgh", "new_password2": "abcdefgh"},
    )
    assert weak.status_code == 200 and "密码太简单" in weak.content.decode()
    done = desk.post(
        "/accounts/password/",
        {"old_password": TEMPORARY, "new_password1": CHOSEN, "new_password2": CHOSEN},
    )
    assert done.status_code == 302
    assert desk.get("/admin/").status_code == 200  # still signed in, free to work
    assert desk.get("/api/me/").status_code == 200
    assert not AccountStatus.objects.get(user=td).must_change_password
    assert AccountEvent.objects.filter(
        action=AccountAction.CHANGE_OWN_PASSWORD, actor=td, target=td
    ).exists()


def test_the_field_app_sends_a_new_account_to_its_own_password_page(org, new_ip):
    gw = org.users["gw"]
    account_password_set(actor=org.users["td"], user=gw, password=TEMPORARY)
    phone = Client()
    sign_in("/field/login/", "gw", TEMPORARY, ip=new_ip(), client=phone)
    response = phone.get("/field/")
    assert response.status_code == 302 and response.url == "/field/password/"
    page = phone.get("/field/password/").content.decode()
    assert "首次登录须先修改初始密码" in page and "field/app.css" in page
    # The service worker and manifest stay reachable (the app installs and updates as usual).
    assert phone.get("/field/sw.js").status_code == 200
    assert phone.get("/api/tasks/").status_code == 403

    mismatch = phone.post(
        "/field/password/",
        {"old_password": TEMPORARY, "new_password1": CHOSEN, "new_password2": CHOSEN + "x"},
    )
    assert mismatch.status_code == 200 and "不一致" in mismatch.content.decode()
    done = phone.post(
        "/field/password/",
        {"old_password": TEMPORARY, "new_password1": CHOSEN, "new_password2": CHOSEN},
    )
    assert done.status_code == 302 and done.url == "/field/"
    assert phone.get("/field/").status_code == 200
    assert phone.get("/api/tasks/").status_code == 200


def test_the_token_endpoint_gives_no_token_before_the_password_is_changed(org, new_ip):
    gw = org.users["gw"]
    account_password_set(actor=org.users["td"], user=gw, password=TEMPORARY)
    refused = sign_in("/api/auth/token/", "gw", TEMPORARY, ip=new_ip())
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "首次登录须先修改初始密码：请先在外勤 App 或指挥台登录并修改密码，再获取令牌。"
    }
    account_password_change_own(user=gw, password=CHOSEN)
    assert sign_in("/api/auth/token/", "gw", CHOSEN, ip=new_ip()).status_code == 200


def test_the_password_page_of_the_field_app_asks_a_stranger_to_sign_in(db):
    response = Client().get("/field/password/")
    assert response.status_code == 302 and response.url.startswith("/field/login/")


def test_an_account_without_the_requirement_goes_straight_to_work(org, new_ip):
    phone = Client()
    sign_in("/field/login/", "gw", ip=new_ip(), client=phone)
    assert phone.get("/field/").status_code == 200


def test_a_reset_without_the_requirement_lets_the_person_straight_in(org, new_ip):
    account_password_set(
        actor=org.users["td"], user=org.users["gw"], password=TEMPORARY, must_change=False
    )
    phone = Client()
    sign_in("/field/login/", "gw", TEMPORARY, ip=new_ip(), client=phone)
    assert phone.get("/field/").status_code == 200
    assert sign_in("/api/auth/token/", "gw", TEMPORARY, ip=new_ip()).status_code == 200


def test_a_reset_signs_the_account_out_of_its_open_sessions(org, new_ip):
    phone = Client()
    sign_in("/field/login/", "gw", ip=new_ip(), client=phone)
    assert phone.get("/field/").status_code == 200
    account_password_set(actor=org.users["td"], user=org.users["gw"], password=TEMPORARY)
    response = phone.get("/field/")
    assert response.status_code == 302 and response.url.startswith("/field/login/")
