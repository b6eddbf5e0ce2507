"""API refusals (403/404/409 and DRF's own) come out in Chinese and say what to do."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from apps.cases.models import Case, Status
from tests.cases.helpers import report, routed
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
# Words that tell a person what to do next; every refusal carries at least one.
WHAT_TO_DO = re.compile(r"请|联系")


def assert_actionable(response, status: int) -> str:
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert CJK.search(detail) and WHAT_TO_DO.search(detail), detail
    assert not re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", detail), detail  # no English sentence
    return detail


def logged_in(user) -> APIClient:
    client = APIClient()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_a_step_on_a_closed_case_is_refused_with_its_status_once_and_what_to_do(org):
    case = routed(report(org))
    Case.objects.filter(pk=case.pk).update(status=Status.CLOSED)
    response = logged_in(org.users["vh"]).post(f"/api/cases/{case.pk}/actions/accept/")
    detail = assert_actionable(response, 409)
    assert "“已结案”" in detail and "已已" not in detail
    assert "重新打开" in detail


def test_a_step_that_is_not_mine_says_whom_to_ask(org):
    case = routed(report(org))
    response = logged_in(org.users["gw"]).post(f"/api/cases/{case.pk}/actions/accept/")
    detail = assert_actionable(response, 403)
    assert "受理" in detail


def test_a_case_outside_my_area_is_a_404_that_says_what_to_do(org):
    case = routed(report(org))
    assert_actionable(logged_in(org.users["gw_w"]).get(f"/api/cases/{case.pk}/"), 404)


def test_drfs_own_refusals_are_replaced_by_chinese_that_says_what_to_do(org):
    # Not logged in (DRF: "Authentication credentials were not provided.").
    detail = assert_actionable(APIClient().get("/api/cases/mine/"), 403)
    assert "登录" in detail
    # A revoked or made-up token (DRF: "Invalid token.").
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert "令牌" in assert_actionable(client.get("/api/cases/mine/"), 403)
    # Unknown notification: our own wording, kept.
    assert_actionable(logged_in(org.users["gw"]).post("/api/notifications/999999/read/"), 404)
    # An unknown action and an unknown photo size: our wording.
    case = routed(report(org))
    assert_actionable(
        logged_in(org.users["vh"]).post(f"/api/cases/{case.pk}/actions/teleport/"), 404
    )
    assert_actionable(logged_in(org.users["gw"]).get("/api/photos/1/huge/"), 404)


def test_a_wrong_method_and_an_unreadable_body_are_explained(org):
    client = logged_in(org.users["gw"])
    detail = assert_actionable(client.delete("/api/cases/mine/"), 405)
    assert "DELETE" in detail
    response = client.post("/api/reports/", "{not json", content_type="application/json")
    assert_actionable(response, 400)


def test_a_form_posted_without_its_csrf_token_is_told_to_refresh(org):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=org.users["gw"].username, password=PASSWORD)
    detail = assert_actionable(client.post("/api/reports/", {}, format="json"), 403)
    assert "刷新" in detail and "CSRF" not in detail


def test_an_unknown_api_address_answers_json_not_a_page(org):
    response = logged_in(org.users["gw"]).get("/api/no-such-thing/")
    assert response["Content-Type"].startswith("application/json")
    assert_actionable(response, 404)
