"""The closed loop through the workflow service, step by step, with the people who may act."""

import pytest

from apps.cases import services
from apps.cases.models import Action, Case, Colour, Severity, Status
from apps.org.models import Tier
from tests.cases.helpers import at_town_desk, report


def routed(case):
    return services.case_route(case_id=case.pk)


@pytest.mark.django_db
def test_a_report_starts_at_its_villages_workstation_with_a_clock(org):
    case = report(org)
    assert case.status == Status.REPORTED
    assert case.tier == Tier.VILLAGE
    assert case.holder_id == org.villages["east-v1"].pk
    assert case.grid_id == org.grids["east-v1-g1"].pk
    assert case.town_id == org.towns["east"].pk
    assert case.step_deadline is not None and case.colour == Colour.BLUE
    assert case.pending_work == ["route"]
    assert list(case.events.values_list("action", flat=True)) == [Action.REPORT]


@pytest.mark.django_db
def test_routing_is_idempotent_and_clears_the_outbox(org):
    case = report(org)
    routed(case)
    routed(case)
    case.refresh_from_db()
    assert case.pending_work == [] and case.pending_since is None
    assert case.events.filter(action=Action.ROUTE).count() == 1
    assert case.suggested_unit_id == org.units["east-v1-ws"].pk


@pytest.mark.django_db
def test_the_whole_loop_from_report_to_close(org):
    u = org.users
    case = routed(report(org))
    services.case_accept(case=case, actor=u["vh"])
    services.case_escalate(case=case, actor=u["vh"], reason="村里处理不了")
    case.refresh_from_db()
    assert (case.tier, case.holder_id, case.status) == (
        Tier.TOWN,
        org.towns["east"].pk,
        Status.ACCEPTED,
    )
    assert case.suggested_unit_id == org.units["east-cg"].pk
    services.case_dispatch(
        case=case,
        actor=u["td"],
        lead_unit=org.units["east-cg"],
        assisting_units=[org.units["east-sj"]],
    )
    services.case_sign(case=case, actor=u["dh"])
    services.case_handle(case=case, actor=u["dh"], result_text="已清运")
    services.case_verify(case=case, actor=u["gw2"], passed=False, note="还有残留")
    case.refresh_from_db()
    assert case.status == Status.SIGNED and case.rework_count == 1
    services.case_handle(case=case, actor=u["dh"], result_text="已彻底清运")
    services.case_verify(case=case, actor=u["gw2"], passed=True)
    services.case_close(case=case, actor=u["td"])
    case.refresh_from_db()
    assert (
        case.status == Status.CLOSED and case.colour == Colour.GREEN and case.step_deadline is None
    )
    assert list(case.events.values_list("action", flat=True)) == [
        "report",
        "route",
        "accept",
        "escalate",
        "dispatch",
        "sign",
        "handle",
        "verify_fail",
        "handle",
        "verify_pass",
        "close",
    ]


@pytest.mark.django_db
def test_a_foreign_town_dispatcher_cannot_dispatch(org):
    case = at_town_desk(org)
    with pytest.raises(services.NotPermitted):
        services.case_dispatch(case=case, actor=org.users["td_w"], lead_unit=org.units["west-cg"])
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.lead_unit_id is None


@pytest.mark.django_db
def test_a_town_cannot_dispatch_to_another_towns_unit(org):
    case = at_town_desk(org)
    with pytest.raises(services.NotPermitted):
        services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["west-cg"])


@pytest.mark.django_db
def test_a_stale_copy_loses_the_race(org):
    case = routed(report(org))
    stale = Case.objects.select_related("category").get(pk=case.pk)
    services.case_accept(case=case, actor=org.users["vh"])
    with pytest.raises(services.ConcurrentChange):
        services._change(
            stale, actor=org.users["vh"], action=Action.REJECT, fields={"status": Status.REJECTED}
        )
    assert Case.objects.get(pk=case.pk).status == Status.ACCEPTED
    with pytest.raises(services.NotPermitted):
        services.case_accept(case=stale, actor=org.users["vh"])


@pytest.mark.django_db
def test_a_major_case_goes_straight_to_the_county_as_a_joint_response(org):
    case = routed(report(org, severity=Severity.MAJOR))
    case.refresh_from_db()
    assert case.tier == Tier.COUNTY and case.joint_response
    assert case.status == Status.DISPATCHED and case.lead_unit_id == org.units["county-cg"].pk
    assert org.units["east-cg"] in case.assisting_units.all()
    assert case.events.filter(action=Action.JOINT_RESPONSE).exists()


@pytest.mark.django_db
def test_the_same_client_uuid_returns_the_same_case_and_different_content_is_refused(org):
    import uuid

    key = uuid.uuid4()
    first = report(org, client_uuid=key)
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    again, created = services.case_report(
        reporter=org.users["gw"],
        category=org.categories["rubbish"],
        description="路边堆放垃圾",
        lat=lat,
        lng=lng,
        accuracy_m=8,
        client_uuid=key,
    )
    assert again.pk == first.pk and not created
    with pytest.raises(services.DuplicateSubmission):
        services.case_report(
            reporter=org.users["gw"],
            category=org.categories["rubbish"],
            description="别的内容",
            lat=lat,
            lng=lng,
            client_uuid=key,
        )
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_returns_beyond_the_limit_escalate_instead_of_bouncing(org, settings):
    settings.RETURNS_BEFORE_ESCALATION = 2
    case = routed(report(org))
    services.case_accept(case=case, actor=org.users["vh"])
    for _ in range(2):
        services.case_dispatch(case=case, actor=org.users["vh"], lead_unit=org.units["east-v1-ws"])
        services.case_return(case=case, actor=org.users["vh"], reason="不是我们的")
    case.refresh_from_db()
    assert case.tier == Tier.TOWN and case.return_count == 2
