"""Rollups stay equal to the live computation after random activity.

Random sequences of workflow steps (taken through the workflow service by whoever
``rules.allowed_actions`` says may take them) spread over ten days, ratings of closed cases,
with the refresher running now and then in between — then for every level, every key and
several periods, the rollup sums must equal the counters computed straight from the raw tables.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from apps.cases import rules, services
from apps.cases.models import Case, ExtensionStatus, Status
from apps.evaluation import selectors
from apps.evaluation.rollups import live_counters
from apps.evaluation.services import rollups_refresh
from apps.public.models import Rating
from apps.public.services import rating_submit

from .helpers import at, fresh, report_at

ACTORS = ["vh", "td", "dh", "gw", "gw2", "gl", "vh_w", "td_w", "dh_w", "gw_w", "cd", "dh_c"]
GRIDS = [("gw", "east-v1-g1"), ("gw", "east-v1-g2"), ("gw2", "east-v1-g1"), ("gw_w", "west-v1-g1")]


def lead_unit_for(org, case):
    if case.tier == "village":
        return (
            org.units["east-v1-ws"]
            if case.village_id == org.villages["east-v1"].pk
            else org.units["west-v1-ws"]
        )
    if case.tier == "town":
        return (
            org.units["east-cg"] if case.town_id == org.towns["east"].pk else org.units["west-cg"]
        )
    return org.units["county-cg"]


PROGRESS = {"accept", "dispatch", "sign", "handle", "verify", "close"}


def take_step(
    org, rng: random.Random, case: Case, when: dt.datetime, progress_bias: float = 1.0
) -> bool:
    """One random allowed step on ``case`` at ``when``; False when nobody may do anything.
    ``progress_bias`` > 1 makes the steps of the closed loop more likely than side paths."""
    options = sorted(
        (name, action)
        for name in ACTORS
        for action in rules.allowed_actions(case, org.users[name])
        if action != "merge"
    )
    if not options:
        return False
    weights = [progress_bias if action in PROGRESS else 1.0 for _name, action in options]
    name, action = rng.choices(options, weights)[0]
    actor = org.users[name]
    kwargs = {"case": case, "actor": actor}
    extra = {
        "reject": {"reason": "invalid", "note": "无效"},
        "return": {"reason": "不归我们"},
        "escalate": {"reason": "处理不了"},
        "handle": {"result_text": "处理好了"},
        "reopen": {"reason": "群众反映未解决"},
        "defer": {"review_on": timezone.localdate() + dt.timedelta(days=10), "reason": "需要预算"},
        "extension_request": {"hours": rng.choice([2, 8, 24]), "reason": "需要时间"},
        "dispatch": {"lead_unit": lead_unit_for(org, case)},
        "redispatch": {"lead_unit": lead_unit_for(org, case)},
    }
    kwargs.update(extra.get(action, {}))
    if action == "verify":
        passed = rng.random() < 0.7
        kwargs.update(passed=passed, note="" if passed else "没修好")
    if action == "extension_decide":
        kwargs = {
            "request": case.extension_requests.get(status=ExtensionStatus.PENDING),
            "actor": actor,
            "approve": rng.random() < 0.6,
        }
    service = {
        "accept": services.case_accept,
        "reject": services.case_reject,
        "dispatch": services.case_dispatch,
        "redispatch": services.case_dispatch,
        "sign": services.case_sign,
        "return": services.case_return,
        "escalate": services.case_escalate,
        "handle": services.case_handle,
        "verify": services.case_verify,
        "close": services.case_close,
        "reopen": services.case_reopen,
        "urge": services.case_urge,
        "defer": services.case_defer,
        "resume": services.case_resume,
        "extension_request": services.extension_request,
        "extension_decide": services.extension_decide,
        "joint_response": services.case_joint_response,
    }[action]
    at(when, service, **kwargs)
    return True


def nonzero(counters: dict[int, dict[str, int]]) -> dict[int, dict[str, int]]:
    return {k: {m: v for m, v in c.items() if v} for k, c in counters.items() if any(c.values())}


def assert_rollups_equal_live(first: dt.date, last: dt.date, category_ids=None) -> None:
    for level in ("county", "town", "village", "grid", "unit", "person"):
        live = nonzero(
            live_counters(
                level=level, keys=None, first_day=first, last_day=last, category_ids=category_ids
            )
        )
        rolled = nonzero(
            selectors.rollup_counters(
                level=level, keys=None, first_day=first, last_day=last, category_ids=category_ids
            )
        )
        assert rolled == live, (level, first, last)


@pytest.mark.django_db
@pytest.mark.parametrize("seed,days", [(1, 10), (2, 10), (3, 80), (4, 80)])
def test_rollups_equal_the_live_computation_after_random_activity(org, seed, days):
    """Ten days of activity, or eighty — which spans whole past months, read from MonthlyRollup."""
    rng = random.Random(seed)
    today = timezone.localdate()
    start = timezone.now() - dt.timedelta(days=days)
    clock = start
    cases: list[Case] = []
    for step in range(70):
        clock = min(
            clock + dt.timedelta(hours=rng.uniform(0, days * 0.7)),
            timezone.now() - dt.timedelta(minutes=1),
        )
        open_cases = [
            c for c in cases if c.status not in (Status.CLOSED, Status.REJECTED, Status.MERGED)
        ]
        roll = rng.random()
        if roll < 0.25 or not open_cases:
            user, grid = rng.choice(GRIDS)
            cases.append(
                report_at(
                    org,
                    clock,
                    user=user,
                    grid=grid,
                    self_resolved=rng.random() < 0.1,
                    result_text="当场处置",
                )
            )
        elif roll < 0.3:
            closed = [
                c
                for c in cases
                if c.status == Status.CLOSED and not Rating.objects.filter(case=c).exists()
            ]
            if closed:
                rating = rating_submit(
                    case=fresh(rng.choice(closed)), stars=rng.randint(1, 5), via="token"
                )
                Rating.objects.filter(pk=rating.pk).update(created_at=clock)
        else:
            case = fresh(rng.choice(open_cases))
            take_step(org, rng, case, clock)
        cases = [fresh(c) for c in cases]
        if step % 15 == 7:
            rollups_refresh()  # the beat task, part-way through
    # Some cases ran out of time, as the sweep would find them.
    Case.objects.filter(pk__in=[c.pk for c in cases[::3]]).update(step_deadline=timezone.now())
    rollups_refresh()

    first = timezone.localtime(start).date()
    assert_rollups_equal_live(first, today)
    for offset in range(0, 11, 2):
        day = first + dt.timedelta(days=offset)
        assert_rollups_equal_live(day, day)
    assert_rollups_equal_live(first + dt.timedelta(days=3), first + dt.timedelta(days=7))
    assert_rollups_equal_live(first, today, category_ids=[org.categories["rubbish"].pk])
    if days > 60:
        from apps.evaluation.models import MonthlyRollup

        assert MonthlyRollup.objects.exists()  # whole past months are read from the month rows
        month = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        month_end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(
            days=1
        )
        assert_rollups_equal_live(month, month_end)
        assert_rollups_equal_live(month - dt.timedelta(days=3), today)
    # The activity really produced something to compare.
    total = selectors.rollup_counters(level="county", keys=None, first_day=first, last_day=today)
    assert sum(c["reports"] for c in total.values()) >= 10
    assert sum(c["dispatched"] + c["signed"] + c["handled"] for c in total.values()) > 0
