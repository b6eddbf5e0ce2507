"""Side paths of the loop: extensions (延期), returns (退单) per tier, joint response (闪电集结) by
the county, deferral (挂账)."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.cases import clock, rules, services
from apps.cases.models import Action, Colour, ExtensionStatus, Severity, Status
from apps.org.models import Tier
from tests.cases.helpers import dispatched_at_town, report, routed

pytestmark = pytest.mark.django_db


def signed_at_town(org):
    case = dispatched_at_town(org)
    services.case_sign(case=case, actor=org.users["dh"])
    case.refresh_from_db()
    return case


def test_an_approved_extension_moves_the_deadline_and_the_yellow_mark(org):
    case = signed_at_town(org)
    before = case.step_deadline
    request = services.extension_request(
        case=case, actor=org.users["dh"], hours=8, reason="需要协调产权人"
    )
    services.extension_decide(request=request, actor=org.users["td"], approve=True)
    case.refresh_from_db()
    basis = clock.time_basis(case)
    assert case.step_deadline == clock.add_limit(before, 8, basis)
    assert timezone.now() < case.yellow_at < case.step_deadline < case.escalate_at
    assert case.sweep_due_at == case.yellow_at and case.colour == Colour.BLUE
    assert case.extension_count == 1


def test_a_foreign_dispatcher_cannot_decide_an_extension(org):
    case = signed_at_town(org)
    request = services.extension_request(
        case=case, actor=org.users["dh"], hours=8, reason="需要协调"
    )
    with pytest.raises(services.NotPermitted):
        services.extension_decide(request=request, actor=org.users["td_w"], approve=True)
    request.refresh_from_db()
    assert request.status == ExtensionStatus.PENDING


def test_an_undecided_extension_is_closed_when_the_unit_reports_back(org):
    case = signed_at_town(org)
    request = services.extension_request(
        case=case, actor=org.users["dh"], hours=8, reason="需要协调"
    )
    services.case_handle(case=case, actor=org.users["dh"], result_text="已处理完毕")
    request.refresh_from_db()
    assert request.status == ExtensionStatus.DENIED and request.decided_by is None


def test_after_a_return_the_next_unit_may_ask_for_more_time(org):
    case = signed_at_town(org)
    services.extension_request(case=case, actor=org.users["dh"], hours=8, reason="需要协调")
    services.case_return(case=case, actor=org.users["dh"], reason="不属于城管职责")
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    services.case_sign(case=case, actor=org.users["dh"])
    case.refresh_from_db()
    assert "extension_request" in rules.allowed_actions(case, org.users["dh"])
    services.extension_request(case=case, actor=org.users["dh"], hours=4, reason="再次协调")


def test_returns_are_counted_per_tier_so_an_escalated_case_is_not_bounced_straight_up(
    org, settings
):
    settings.RETURNS_BEFORE_ESCALATION = 2
    u = org.users
    case = routed(report(org))
    services.case_accept(case=case, actor=u["vh"])
    for _ in range(2):
        services.case_dispatch(case=case, actor=u["vh"], lead_unit=org.units["east-v1-ws"])
        services.case_return(case=case, actor=u["vh"], reason="村里办不了")
    case.refresh_from_db()
    assert case.tier == Tier.TOWN
    services.case_dispatch(case=case, actor=u["td"], lead_unit=org.units["east-cg"])
    services.case_return(case=case, actor=u["dh"], reason="不是城管的")
    case.refresh_from_db()
    assert case.tier == Tier.TOWN and case.status == Status.ACCEPTED and case.return_count == 3
    services.case_dispatch(case=case, actor=u["td"], lead_unit=org.units["east-cg"])
    services.case_return(case=case, actor=u["dh"], reason="还是不是城管的")
    case.refresh_from_db()
    assert case.tier == Tier.COUNTY
    assert case.events.filter(action=Action.ESCALATE, data__trigger="returns").count() == 2


def test_a_county_dispatcher_opens_a_joint_response_for_a_case_that_turns_out_major(org):
    case = dispatched_at_town(org)
    services.case_joint_response(case=case, actor=org.users["cd"])
    case.refresh_from_db()
    assert case.joint_response and case.tier == Tier.COUNTY and case.holder_id == org.county.pk
    assert case.status == Status.DISPATCHED and case.lead_unit_id == org.units["county-cg"].pk
    assert set(case.assisting_units.all()) == {org.units["east-cg"]}
    assert "joint_response" not in rules.allowed_actions(case, org.users["cd"])  # once is enough


@pytest.mark.parametrize("who", ["td", "vh", "dh", "leader", "gw"])
def test_nobody_but_the_county_desk_opens_a_joint_response(org, who):
    case = dispatched_at_town(org)
    with pytest.raises(services.NotPermitted):
        services.case_joint_response(case=case, actor=org.users[who])
    case.refresh_from_db()
    assert not case.joint_response and case.tier == Tier.TOWN


def test_a_major_self_resolved_report_is_not_pulled_into_a_joint_response(org):
    case = routed(
        report(org, severity=Severity.MAJOR, self_resolved=True, result_text="已当场清理")
    )
    assert case.status == Status.HANDLED and not case.joint_response and case.tier == Tier.VILLAGE


def test_a_deferred_case_keeps_its_owner_and_cannot_be_deferred_into_the_past(org):
    case = routed(report(org))
    services.case_accept(case=case, actor=org.users["vh"])
    with pytest.raises(services.WorkflowError):
        services.case_defer(
            case=case, actor=org.users["vh"], review_on=timezone.localdate(), reason="预算"
        )
    services.case_defer(
        case=case,
        actor=org.users["vh"],
        review_on=timezone.localdate() + dt.timedelta(days=3),
        reason="需要预算",
    )
    case.refresh_from_db()
    assert case.status == Status.DEFERRED and case.holder_id == org.villages["east-v1"].pk
    with pytest.raises(services.NotPermitted):
        services.case_resume(case=case, actor=org.users["vh_w"])
    services.case_resume(case=case, actor=org.users["vh"], note="预算已到位")
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.colour == Colour.BLUE
