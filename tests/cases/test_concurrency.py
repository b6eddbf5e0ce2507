"""Concurrent actions on one case resolve to exactly one winner — two people, a person and the
sweep, two sweeps — each thread on its own database connection (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.cases import services, sweep
from apps.cases.models import Action, Case, CaseEvent, Colour, Status
from tests.cases.helpers import dispatched_at_town, overdue, report, routed, set_clock

pytestmark = pytest.mark.django_db(transaction=True)


def race(*steps):
    """Run the steps at the same moment, each in its own thread; return what each returned or raised."""
    barrier = threading.Barrier(len(steps))
    outcomes: list = [None] * len(steps)

    def run(index, step):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("ok", step())
        except Exception as exc:  # noqa: BLE001 - the outcome is what we test
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, step)) for i, step in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_dispatch_and_reject_at_the_same_moment_have_exactly_one_winner(org_tx):
    """Two desk sessions on one accepted case: one dispatches, the other rejects. Whichever
    comes second finds a case it may no longer act on."""
    vh = org_tx.users["vh"]
    unit = org_tx.units["east-v1-ws"]
    for i in range(5):
        case = routed(report(org_tx, description=f"同时处理 {i}"))
        services.case_accept(case=case, actor=vh)
        outcomes = race(
            lambda: services.case_dispatch(
                case=Case.objects.get(pk=case.pk), actor=vh, lead_unit=unit
            ),
            lambda: services.case_reject(
                case=Case.objects.get(pk=case.pk), actor=vh, reason="invalid", note="无效"
            ),
        )
        kinds = sorted(kind for kind, _value in outcomes)
        assert kinds == ["error", "ok"], outcomes
        loser = next(value for kind, value in outcomes if kind == "error")
        assert isinstance(loser, services.WorkflowError)
        case.refresh_from_db()
        decided = list(
            case.events.filter(action__in=[Action.DISPATCH, Action.REJECT]).values_list(
                "action", flat=True
            )
        )
        assert len(decided) == 1
        assert case.status == (
            Status.DISPATCHED if decided == [Action.DISPATCH] else Status.REJECTED
        )
        assert (case.lead_unit_id is not None) == (case.status == Status.DISPATCHED)
        assert case.events.last().to_status == case.status


def test_a_double_click_on_accept_accepts_once(org_tx):
    vh = org_tx.users["vh"]
    case = routed(report(org_tx))
    outcomes = race(
        *[lambda: services.case_accept(case=Case.objects.get(pk=case.pk), actor=vh)] * 3
    )
    assert sorted(kind for kind, _value in outcomes) == ["error", "error", "ok"]
    assert case.events.filter(action=Action.ACCEPT).count() == 1


def test_a_unit_signing_from_three_phones_at_once_signs_once(org_tx):
    dh = org_tx.users["dh"]
    case = dispatched_at_town(org_tx)
    outcomes = race(*[lambda: services.case_sign(case=Case.objects.get(pk=case.pk), actor=dh)] * 3)
    assert sorted(kind for kind, _value in outcomes) == ["error", "error", "ok"]
    assert case.events.filter(action=Action.SIGN).count() == 1


def test_a_unit_signing_while_the_sweep_turns_the_case_red_leaves_one_consistent_story(org_tx):
    dh = org_tx.users["dh"]
    for _ in range(4):
        case = set_clock(
            dispatched_at_town(org_tx), yellow_ago=1, deadline_ago=0.5, escalate_ago=-3
        )
        outcomes = race(
            lambda: services.case_sign(case=Case.objects.get(pk=case.pk), actor=dh),
            lambda: sweep.sweep_clocks(enqueue=False),
        )
        assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
        case.refresh_from_db()
        assert case.status == Status.SIGNED and case.colour == Colour.BLUE and case.sign_overdue
        actions = [
            a
            for a in case.events.values_list("action", flat=True)
            if a in (Action.URGE, Action.SIGN)
        ]
        # Either the sweep came first (urge, then the signature) or the signature did (no urge):
        # never a red warning about a case that was already signed.
        assert actions in ([Action.URGE, Action.SIGN], [Action.SIGN])


def test_two_sweeps_at_once_urge_each_overdue_case_once(org_tx):
    cases = overdue(org_tx, 6, escalate_ago=-4)
    outcomes = race(
        lambda: sweep.sweep_clocks(enqueue=False, batch=2),
        lambda: sweep.sweep_clocks(enqueue=False, batch=2),
    )
    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
    assert sum(value.red for _kind, value in outcomes) == 6
    for case in cases:
        assert CaseEvent.objects.filter(case=case, action=Action.URGE).count() == 1
        assert Case.objects.get(pk=case.pk).urge_count == 1
