"""Refused and failed requests answer Chinese pages that say what to do, with the right status,
in a look that fits who is reading (desk, field app, public pages)."""

from __future__ import annotations

import re

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import path

from apps.cases.models import CaseEvent
from apps.org import error_views
from tests.admin.conftest import at_town
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CJK = re.compile(r"[\u4e00-\u9fff]")


def login(user, **kwargs) -> Client:
    client = Client(**kwargs)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def assert_chinese_page(response, status: int, *must: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html and "请" in html
    assert "Forbidden" not in html and "Not Found" not in html and "Server Error" not in html
    for text in must:
        assert text in html, text
    assert "Content-Security-Policy" in response
    return html


def test_a_leader_urging_from_the_desk_is_refused_with_the_chinese_403(org):
    case = at_town(org)
    response = login(org.users["leader"]).post(
        f"/admin/cases/case/{case.pk}/act/urge/", {"urge-note": "快"}
    )
    html = assert_chinese_page(
        response, 403, "您没有权限执行这项操作", "联系本级指挥中心", "基层治理指挥台"
    )
    assert 'href="/admin/"' in html


def test_nobody_edits_or_deletes_a_history_row_and_is_told_so_in_chinese(org):
    case = at_town(org)
    event = CaseEvent.objects.filter(case=case).first()
    td = login(org.users["td"])
    assert_chinese_page(
        td.post(f"/admin/cases/caseevent/{event.pk}/delete/", {"post": "yes"}),
        403,
        "只能查看，任何人都不能修改或删除",
    )
    assert_chinese_page(td.post(f"/admin/cases/caseevent/{event.pk}/change/", {}), 403)
    assert CaseEvent.objects.filter(pk=event.pk).exists()


def test_an_admin_page_outside_my_area_is_a_chinese_404(org):
    response = login(org.users["td"]).get("/admin/no-such-page/")
    # The admin sends unknown admin URLs of a logged-in user to a 404 of its own catch-all.
    assert_chinese_page(response, 404, "找不到这条记录", "不在您的辖区内")


def test_an_evaluation_404_shows_the_reason_our_code_gave(org):
    response = login(org.users["td"]).get("/evaluation/scores/unit/999999/")
    html = assert_chinese_page(response, 404)
    assert "辖区" in html


def test_a_public_404_looks_like_the_public_pages_not_the_desk(org):
    html = assert_chinese_page(
        Client().get("/track/no/such/page/"), 404, "找不到这个页面", "用流水号", "事件查询"
    )
    assert "指挥台" not in html and 'href="/track/"' in html


def test_a_field_404_sends_the_worker_back_to_the_app(org):
    html = assert_chinese_page(Client().get("/field/nothing-here/"), 404, "回到外勤首页")
    assert "指挥台" not in html


def test_an_expired_form_is_explained_and_not_called_csrf(org):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "gw", "password": PASSWORD})
    html = assert_chinese_page(response, 403, "页面已过期", "刷新")
    assert "CSRF" not in html


def broken(request):
    raise RuntimeError("the database is down")


urlpatterns = [path("track/broken/", broken), path("admin/broken/", broken)]
handler500 = "apps.org.error_views.server_error"


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(
    "url, brand", [("/track/broken/", "事件查询"), ("/admin/broken/", "指挥台")]
)
def test_a_server_error_is_a_chinese_500_that_says_what_to_do(url, brand):
    client = Client(raise_request_exception=False)
    assert_chinese_page(client.get(url), 500, "系统出错了", "稍等", "联系系统管理员", brand)


def test_the_500_page_renders_without_a_request_context_or_database(django_assert_num_queries):
    request = RequestFactory().get("/field/anything/")
    with django_assert_num_queries(0):
        response = error_views.server_error(request)
    assert response.status_code == 500 and "系统出错了" in response.content.decode()


def test_a_400_is_chinese(org):
    request = RequestFactory().get("/track/")
    response = error_views.bad_request(request, Exception("bad"))
    assert response.status_code == 400 and "请刷新页面后重新操作" in response.content.decode()


def test_english_reasons_from_django_are_not_shown_but_ours_are():
    from django.http import Http404

    assert error_views._context("/admin/", Http404("no such action"))["reason"] == ""
    assert (
        error_views._context("/admin/", Http404("不在您的辖区内。"))["reason"] == "不在您的辖区内。"
    )
    assert error_views._context("/admin/", Http404({"path": "x"}))["reason"] == ""
