"""Probable duplicates (疑似重复) and merging (合并): merged reports share the case's outcome and
every reporter is told (an event on each merged case, which the notifications fan out)."""

import pytest

from apps.cases import services
from apps.cases.models import Action, Case, RejectReason, Status
from tests.cases.helpers import report, routed

pytestmark = pytest.mark.django_db


def test_a_second_report_nearby_is_flagged_as_a_probable_duplicate(org):
    first = routed(report(org))
    second = routed(report(org, user_key="gw2", description="又是那堆垃圾"))
    assert second.probable_duplicate_of_id == first.pk
    assert second.events.get(action=Action.ROUTE).data == {
        "probable_duplicate_of": first.tracking_number
    }
    assert first.probable_duplicate_of_id is None


def test_a_report_of_another_category_or_far_away_is_not_a_duplicate(org):
    routed(report(org))
    other_category = routed(report(org, category="illegal_building", description="违建"))
    far_away = routed(report(org, grid_key="east-v2-g1", description="别处的垃圾"))
    assert (
        other_category.probable_duplicate_of_id is None
        and far_away.probable_duplicate_of_id is None
    )


def test_the_acceptor_merges_a_duplicate_and_both_reporters_hear_of_the_closure(org):
    u = org.users
    first = routed(report(org))
    second = routed(report(org, user_key="gw2", description="又是那堆垃圾"))
    services.case_accept(case=first, actor=u["vh"])
    services.case_merge(case=second, into=first, actor=u["vh"], note="同一堆垃圾")
    second.refresh_from_db()
    assert second.status == Status.MERGED and second.merged_into_id == first.pk
    assert second.reject_reason == RejectReason.DUPLICATE and second.closed_at is not None
    assert first.events.filter(action=Action.NOTE, data__merged=second.tracking_number).exists()

    services.case_dispatch(case=first, actor=u["vh"], lead_unit=org.units["east-v1-ws"])
    services.case_sign(case=first, actor=u["vh"])
    services.case_handle(case=first, actor=u["vh"], result_text="已清运")
    services.case_verify(case=first, actor=u["gw"], passed=True)
    services.case_close(case=first, actor=u["vh"])
    told = second.events.get(action=Action.CLOSE)
    assert told.data == {"via": first.tracking_number} and told.public_note
    assert told.to_status == Status.MERGED  # the merged report's own state does not change
    assert Case.objects.get(pk=second.pk).status == Status.MERGED


def test_reports_merged_in_a_chain_are_all_told(org):
    u = org.users
    a = routed(report(org, description="垃圾 A"))
    b = routed(report(org, user_key="gw2", description="垃圾 B"))
    c = routed(report(org, user_key="gl", description="垃圾 C"))
    services.case_merge(case=a, into=b, actor=u["vh"])
    services.case_merge(case=b, into=c, actor=u["vh"])
    services.case_accept(case=c, actor=u["vh"])
    services.case_dispatch(case=c, actor=u["vh"], lead_unit=org.units["east-v1-ws"])
    services.case_sign(case=c, actor=u["vh"])
    services.case_handle(case=c, actor=u["vh"], result_text="已清运")
    services.case_verify(case=c, actor=u["gw"], passed=True)
    services.case_close(case=c, actor=u["vh"])
    for merged in (a, b):
        assert merged.events.filter(action=Action.CLOSE, data__via=c.tracking_number).count() == 1


def test_a_case_cannot_be_merged_into_itself_a_closed_case_or_a_merged_case(org):
    u = org.users
    a = routed(report(org, description="垃圾 A"))
    b = routed(report(org, user_key="gw2", description="垃圾 B"))
    c = routed(report(org, user_key="gl", description="垃圾 C"))
    with pytest.raises(services.WorkflowError):
        services.case_merge(case=a, into=a, actor=u["vh"])
    services.case_merge(case=b, into=c, actor=u["vh"])
    with pytest.raises(services.IllegalTransition):
        services.case_merge(case=a, into=b, actor=u["vh"])
    services.case_reject(case=c, actor=u["vh"], reason=RejectReason.INVALID, note="无效")
    with pytest.raises(services.IllegalTransition):
        services.case_merge(case=a, into=c, actor=u["vh"])
    a.refresh_from_db()
    assert a.status == Status.REPORTED and a.merged_into_id is None


def test_a_foreign_village_handler_cannot_merge(org):
    a = routed(report(org, description="垃圾 A"))
    b = routed(report(org, user_key="gw2", description="垃圾 B"))
    with pytest.raises(services.NotPermitted):
        services.case_merge(case=b, into=a, actor=org.users["vh_w"])
    assert Case.objects.get(pk=b.pk).status == Status.REPORTED


def test_a_case_cannot_be_merged_into_another_towns_case(org):
    ours = routed(report(org, description="垃圾 A"))
    theirs = routed(report(org, user_key="gw_w", grid_key="west-v1-g1", description="西镇垃圾"))
    with pytest.raises(services.NotPermitted):
        services.case_merge(case=ours, into=theirs, actor=org.users["vh"])
    assert Case.objects.get(pk=ours.pk).status == Status.REPORTED
