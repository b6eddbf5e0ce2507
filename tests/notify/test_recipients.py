"""Who is told about what: every kind of event reaches the people who must act or know, never the
person who acted, never twice, and never anyone who may not see the case."""

import pytest

from apps.cases import services as workflow
from apps.cases.models import Action, CaseEvent, RejectReason, Severity
from apps.cases.selectors import cases_visible_to
from apps.cases.tracking import display
from apps.notify import selectors, services
from apps.notify.models import Kind, Notification
from apps.org.models import Role
from tests.cases.helpers import dispatched_at_town, handled_at_town
from tests.factories import make_person
from tests.notify.helpers import at_town_desk, fan_out, report, told


@pytest.mark.django_db
def test_a_new_report_tells_the_village_workstation(org):
    case = report(org)
    workflow.case_route(case_id=case.pk)
    fan_out(case)
    assert told(case, Kind.NEW_REPORT) == {"vh"}
    assert told(case) == {"vh"}  # the report itself and the reporter's own action tell nobody else


@pytest.mark.django_db
def test_an_escalation_tells_the_desk_of_the_tier_above_and_no_other_town(org):
    case = at_town_desk(org)
    fan_out(case)
    assert told(case, Kind.ESCALATION) == {"td"}


@pytest.mark.django_db
def test_a_dispatch_tells_the_lead_and_assisting_units_but_not_the_dispatcher(org):
    make_person("sj", Role.DEPARTMENT_HANDLER, unit=org.units["east-sj"])
    case = at_town_desk(org)
    workflow.case_dispatch(
        case=case,
        actor=org.users["td"],
        lead_unit=org.units["east-cg"],
        assisting_units=[org.units["east-sj"]],
    )
    fan_out(case)
    assert told(case, Kind.DISPATCH) == {"dh", "sj"}
    note = Notification.objects.get(case=case, kind=Kind.DISPATCH, recipient__username="dh")
    assert (
        note.title == "新派遣：暴露垃圾"
        and display(case.tracking_number) in note.body
        and "办结时限" in note.body
    )


@pytest.mark.django_db
def test_a_joint_response_alerts_every_unit_called_and_the_county_desk(org):
    case = report(org, severity=Severity.MAJOR)
    workflow.case_route(case_id=case.pk)
    fan_out(case)
    assert told(case, Kind.JOINT_RESPONSE) == {"dh_c", "dh", "cd"}
    assert not told(
        case, Kind.NEW_REPORT
    )  # the village is not asked to accept what the county took


@pytest.mark.django_db
def test_extension_requests_and_returns_go_to_the_desk_and_decisions_back_to_the_unit(org):
    u = org.users
    case = dispatched_at_town(org)
    workflow.case_sign(case=case, actor=u["dh"])
    request = workflow.extension_request(case=case, actor=u["dh"], hours=8, reason="需要协调物业")
    workflow.extension_decide(request=request, actor=u["td"], approve=False, note="时限够用")
    workflow.case_return(case=case, actor=u["dh"], reason="不属于城管职责")
    fan_out(case)
    assert told(case, Kind.EXTENSION_REQUEST) == {"td"}
    assert told(case, Kind.EXTENSION_DECISION) == {"dh"}
    assert told(case, Kind.RETURN) == {"td"}
    decision = Notification.objects.get(case=case, kind=Kind.EXTENSION_DECISION)
    assert decision.title.startswith("延期申请被驳回")


@pytest.mark.django_db
def test_handling_asks_the_grid_to_verify_rework_goes_back_and_closure_reaches_the_reporter(org):
    u = org.users
    case = handled_at_town(org)
    fan_out(case)
    assert told(case, Kind.VERIFY_REQUEST) == {"gw", "gw2", "gl"}
    workflow.case_verify(case=case, actor=u["gw2"], passed=False, note="还有残留")
    workflow.case_urge(case=case, actor=u["td"], note="今天之内清理干净")
    workflow.case_handle(case=case, actor=u["dh"], result_text="已彻底清运")
    workflow.case_verify(case=case, actor=u["gw2"], passed=True)
    workflow.case_close(case=case, actor=u["td"])
    fan_out(case)
    assert told(case, Kind.REWORK) == {"dh"}
    assert told(case, Kind.URGE) == {"dh"}
    assert told(case, Kind.READY_TO_CLOSE) == {"td"}
    assert told(case, Kind.CLOSED) == {"gw"}


@pytest.mark.django_db
def test_a_fix_on_the_spot_is_verified_by_someone_else_than_who_fixed_it(org):
    case = report(org, self_resolved=True, result_text="已当场清理")
    fan_out(case)
    assert told(case, Kind.VERIFY_REQUEST) == {"gw2", "gl"}


@pytest.mark.django_db
def test_rejection_and_merge_tell_the_reporter(org):
    rejected = report(org)
    workflow.case_route(case_id=rejected.pk)
    workflow.case_reject(
        case=rejected, actor=org.users["vh"], reason=RejectReason.INVALID, note="照片看不出问题"
    )
    first = report(org, user_key="gw2")
    duplicate = report(org, user_key="gl")
    workflow.case_merge(case=duplicate, into=first, actor=org.users["vh"])
    for case in (rejected, first, duplicate):
        fan_out(case)
    assert told(rejected, Kind.REJECTED) == {"gw"}
    assert told(duplicate, Kind.MERGED) == {"gl"}


@pytest.mark.django_db
def test_someone_listed_in_the_unit_but_scoped_elsewhere_is_never_told(org):
    # A west village handler wrongly attached to the east urban-management unit: the unit's
    # member list names them, the visibility rule does not let them see an east case.
    misfiled = make_person(
        "vh_odd", Role.VILLAGE_HANDLER, region=org.villages["west-v1"], unit=org.units["east-cg"]
    )
    inactive = make_person("dh_gone", Role.DEPARTMENT_HANDLER, unit=org.units["east-cg"])
    inactive.is_active = False
    inactive.save()
    case = dispatched_at_town(org)
    fan_out(case)
    assert not cases_visible_to(misfiled).filter(pk=case.pk).exists()
    assert told(case, Kind.DISPATCH) == {"dh"}


@pytest.mark.django_db
def test_every_notification_of_a_whole_loop_goes_to_someone_who_may_see_the_case(org):
    u = org.users
    make_person(
        "vh_odd", Role.VILLAGE_HANDLER, region=org.villages["west-v1"], unit=org.units["east-cg"]
    )
    make_person(
        "gl_odd", Role.GRID_LEADER, region=org.villages["west-v1"], unit=org.units["east-v1-ws"]
    )
    case = dispatched_at_town(org)
    workflow.case_urge(case=case, actor=u["td"])
    workflow.case_sign(case=case, actor=u["dh"])
    workflow.case_handle(case=case, actor=u["dh"], result_text="已清运")
    workflow.case_verify(case=case, actor=u["gw"], passed=True)
    workflow.case_close(case=case, actor=u["td"])
    major = report(org, severity=Severity.MAJOR, grid_key="east-v1-g2")
    workflow.case_route(case_id=major.pk)
    fan_out(case)
    fan_out(major)
    notifications = list(Notification.objects.select_related("recipient"))
    assert len(notifications) >= 8
    for notification in notifications:
        assert cases_visible_to(notification.recipient).filter(pk=notification.case_id).exists(), (
            notification
        )
        assert notification.recipient.username not in ("vh_odd", "gl_odd")


@pytest.mark.django_db
def test_a_second_run_of_the_fan_out_tells_nobody_twice(org):
    case = dispatched_at_town(org)
    fan_out(case)
    event = CaseEvent.objects.get(case=case, action=Action.DISPATCH)
    stamped = event.notified_at
    assert stamped is not None
    assert services.event_fan_out(event_id=event.pk) == []  # already stamped: nothing to do
    # A worker killed after inserting but before stamping: the redelivered task runs again.
    CaseEvent.objects.filter(pk=event.pk).update(notified_at=None)
    again = services.event_fan_out(event_id=event.pk)
    assert [n.recipient.username for n in again] == ["dh"]
    assert Notification.objects.filter(event=event).count() == 1
    assert CaseEvent.objects.get(pk=event.pk).notified_at is not None


@pytest.mark.django_db
def test_someone_moved_off_a_grid_no_longer_reads_its_old_notifications(org):
    u = org.users
    case = handled_at_town(org)
    fan_out(case)
    gw2 = type(u["gw2"]).objects.get(pk=u["gw2"].pk)
    assert selectors.unread_count(gw2) == 1
    gw2.profile.grids.set([org.grids["east-v1-g2"]])
    gw2 = type(gw2).objects.get(pk=gw2.pk)
    assert selectors.unread_count(gw2) == 0
    assert not selectors.notifications_for(gw2).exists()
