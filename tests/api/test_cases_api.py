"""Reading and stepping through cases from the field: my reports, my tasks, detail, actions —
each scoped by ``cases_visible_to`` and decided by the workflow rules."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.cases.models import Case, CasePhoto, Status
from tests import photo_files
from tests.api.conftest import upload
from tests.cases.helpers import dispatched_at_town, handled_at_town, routed
from tests.cases.helpers import report as report_case

pytestmark = pytest.mark.django_db


def report(org, **kwargs) -> Case:
    """A routed report, at its village's desk."""
    return routed(report_case(org, **kwargs))


def act(client, case, action, data=None, format="multipart"):
    return client.post(f"/api/cases/{case.pk}/actions/{action}/", data or {}, format=format)


# --- lists ---------------------------------------------------------------------------------


def test_my_reports_lists_only_mine_newest_first_with_colour_and_deadline(org, client_for):
    first, second = report(org), report(org, grid_key="east-v1-g2")
    report(org, user_key="gw2")
    body = client_for(org.users["gw"]).get("/api/cases/mine/").json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]
    row = body["results"][0]
    assert row["colour"] == "blue" and row["deadline"] and row["status_display"] == "待受理"
    assert row["category_name"] == "市容环境/暴露垃圾" and row["tracking_number"].count("-") == 3


@pytest.mark.parametrize(
    ("make_case", "person", "outsider", "waiting_for"),
    [
        pytest.param(report, "vh", "vh_w", "受理", id="a village handler accepts reports"),
        pytest.param(
            dispatched_at_town, "dh", "dh_w", "签收", id="a unit's handler signs for its cases"
        ),
        pytest.param(
            handled_at_town, "gw2", "gw_w", "核查", id="a grid worker verifies handled cases"
        ),
    ],
)
def test_tasks_are_the_cases_waiting_for_the_person_and_not_for_an_outsider(
    org, client_for, make_case, person, outsider, waiting_for
):
    case = make_case(org)
    rows = client_for(org.users[person]).get("/api/tasks/").json()["results"]
    assert [(row["id"], row["waiting_for"]) for row in rows] == [(case.pk, waiting_for)]
    assert client_for(org.users[outsider]).get("/api/tasks/").json()["count"] == 0


def test_a_fix_on_the_spot_is_not_its_own_reporters_task_but_a_colleagues(org, client_for):
    case = report(org, self_resolved=True, result_text="已当场清理")
    assert client_for(org.users["gw"]).get("/api/tasks/").json()["count"] == 0
    assert [r["id"] for r in client_for(org.users["gw2"]).get("/api/tasks/").json()["results"]] == [
        case.pk
    ]


# --- detail and scope ----------------------------------------------------------------------


def test_the_detail_has_timeline_photos_and_my_allowed_actions(org, client_for):
    case = dispatched_at_town(org)
    body = client_for(org.users["dh"]).get(f"/api/cases/{case.pk}/").json()
    assert body["allowed_actions"] == ["sign", "return"]
    assert [e["action"] for e in body["timeline"]] == [
        "report",
        "route",
        "accept",
        "escalate",
        "dispatch",
    ]
    assert body["lead_unit_name"] == "东镇城管中队" and body["tier"] == "town"
    assert body["photos"] == []


def test_a_grid_worker_of_west_cannot_see_an_east_case(org, client_for):
    case = report(org)
    response = client_for(org.users["gw_w"]).get(f"/api/cases/{case.pk}/")
    assert response.status_code == 404


def test_a_department_handler_sees_only_their_units_cases(org, client_for):
    case = dispatched_at_town(org)
    not_dispatched = report(org, grid_key="east-v1-g2")
    dh = client_for(org.users["dh"])
    assert dh.get(f"/api/cases/{case.pk}/").status_code == 200
    assert dh.get(f"/api/cases/{not_dispatched.pk}/").status_code == 404
    assert client_for(org.users["dh_w"]).get(f"/api/cases/{case.pk}/").status_code == 404


def test_anonymous_readers_get_nothing(org):
    case = report(org)
    for url in ("/api/cases/mine/", "/api/tasks/", f"/api/cases/{case.pk}/", "/api/me/"):
        assert APIClient().get(url).status_code in (401, 403), url


# --- steps ---------------------------------------------------------------------------------


def test_the_loop_from_the_phones_sign_handle_with_photo_verify_with_photo(org, client_for):
    case = dispatched_at_town(org)
    dh = client_for(org.users["dh"])
    response = act(dh, case, "sign")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == Status.SIGNED
    assert set(response.json()["allowed_actions"]) == {
        "handle",
        "return",
        "extension_request",
        "escalate",
    }

    response = act(
        dh, case, "handle", {"result_text": "已清运完毕", "photos": [upload("after.jpg")]}
    )
    assert response.status_code == 200, response.json()
    handle_event = next(e for e in response.json()["timeline"] if e["action"] == "handle")
    assert [p["kind"] for p in handle_event["photos"]] == ["after"]

    gw2 = client_for(org.users["gw2"])
    response = act(
        gw2,
        case,
        "verify",
        {
            "passed": "true",
            "note": "现场已干净",
            "photos": [upload("onsite.jpg", photo_files.jpeg(colour=(5, 5, 5)))],
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == Status.VERIFIED
    assert sorted(CasePhoto.objects.filter(case=case).values_list("kind", flat=True)) == [
        "after",
        "verify",
    ]
    case.refresh_from_db()
    assert "photos" in case.pending_work


def test_handling_without_an_after_photo_is_refused_and_changes_nothing(org, client_for):
    case = dispatched_at_town(org)
    dh = client_for(org.users["dh"])
    act(dh, case, "sign")
    response = act(dh, case, "handle", {"result_text": "已处理"})
    assert response.status_code == 400 and "photos" in response.json()["errors"]
    case.refresh_from_db()
    assert case.status == Status.SIGNED


def test_a_bad_after_photo_refuses_the_step_and_leaves_no_file(org, client_for):
    from tests.api.conftest import stored_files

    case = dispatched_at_town(org)
    dh = client_for(org.users["dh"])
    act(dh, case, "sign")
    response = act(
        dh, case, "handle", {"result_text": "已处理", "photos": [upload("x.jpg", b"GIF89a....")]}
    )
    assert response.status_code == 400 and "x.jpg" in response.json()["detail"]
    case.refresh_from_db()
    assert case.status == Status.SIGNED and stored_files() == []


def test_a_failed_verification_sends_the_case_back_for_rework(org, client_for):
    case = handled_at_town(org)
    gw2 = client_for(org.users["gw2"])
    no_note = act(gw2, case, "verify", {"passed": "false", "photos": [upload()]})
    assert no_note.status_code == 400 and "note" in no_note.json()["errors"]
    response = act(
        gw2, case, "verify", {"passed": "false", "note": "还有残留", "photos": [upload()]}
    )
    assert response.status_code == 200 and response.json()["status"] == Status.SIGNED
    assert response.json()["rework_count"] == 1


def test_verify_needs_a_verdict(org, client_for):
    case = handled_at_town(org)
    response = act(client_for(org.users["gw2"]), case, "verify", {"photos": [upload()]})
    assert response.status_code == 400 and "passed" in response.json()["errors"]


def test_beyond_our_capacity_escalates_with_a_reason(org, client_for):
    case = report(org)
    vh = client_for(org.users["vh"])
    assert act(vh, case, "accept", format="json").status_code == 200
    no_reason = act(vh, case, "escalate", {"reason": ""}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    response = act(vh, case, "escalate", {"reason": "超出村级处置能力"}, format="json")
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.tier == "town" and case.status == Status.ACCEPTED


def test_return_and_extension_request_from_the_phone(org, client_for):
    case = dispatched_at_town(org)
    dh = client_for(org.users["dh"])
    act(dh, case, "sign")
    response = act(
        dh, case, "extension_request", {"hours": 8, "reason": "需要协调渣土车"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert case.extension_requests.get().hours == 8
    assert "extension_request" not in response.json()["allowed_actions"]  # one pending at a time
    response = act(dh, case, "return", {"reason": "不属于城管职责"}, format="json")
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.lead_unit is None


def test_a_step_that_is_not_mine_is_refused_with_the_services_status(org, client_for):
    case = dispatched_at_town(org)
    # gw sees the case (their grid) but is not the handling unit.
    response = act(client_for(org.users["gw"]), case, "sign")
    assert response.status_code == 403 and response.json()["detail"]
    # Signing twice: the second is an illegal transition for the unit.
    dh = client_for(org.users["dh"])
    assert act(dh, case, "sign").status_code == 200
    assert act(dh, case, "sign").status_code in (403, 409)


def test_the_fixer_on_the_spot_cannot_verify_their_own_fix(org, client_for):
    case = report(org, self_resolved=True, result_text="已当场清理")
    response = act(
        client_for(org.users["gw"]), case, "verify", {"passed": "true", "photos": [upload()]}
    )
    assert response.status_code == 403
    ok = act(client_for(org.users["gw2"]), case, "verify", {"passed": "true", "photos": [upload()]})
    assert ok.status_code == 200 and ok.json()["status"] == Status.VERIFIED


def test_an_out_of_scope_case_answers_404_to_actions_too(org, client_for):
    case = dispatched_at_town(org)
    assert act(client_for(org.users["dh_w"]), case, "sign").status_code == 404
    assert act(client_for(org.users["dh"]), case, "teleport").status_code == 404


def test_photos_are_not_accepted_on_steps_that_take_none(org, client_for):
    case = dispatched_at_town(org)
    response = act(client_for(org.users["dh"]), case, "sign", {"photos": [upload()]})
    assert response.status_code == 400 and "photos" in response.json()["errors"]


# --- reference data ------------------------------------------------------------------------


def test_me_gives_my_grids_with_boundaries_for_the_offline_map(org, client_for):
    body = client_for(org.users["gw"]).get("/api/me/").json()
    assert body["role"] == "grid_worker" and body["can_report"] is True
    assert [g["code"] for g in body["grids"]] == sorted(
        [org.grids["east-v1-g1"].code, org.grids["east-v1-g2"].code]
    )
    assert body["grids"][0]["boundary"]["type"] == "Polygon"
    assert body["limits"]["max_photos"] == 9
    dh = client_for(org.users["dh"]).get("/api/me/").json()
    assert dh["can_report"] is False and dh["grids"] == [] and dh["unit_name"] == "东镇城管中队"


def test_categories_are_a_two_level_tree_of_active_leaves(org, client_for):
    org.categories["fire"].is_active = False
    org.categories["fire"].save()
    tree = client_for(org.users["gw"]).get("/api/categories/").json()
    assert {node["name"]: [c["name"] for c in node["children"]] for node in tree} == {
        "市容环境": ["暴露垃圾"],
        "规划建设": ["违法建筑"],
    }


def test_the_schema_documents_every_endpoint_the_app_uses(org, client_for):
    client = client_for(org.users["gw"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in [
        "/api/reports/",
        "/api/reports/{client_uuid}/photos/",
        "/api/cases/mine/",
        "/api/tasks/",
        "/api/cases/{id}/",
        "/api/cases/{id}/actions/{action}/",
        "/api/categories/",
        "/api/me/",
        "/api/auth/token/",
        "/api/photos/{id}/{size}/",
    ]:
        assert path in schema["paths"], path
    assert client.get("/api/docs/").status_code == 200
