"""The case page: every legal next step is a button that calls the workflow service, and
nothing else is offered."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from apps.cases import services
from apps.cases.models import Action, Case, ExtensionStatus, PhotoKind, Status
from apps.desk.admin import photo_src
from apps.org.models import Tier
from tests.admin.conftest import add_photo, at_county, at_town, num, report

pytestmark = pytest.mark.django_db


def offered(response) -> set[str]:
    return {item["spec"].name for item in response.context["action_forms"]}


def offered_to(client, case) -> set[str]:
    """The steps the case page offers the person signed in with ``client``."""
    return offered(client.get(f"/admin/cases/case/{case.pk}/change/"))


def act(client, case, action, data=None, **kwargs):
    return client.post(f"/admin/cases/case/{case.pk}/act/{action}/", data or {}, **kwargs)


def last_message(response) -> str:
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def test_the_page_offers_exactly_the_steps_the_rules_allow(org, desk):
    fresh = report(org)
    assert offered_to(desk["vh"], fresh) == {"accept", "reject", "merge", "escalate"}
    # The town can see the village's case but does not hold it: nothing to press.
    assert offered_to(desk["td"], fresh) == set()
    waiting = at_town(org)
    assert offered_to(desk["td"], waiting) == {"dispatch", "escalate", "defer", "merge", "reject"}


def test_a_town_dispatcher_dispatches_with_assisting_units_and_a_deadline(org, desk):
    case = at_town(org)
    response = act(
        desk["td"],
        case,
        "dispatch",
        {
            "dispatch-lead_unit": org.units["east-cg"].pk,
            "dispatch-assisting_units": [org.units["east-sj"].pk],
            "dispatch-deadline_hours": "24",
            "dispatch-note": "请尽快清理",
        },
        follow=True,
    )
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.lead_unit_id == org.units["east-cg"].pk
    assert list(case.assisting_units.all()) == [org.units["east-sj"]]
    event = case.events.get(action=Action.DISPATCH)
    assert event.actor == org.users["td"] and event.note == "请尽快清理"
    body = response.content.decode()
    assert "已派遣至 东镇城管中队" in body
    assert "协办：东镇市场监管所" in body and "办理时限：24 小时" in body  # in the timeline


def test_the_dispatch_form_offers_only_units_legal_for_the_tier(org, desk):
    town_case = at_town(org)
    form = (
        desk["td"]
        .get(f"/admin/cases/case/{town_case.pk}/change/")
        .context["action_forms"][0]["form"]
    )
    assert set(form.fields["lead_unit"].queryset) == {
        org.units["east-cg"],
        org.units["east-sj"],
        org.units["east-bm"],
    }
    county_case = at_county(org)
    forms = {
        i["spec"].name: i["form"]
        for i in desk["cd"]
        .get(f"/admin/cases/case/{county_case.pk}/change/")
        .context["action_forms"]
    }
    units = set(forms["dispatch"].fields["lead_unit"].queryset)
    assert {org.units["county-cg"], org.units["county-sj"], org.units["east-cg"]} <= units
    assert org.units["west-cg"] not in units and org.units["east-v1-ws"] not in units
    village_case = report(org)
    services.case_accept(case=village_case, actor=org.users["vh"])
    forms = {
        i["spec"].name: i["form"]
        for i in desk["vh"]
        .get(f"/admin/cases/case/{village_case.pk}/change/")
        .context["action_forms"]
    }
    assert set(forms["dispatch"].fields["lead_unit"].queryset) == {org.units["east-v1-ws"]}


def test_posting_a_foreign_unit_is_refused_with_the_form_error(org, desk):
    case = at_town(org)
    response = act(desk["td"], case, "dispatch", {"dispatch-lead_unit": org.units["west-cg"].pk})
    assert response.status_code == 400
    assert "lead_unit" in response.context["action_forms"][0]["form"].errors
    case.refresh_from_db()
    assert (
        case.status == Status.ACCEPTED and not case.events.filter(action=Action.DISPATCH).exists()
    )


def test_a_refused_step_shows_the_workflow_services_reason(org, desk):
    case = at_town(org)
    response = act(desk["td"], case, "close", {"close-note": ""}, follow=True)
    assert "未执行" in last_message(response) and "结案" in last_message(response)
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED


def test_reject_needs_a_reason_and_a_note(org, desk):
    case = report(org)
    response = act(desk["vh"], case, "reject", {"reject-reason": "", "reject-note": ""})
    assert response.status_code == 400
    act(desk["vh"], case, "reject", {"reject-reason": "not_public", "reject-note": "私人纠纷"})
    case.refresh_from_db()
    assert case.status == Status.REJECTED and case.reject_reason == "not_public"


def test_accept_then_escalate_moves_the_case_to_the_town_desk(org, desk):
    case = report(org)
    act(desk["vh"], case, "accept", {"accept-note": "属实"})
    assert act(desk["vh"], case, "escalate", {"escalate-reason": ""}).status_code == 400
    act(desk["vh"], case, "escalate", {"escalate-reason": "需要执法力量"})
    case.refresh_from_db()
    assert (case.tier, case.status) == (Tier.TOWN, Status.ACCEPTED)


def test_the_desk_approves_an_extension_request(org, desk):
    case = at_town(org)
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    services.case_sign(case=case, actor=org.users["dh"])
    request = services.extension_request(case=case, actor=org.users["dh"], hours=8, reason="等材料")
    case.refresh_from_db()
    before = case.step_deadline
    page = desk["td"].get(f"/admin/cases/case/{case.pk}/change/")
    assert "extension_decide" in offered(page) and "等材料" in page.content.decode()
    act(desk["td"], case, "extension_decide", {"extension_decide-decision": "approve"})
    request.refresh_from_db()
    case.refresh_from_db()
    assert request.status == ExtensionStatus.APPROVED and case.step_deadline > before


def test_the_extension_list_denies_in_bulk_through_the_service(org, desk):
    case = at_town(org)
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    services.case_sign(case=case, actor=org.users["dh"])
    request = services.extension_request(case=case, actor=org.users["dh"], hours=8, reason="等材料")
    desk["td"].post(
        "/admin/cases/extensionrequest/",
        {"action": "deny_selected", "_selected_action": [request.pk]},
    )
    request.refresh_from_db()
    assert request.status == ExtensionStatus.DENIED
    assert case.events.filter(action=Action.EXTENSION_DENY, actor=org.users["td"]).exists()


def test_merge_into_a_nearby_case_from_the_duplicates_panel(org, desk):
    first = report(org, description="垃圾堆")
    second = report(org, description="同一堆垃圾")
    page = desk["vh"].get(f"/admin/cases/case/{second.pk}/change/")
    assert first in [other for other, _ in page.context["nearby"]]
    act(desk["vh"], second, "merge", {"merge-into": num(first)})
    second.refresh_from_db()
    assert second.status == Status.MERGED and second.merged_into_id == first.pk


def test_merge_cannot_name_a_case_outside_the_scope(org, desk):
    own = report(org)
    foreign = report(org, grid="west-v1-g1", reporter="gw_w")
    response = act(desk["vh"], own, "merge", {"merge-into": num(foreign)})
    assert response.status_code == 400
    assert (
        "找不到" in str(response.context["action_forms"][2]["form"].errors)
        or "找不到" in response.content.decode()
    )
    own.refresh_from_db()
    assert own.status == Status.REPORTED


def test_merge_explains_a_mistyped_number(org, desk):
    case = report(org)
    response = act(desk["vh"], case, "merge", {"merge-into": "12345"})
    assert response.status_code == 400 and "不是有效的流水号" in response.content.decode()


def test_defer_and_resume(org, desk):
    case = at_town(org)
    tomorrow = timezone.localdate() + dt.timedelta(days=7)
    act(
        desk["td"],
        case,
        "defer",
        {"defer-review_on": tomorrow.isoformat(), "defer-reason": "等预算"},
    )
    case.refresh_from_db()
    assert case.status == Status.DEFERRED
    assert offered_to(desk["td"], case) == {"resume"}
    act(desk["td"], case, "resume", {})
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED


def test_close_and_reopen(org, desk):
    case = at_town(org)
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    services.case_sign(case=case, actor=org.users["dh"])
    services.case_handle(case=case, actor=org.users["dh"], result_text="已清运")
    services.case_verify(case=case, actor=org.users["gw2"], passed=True)
    act(desk["td"], case, "close", {"close-note": "办结"})
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    act(desk["td"], case, "reopen", {"reopen-reason": "群众反映又出现"})
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED


def test_the_page_shows_the_timeline_photos_and_map(org, desk):
    case = at_town(org)
    before, after = add_photo(case), add_photo(case, kind=PhotoKind.AFTER)
    response = desk["td"].get(f"/admin/cases/case/{case.pk}/change/")
    body = response.content.decode()
    assert [entry["kind"] for entry in response.context["timeline"]] == [
        "report",
        "route",
        "accept",
        "escalate",
    ]
    assert (
        photo_src(before).replace("&", "&amp;") in body
        and photo_src(after).replace("&", "&amp;") in body
    )
    assert [p for p, _, _ in response.context["before_photos"]] == [before]
    assert [p for p, _, _ in response.context["after_photos"]] == [after]
    assert response.context["map_json"]["grid"]["type"] == "Polygon"
    assert 'id="ld-case-map-data"' in body


def test_urge_overdue_urges_only_the_overdue_cases_the_desk_holds(org, desk):
    late, on_time = at_town(org), at_town(org)
    for case in (late, on_time):
        services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    Case.objects.filter(pk=late.pk).update(step_deadline=timezone.now() - dt.timedelta(hours=2))
    response = desk["td"].post(
        "/admin/cases/case/",
        {"action": "urge_overdue", "_selected_action": [late.pk, on_time.pk]},
        follow=True,
    )
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.urge_count, on_time.urge_count) == (1, 0)
    assert "已督办 1 件" in response.content.decode()


def test_bulk_dispatch_asks_for_the_unit_then_dispatches_each_case(org, desk):
    cases = [at_town(org), at_town(org)]
    ids = [c.pk for c in cases]
    page = desk["td"].post(
        "/admin/cases/case/", {"action": "dispatch_selected", "_selected_action": ids}
    )
    assert page.status_code == 200 and "派遣所选事件" in page.content.decode()
    assert set(page.context["form"].fields["lead_unit"].queryset) == {
        org.units["east-cg"],
        org.units["east-sj"],
        org.units["east-bm"],
    }
    desk["td"].post(
        "/admin/cases/case/",
        {
            "action": "dispatch_selected",
            "_selected_action": ids,
            "apply": "1",
            "lead_unit": org.units["east-bm"].pk,
        },
    )
    assert set(Case.objects.filter(pk__in=ids).values_list("status", "lead_unit_id")) == {
        (Status.DISPATCHED, org.units["east-bm"].pk)
    }


def test_an_unknown_action_is_404_and_get_goes_back_to_the_page(org, desk):
    case = at_town(org)
    assert act(desk["td"], case, "teleport").status_code == 404
    assert desk["td"].get(f"/admin/cases/case/{case.pk}/act/dispatch/").status_code == 302
