"""Building cases through the workflow service at chosen moments.

``at(when, service, **kwargs)`` runs one workflow step and then moves the history events that
step wrote to ``when`` (the service stamps them with the real clock); the report's
``created_at`` is moved with it. That is the only thing tests change directly: every state
change still goes through ``apps.cases.services``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Max

from apps.cases import services
from apps.cases.models import Case, CaseEvent

SH = ZoneInfo("Asia/Shanghai")


def t(day: str, hhmm: str = "09:00") -> dt.datetime:
    """An Asia/Shanghai moment: t("2025-03-03", "14:00")."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=SH)


def _last_event_id() -> int:
    return CaseEvent.objects.aggregate(m=Max("pk"))["m"] or 0


def at(when: dt.datetime, service, **kwargs):
    before = _last_event_id()
    result = service(**kwargs)
    CaseEvent.objects.filter(pk__gt=before).update(created_at=when)
    return result


def report_at(
    org, when: dt.datetime, *, user="gw", grid="east-v1-g1", category="rubbish", **kwargs
) -> Case:
    lat, lng = org.point_in(org.grids[grid])
    before = _last_event_id()
    case, created = services.case_report(
        reporter=org.users[user],
        category=org.categories[category],
        description="测试事件",
        lat=lat,
        lng=lng,
        accuracy_m=5,
        **kwargs,
    )
    assert created
    services.case_route(case_id=case.pk)
    CaseEvent.objects.filter(pk__gt=before).update(created_at=when)
    Case.objects.filter(pk=case.pk).update(created_at=when)
    case.refresh_from_db()
    return case


def fresh(case: Case) -> Case:
    case.refresh_from_db()
    return case


def steps(case: Case, *moves) -> Case:
    """Take ``case`` through workflow steps, each ``(when, service, keyword arguments)``: every
    step runs ``at(when, service, case=…)`` on the case as it is then. Returns it reloaded."""
    for when, service, kwargs in moves:
        at(when, service, case=fresh(case), **kwargs)
    return fresh(case)
