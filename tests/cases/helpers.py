"""Cases built through the workflow service, shared by the tests of every app."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.cases import services
from apps.cases.models import Case


def report(
    org, user_key: str = "gw", grid_key: str = "east-v1-g1", category: str = "rubbish", **kwargs
) -> Case:
    lat, lng = org.point_in(org.grids[grid_key])
    kwargs.setdefault("description", "路边堆放垃圾")
    kwargs.setdefault("accuracy_m", 8)
    case, created = services.case_report(
        reporter=org.users[user_key] if user_key else None,
        category=org.categories[category],
        lat=lat,
        lng=lng,
        **kwargs,
    )
    assert created
    return case


def routed(case: Case) -> Case:
    services.case_route(case_id=case.pk)
    case.refresh_from_db()
    return case


def at_town_desk(org, **kwargs) -> Case:
    """A routed report the east-v1 village accepted and escalated to the east town's desk."""
    u = org.users
    case = routed(report(org, **kwargs))
    services.case_accept(case=case, actor=u["vh"])
    services.case_escalate(case=case, actor=u["vh"], reason="村里处理不了")
    case.refresh_from_db()
    return case


def dispatched_at_town(org, **kwargs) -> Case:
    """A report escalated by the village and dispatched by the east town to its 城管中队."""
    case = at_town_desk(org, **kwargs)
    services.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    case.refresh_from_db()
    return case


def set_clock(
    case: Case,
    *,
    yellow_ago: float | None = None,
    deadline_ago: float | None = None,
    escalate_ago: float | None = None,
) -> Case:
    """Move a case's clock into the past (hours ago; negative = in the future), as if time passed."""
    now = timezone.now()
    fields = {}
    if yellow_ago is not None:
        fields["yellow_at"] = now - dt.timedelta(hours=yellow_ago)
    if deadline_ago is not None:
        fields["step_deadline"] = now - dt.timedelta(hours=deadline_ago)
    if escalate_ago is not None:
        fields["escalate_at"] = now - dt.timedelta(hours=escalate_ago)
    current = Case.objects.get(pk=case.pk)
    merged = {
        "yellow_at": current.yellow_at,
        "step_deadline": current.step_deadline,
        "escalate_at": current.escalate_at,
        **fields,
    }
    # The earliest threshold still ahead of the current colour is what the sweep looks at.
    fields["sweep_due_at"] = (
        merged["yellow_at"]
        if current.colour == "blue"
        else (merged["step_deadline"] if current.colour == "yellow" else merged["escalate_at"])
    )
    Case.objects.filter(pk=case.pk).update(**fields)
    case.refresh_from_db()
    return case


def overdue(org, count: int = 1, *, escalate_ago: float = -5) -> list[Case]:
    """``count`` routed reports whose step deadline passed an hour ago (yellow two hours ago),
    not yet due for escalation: what the sweep turns red and urges."""
    return [
        set_clock(
            routed(report(org, description=f"垃圾{i}")),
            yellow_ago=2,
            deadline_ago=1,
            escalate_ago=escalate_ago,
        )
        for i in range(count)
    ]


def handled_at_town(org, **kwargs) -> Case:
    """A case the east town dispatched and its 城管中队 signed for and handled."""
    u = org.users
    case = dispatched_at_town(org, **kwargs)
    services.case_sign(case=case, actor=u["dh"])
    services.case_handle(case=case, actor=u["dh"], result_text="已清运")
    case.refresh_from_db()
    return case
