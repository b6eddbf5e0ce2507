"""Property-based test of the closed loop: random sequences of actions by random people (and time
passing, with the clock sweep) over a few cases. After every step:

- no case is lost; every status is a legal value;
- every open case has exactly one owner: the desk of its tier, in its own village/town/county;
- a lead unit exactly while a unit works on it (dispatched, signed; handled unless fixed on the
  spot), never while it waits at a desk, and always a unit the owning tier may dispatch to;
- finished cases carry ``closed_at``, are green and off the sweep; deferred cases are grey;
- history is append-only, starts with the report, and its last ``to_status`` is the status;
- an action the rules do not allow is refused with a WorkflowError, and a refused action
  changes nothing at all.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.cases import rules, services, sweep
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    CaseEvent,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    Status,
)
from apps.org.models import Tier

USERS = [
    "gw",
    "gw2",
    "gl",
    "vh",
    "td",
    "dh",
    "gw_w",
    "vh_w",
    "td_w",
    "dh_w",
    "cd",
    "dh_c",
    "leader",
]
ACTIONS = [
    "accept",
    "reject",
    "merge",
    "dispatch",
    "sign",
    "return",
    "extension_request",
    "extension_decide",
    "escalate",
    "joint_response",
    "handle",
    "verify",
    "close",
    "reopen",
    "urge",
    "defer",
    "resume",
]
GRIDS = ["east-v1-g1", "east-v1-g2", "east-v2-g1", "west-v1-g1"]
HOLDER_FIELD = {Tier.VILLAGE: "village_id", Tier.TOWN: "town_id", Tier.COUNTY: "county_id"}


def rule_name(action: str, case: Case) -> str:
    """The name ``rules.allowed_actions`` uses for a service call on this case."""
    if action == "dispatch" and case.status == Status.DISPATCHED:
        return "redispatch"
    return action


class CaseLoop(RuleBasedStateMachine):
    def __init__(self, org):
        super().__init__()
        self.org = org
        self.case_ids: list[int] = []
        self.histories: dict[int, list[tuple]] = {}
        self.hours_passed = 0.0
        # Each example runs in a savepoint that teardown rolls back, so examples do not meet.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------------------

    def snapshot(self):
        cases = sorted(
            Case.objects.filter(pk__in=self.case_ids).values(), key=lambda row: row["id"]
        )
        assisting = sorted(
            Case.assisting_units.through.objects.filter(case_id__in=self.case_ids).values_list(
                "case_id", "unit_id"
            )
        )
        requests = sorted(
            ExtensionRequest.objects.filter(case_id__in=self.case_ids).values_list("id", "status")
        )
        return cases, assisting, requests, CaseEvent.objects.count()

    def units_for(self, case: Case) -> list:
        units = self.org.units
        if case.tier == Tier.VILLAGE:
            return [u for u in units.values() if u.region_id == case.village_id]
        if case.tier == Tier.TOWN:
            return [u for u in units.values() if u.region_id == case.town_id]
        return [u for u in units.values() if u.region_id in (case.county_id, case.town_id)]

    def call(self, action: str, case: Case, actor, data) -> None:
        u = self.org.units
        text = data.draw(st.sampled_from(["理由说明", "现场情况", "   "]), label="text")
        if action == "accept":
            services.case_accept(case=case, actor=actor)
        elif action == "reject":
            services.case_reject(
                case=case,
                actor=actor,
                note=text,
                reason=data.draw(
                    st.sampled_from(["invalid", "not_public", "bogus"]), label="reason"
                ),
            )
        elif action == "merge":
            into = Case.objects.get(pk=data.draw(st.sampled_from(self.case_ids), label="into"))
            services.case_merge(case=case, into=into, actor=actor)
        elif action == "dispatch":
            pool = (
                self.units_for(case)
                if data.draw(st.booleans(), label="fitting unit")
                else list(u.values())
            )
            pool = pool or list(u.values())
            lead = data.draw(st.sampled_from(pool), label="lead")
            assisting = data.draw(st.lists(st.sampled_from(pool), max_size=2), label="assisting")
            services.case_dispatch(
                case=case,
                actor=actor,
                lead_unit=lead,
                assisting_units=assisting,
                deadline_hours=data.draw(st.sampled_from([None, 4.0, 0.0]), label="hours"),
            )
        elif action == "sign":
            services.case_sign(case=case, actor=actor)
        elif action == "return":
            services.case_return(case=case, actor=actor, reason=text)
        elif action == "extension_request":
            services.extension_request(
                case=case,
                actor=actor,
                reason=text,
                hours=data.draw(st.sampled_from([8.0, 0.0, 24.0]), label="hours"),
            )
        elif action == "extension_decide":
            request = ExtensionRequest.objects.filter(case=case).order_by("-pk").first()
            if request is None:
                raise services.IllegalTransition("no request")  # nothing to decide: vacuous step
            services.extension_decide(
                request=request, actor=actor, approve=data.draw(st.booleans(), label="approve")
            )
        elif action == "escalate":
            services.case_escalate(case=case, actor=actor, reason=text)
        elif action == "joint_response":
            services.case_joint_response(case=case, actor=actor)
        elif action == "handle":
            services.case_handle(case=case, actor=actor, result_text=text)
        elif action == "verify":
            services.case_verify(
                case=case,
                actor=actor,
                note=text,
                passed=data.draw(st.sampled_from([True, True, False]), label="passed"),
            )
        elif action == "close":
            services.case_close(case=case, actor=actor)
        elif action == "reopen":
            services.case_reopen(case=case, actor=actor, reason=text)
        elif action == "urge":
            services.case_urge(case=case, actor=actor)
        elif action == "defer":
            days = data.draw(st.sampled_from([30, 0]), label="days")
            services.case_defer(
                case=case,
                actor=actor,
                reason=text,
                review_on=timezone.localdate() + dt.timedelta(days=days),
            )
        elif action == "resume":
            services.case_resume(case=case, actor=actor)
        else:  # pragma: no cover
            raise AssertionError(action)

    # --- rules -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.case_ids) < 3)
    @rule(
        reporter=st.sampled_from(["gw", "gw2", "gl", None]),
        grid=st.sampled_from(GRIDS),
        category=st.sampled_from(["rubbish", "rubbish", "illegal_building", "fire"]),
        severity=st.sampled_from([3, 3, 3, 2, 1]),
        self_resolved=st.sampled_from([False, False, False, True]),
        route_now=st.sampled_from([True, True, False]),
    )
    def report(self, reporter, grid, category, severity, self_resolved, route_now):
        lat, lng = self.org.point_in(self.org.grids[grid])
        case, created = services.case_report(
            reporter=self.org.users[reporter] if reporter else None,
            category=self.org.categories[category],
            description=f"随机上报 {len(self.case_ids)}",
            lat=lat,
            lng=lng,
            severity=severity,
            self_resolved=self_resolved,
            result_text="当场清理" if self_resolved else "",
            source="grid_worker" if reporter else "citizen",
        )
        assert created
        self.case_ids.append(case.pk)
        if route_now:  # otherwise the routing task comes late, after people already acted
            services.case_route(case_id=case.pk)

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data())
    def route(self, data):
        services.case_route(case_id=data.draw(st.sampled_from(self.case_ids), label="case"))

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data())
    def someone_takes_a_step_they_may_take(self, data):
        """Mostly valid parameters, so cases travel deep into the loop."""
        case = Case.objects.select_related("category").get(
            pk=data.draw(st.sampled_from(self.case_ids), label="case")
        )
        pairs = [
            (key, "dispatch" if action == "redispatch" else action)
            for key in USERS
            for action in sorted(rules.allowed_actions(case, self.org.users[key]))
        ]
        if not pairs:
            return
        user_key, action = data.draw(st.sampled_from(pairs), label="allowed pair")
        self.attempt(case, user_key, action, data)

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data())
    def anyone_tries_anything(self, data):
        case = Case.objects.select_related("category").get(
            pk=data.draw(st.sampled_from(self.case_ids), label="case")
        )
        user_key = data.draw(st.sampled_from(USERS), label="user")
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        self.attempt(case, user_key, action, data)

    def attempt(self, case: Case, user_key: str, action: str, data) -> None:
        actor = self.org.users[user_key]
        allowed = rules.allowed_actions(case, actor)
        before = self.snapshot()
        try:
            self.call(action, case, actor, data)
        except services.WorkflowError:
            assert self.snapshot() == before, f"a refused {action} by {user_key} changed something"
            event(f"refused {action}")
            return
        assert rule_name(action, case) in allowed, (
            f"{user_key} could {action} a {case.status} case unchecked"
        )
        event(f"done {action}")

    @precondition(lambda self: self.case_ids)
    @rule(hours=st.sampled_from([1.0, 8.0, 72.0, 24.0 * 40]))
    def time_passes(self, hours):
        """The clock sweep runs as if ``hours`` more had passed; its follow-ups run at once."""
        self.hours_passed += hours
        now = timezone.now() + dt.timedelta(hours=self.hours_passed)
        result = sweep.sweep_clocks(now=now, enqueue=False)
        again = sweep.sweep_clocks(now=now, enqueue=False)
        assert (again.red, again.yellow, again.escalate_ids, again.resume_ids) == (0, 0, [], []), (
            "the sweep acted twice on one case"
        )
        for case_id in result.escalate_ids:
            services.case_escalate_overdue(case_id=case_id, now=now)
        for case_id in result.resume_ids:
            sweep.resume_if_due(case_id, today=timezone.localtime(now).date())

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def no_case_is_lost(self):
        assert Case.objects.filter(pk__in=self.case_ids).count() == len(self.case_ids)

    @invariant()
    def every_case_is_in_a_legal_state_with_one_owner(self):
        for case in Case.objects.filter(pk__in=self.case_ids).select_related("holder", "lead_unit"):
            assert case.status in Status.values
            assert case.tier in Tier.values
            if case.status in FINAL_STATUSES:
                assert (
                    case.closed_at is not None
                    and case.colour == Colour.GREEN
                    and case.sweep_due_at is None
                )
                if case.status == Status.MERGED:
                    assert case.merged_into_id is not None and case.merged_into_id != case.pk
                continue
            assert case.holder.tier == case.tier
            assert case.holder_id == getattr(case, HOLDER_FIELD[case.tier])
            if case.status in (Status.REPORTED, Status.ACCEPTED):
                assert case.lead_unit_id is None, f"{case.status} case has a lead unit"
            if case.status in (Status.DISPATCHED, Status.SIGNED):
                assert case.lead_unit_id is not None, f"{case.status} case without a lead unit"
                allowed_regions = {
                    Tier.VILLAGE: {case.village_id},
                    Tier.TOWN: {case.town_id},
                    Tier.COUNTY: {case.county_id, case.town_id},
                }[case.tier]
                assert case.lead_unit.region_id in allowed_regions
            if case.status == Status.HANDLED:
                assert case.lead_unit_id is not None or case.self_resolved
            if case.status == Status.DEFERRED:
                assert case.colour == Colour.GREY and case.deferred_review_on and case.deferred_from
            else:
                assert case.colour in (Colour.BLUE, Colour.YELLOW, Colour.RED)
                assert case.step_deadline is not None
            pending = case.extension_requests.filter(status=ExtensionStatus.PENDING).count()
            assert pending == 0 or (pending == 1 and case.status == Status.SIGNED)

    @invariant()
    def history_is_append_only_and_ends_in_the_current_status(self):
        for case in Case.objects.filter(pk__in=self.case_ids):
            events = list(
                CaseEvent.objects.filter(case=case)
                .order_by("pk")
                .values_list("pk", "action", "from_status", "to_status", "actor_id", "note")
            )
            previous = self.histories.get(case.pk, [])
            assert events[: len(previous)] == previous, "history was rewritten"
            assert events[0][1] in (Action.REPORT, Action.SELF_RESOLVE)
            assert events[-1][3] == case.status
            self.histories[case.pk] = events


@pytest.mark.django_db
def test_random_sequences_of_actions_keep_every_case_owned_legal_and_recorded(org):
    run_state_machine_as_test(
        lambda: CaseLoop(org),
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
