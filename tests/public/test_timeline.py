"""The public timeline (办理过程): every public step in plain words, no names (issue #17 item 12)."""

from __future__ import annotations

import re

import pytest

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Action, CaseEvent
from apps.public import selectors
from tests.public.conftest import citizen_case, close_through_town

pytestmark = pytest.mark.django_db

LOOP = [
    "已上报",
    "已分流至村/社区工作站",
    "已受理立案",
    "已转乡镇（街道）综合信息指挥室办理",
    "已派遣至乡镇派驻机构",
    "乡镇派驻机构已签收",
    "已处置完毕，等待现场核查",
    "现场核查通过",
    "已办结",
]
INTERNAL_NOTES = {
    "accept": "内部：当事人赵六脾气暴躁",
    "escalate": "村里人手不够，王书记说转上去",
    "dispatch": "请李队长亲自处理",
    "handle": "联系了摊主孙七，电话13812345678",
    "verify": "钱八现场看过",
    "close": "周九同意结案",
}


def timeline_texts(client, case) -> list[str]:
    body = client.get("/track/", {"n": case.tracking_number}).content.decode()
    section = re.search(
        r'<ol class="timeline" data-testid="timeline">(.*?)</ol>', body, re.S
    ).group(1)
    return re.findall(r"<span>(.*?)</span>", section)


def names_of(org, case) -> set[str]:
    """Everything that would identify a person or a unit in this case's history."""
    names = {unit.name for unit in org.units.values()}
    for user in org.users.values():
        # Not the username: "td" and "dh" are too short to search for in HTML.
        names |= {user.profile.display_name, user.profile.phone}
    names |= {e.actor_label for e in CaseEvent.objects.filter(case=case) if e.actor_label}
    return {n for n in names if n}


def test_the_whole_loop_shows_each_public_step_in_order_without_names(client, org):
    case = close_through_town(org, citizen_case(org), notes=INTERNAL_NOTES)
    body = client.get("/track/", {"n": case.tracking_number}).content.decode()
    # Newest first on the page, like a parcel's tracking.
    assert timeline_texts(client, case) == LOOP[::-1]
    assert "暂无记录" not in body
    for name in names_of(org, case):
        assert name not in body, name
    for note in INTERNAL_NOTES.values():
        assert note not in body
    assert "已清运" not in body  # the handling result


def test_a_case_dispatched_directly_by_the_village_names_the_workstation_kind(client, org):
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"])
    workflow.case_dispatch(case=case, actor=org.users["vh"], lead_unit=org.units["east-v1-ws"])
    texts = timeline_texts(client, case)
    assert texts[0] == "已派遣至村/社区工作站"
    assert org.units["east-v1-ws"].name not in "".join(texts)


def test_a_merely_reported_case_shows_it_was_reported(client, org):
    case = citizen_case(org)
    assert timeline_texts(client, case)[-1] == "已上报"


def test_cases_recorded_without_public_notes_get_the_same_timeline(client, org):
    """Rows written before the services set public notes: the words come from the action."""
    case = close_through_town(org, citizen_case(org))
    # History is append-only through the model; an old database simply has these columns empty.
    CaseEvent.objects.filter(case=case).update(public_note="")
    assert timeline_texts(client, case) == LOOP[::-1]


def test_internal_bookkeeping_is_left_out(client, org):
    case = citizen_case(org)
    u = org.users
    workflow.case_accept(case=case, actor=u["vh"])
    workflow.case_escalate(case=case, actor=u["vh"], reason="需要城管")
    workflow.case_dispatch(case=case, actor=u["td"], lead_unit=org.units["east-cg"])
    workflow.case_return(case=case, actor=u["dh"], reason="不归城管管")
    workflow.case_dispatch(case=case, actor=u["td"], lead_unit=org.units["east-cg"])
    workflow.case_urge(case=case, actor=u["td"], note="赶紧签收")
    texts = timeline_texts(client, case)
    # Newest first: the second dispatch, then the first; the return and the urge are not shown.
    assert texts[:3] == [
        "已派遣至乡镇派驻机构",
        "已派遣至乡镇派驻机构",
        "已转乡镇（街道）综合信息指挥室办理",
    ]
    assert not any("督办" in t or "退" in t for t in texts)
    assert {Action.URGE, Action.RETURN} <= set(
        CaseEvent.objects.filter(case=case).values_list("action", flat=True)
    )


def test_open311_status_notes_is_the_latest_public_step(client, org):
    case = close_through_town(org, citizen_case(org))
    record = client.get(f"/open311/v2/requests/{case.tracking_number}.json").json()[0]
    assert record["status_notes"] == "已办结" == selectors.public_view(case).last_note
    reported = citizen_case(org)
    CaseEvent.objects.filter(case=reported).update(public_note="")
    record = client.get(f"/open311/v2/requests/{reported.tracking_number}.json").json()[0]
    assert record["status_notes"] == "已分流至村/社区工作站"


def test_a_rejected_report_says_why_by_category_only(client, org):
    case = citizen_case(org)
    workflow.case_reject(
        case=case, actor=org.users["vh"], reason="not_public", note="邻居吴十家务纠纷"
    )
    body = client.get("/track/", {"n": case.tracking_number}).content.decode()
    assert timeline_texts(client, case)[0] == "不予立案：非公共事务"
    assert "吴十" not in body


def test_a_merged_report_says_so_and_the_case_it_joined_does_not_mention_it(client, org):
    first = citizen_case(org)
    second = citizen_case(org, lat_offset=0.0001)
    workflow.case_accept(case=first, actor=org.users["vh"])
    workflow.case_merge(case=second, into=first, actor=org.users["vh"])
    assert timeline_texts(client, second)[0] == "与同一问题的其他上报合并办理"
    assert timeline_texts(client, first)[0] == "已受理立案"
    body = client.get("/track/", {"n": second.tracking_number}).content.decode()
    assert first.tracking_number not in body and tracking.display(first.tracking_number) not in body
