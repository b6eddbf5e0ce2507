"""The step registry (``apps.cases.steps``) against its transition table and the workflow service,
and the API and the desk against the registry: each offers exactly the registry's steps that
``rules.allowed_actions`` allows, in its own order, for a case in every status."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.cases import rules, services, steps
from apps.cases.models import FINAL_STATUSES, Case, Status
from apps.cases.serializers import ActionInputSerializer
from apps.desk import forms as admin_forms
from tests.admin.conftest import login
from tests.cases.helpers import dispatched_at_town, handled_at_town, report, routed
from tests.factories import PASSWORD

SERVICES = Path(services.__file__).parent

# --- the registry against its table and the service ------------------------------------------


def test_every_step_leads_where_the_transition_table_says():
    for step in steps.STEPS:
        assert step.from_statuses, step.name
        for status in step.from_statuses:
            assert step.name in steps.TRANSITIONS[status], (step.name, status)
            assert steps.TRANSITIONS[status][step.name] == (step.to or {status}), (
                step.name,
                status,
            )


def test_every_move_in_the_table_is_a_declared_step():
    for status, moves in steps.TRANSITIONS.items():
        for name in moves:
            assert name in steps.BY_NAME, name
            assert status in steps.BY_NAME[name].from_statuses, (name, status)


def test_every_status_is_final_or_has_steps():
    assert set(steps.TRANSITIONS) == set(Status.values)
    for status in Status.values:
        assert status in FINAL_STATUSES or steps.TRANSITIONS[status], status
    # A step leads only to real statuses.
    for moves in steps.TRANSITIONS.values():
        for targets in moves.values():
            assert targets <= set(Status.values)


def test_step_names_are_unique_and_every_step_has_its_words():
    assert len(steps.BY_NAME) == len(steps.STEPS)
    for step in steps.STEPS:
        assert step.word and step.label and step.field_label, step.name
        assert step.style in ("", "primary", "danger"), step.name


def test_every_step_has_a_service_function_that_takes_its_inputs():
    for step in steps.STEPS:
        function = step.service_function()
        assert callable(function), step.name
        parameters = inspect.signature(function).parameters
        subject = "request" if step.call is not None else "case"
        given = {subject, "actor", *(spec.keyword for spec in step.inputs)}
        assert given <= set(parameters), (step.name, given - set(parameters))
        needed = {
            name
            for name, parameter in parameters.items()
            if parameter.default is inspect.Parameter.empty
            and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        }
        assert needed <= given, (step.name, needed - given)


def _required_step_names() -> set[str]:
    """The step names the service refuses by (``_require(case, actor, "<name>")``)."""
    names = set()
    for path in SERVICES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_require"
                and isinstance(node.args[2], ast.Constant)
            ):
                names.add(node.args[2].value)
    return names


def test_the_services_refusals_name_declared_steps_in_their_words():
    required = _required_step_names()
    assert required, "no _require calls found"
    # case_dispatch refuses as dispatch or redispatch, by the status it finds (a name it picks).
    assert required | {"dispatch", "redispatch"} == set(steps.BY_NAME)
    for name in steps.BY_NAME:
        assert steps.word(name) == steps.BY_NAME[name].word


def test_each_interface_offers_its_steps_in_order():
    assert [s.name for s in steps.DESK_STEPS] == [
        "accept",
        "dispatch",
        "redispatch",
        "extension_decide",
        "close",
        "urge",
        "escalate",
        "merge",
        "reject",
        "defer",
        "resume",
        "reopen",
    ]
    assert steps.FIELD_STEP_NAMES == (
        "sign",
        "handle",
        "verify",
        "accept",
        "close",
        "escalate",
        "extension_request",
        "return",
        "reject",
    )
    assert len({s.desk for s in steps.DESK_STEPS}) == len(steps.DESK_STEPS)
    assert len({s.field for s in steps.FIELD_STEPS}) == len(steps.FIELD_STEPS)


def test_the_api_and_the_desk_take_the_inputs_the_steps_declare():
    api_fields = set(ActionInputSerializer().fields)
    for step in steps.FIELD_STEPS:
        assert {spec.wire_name for spec in step.inputs} <= api_fields, step.name
    assert api_fields - {s.wire_name for st in steps.FIELD_STEPS for s in st.inputs} == {
        "photos",
        "photo_ids",
    }
    for step in steps.DESK_STEPS:
        form = admin_forms.step_form(step)()
        declared = []
        for spec in step.inputs:
            declared.append(spec.name)
            if spec.until_picker:  # hours, with the date-time picker for the moment itself
                declared.append(f"{spec.name}_until")
        assert list(form.fields) == declared, step.name


# --- the API and the desk offer the registry's steps, in every status ---------------------------

USERS = ["vh", "td", "cd", "dh", "gw", "gw2", "leader"]
DESK_USERS = {"vh", "td", "cd", "leader"}


def _cases_in_every_status(org) -> list[Case]:
    u = org.users
    cases = []
    fresh = routed(report(org))
    cases.append(fresh)  # reported, at the village
    accepted = routed(report(org))
    services.case_accept(case=accepted, actor=u["vh"])
    cases.append(accepted)
    dispatched = dispatched_at_town(org)
    cases.append(dispatched)
    signed = dispatched_at_town(org)
    services.case_sign(case=signed, actor=u["dh"])
    cases.append(signed)
    waiting = dispatched_at_town(org)  # signed, with an extension request waiting
    services.case_sign(case=waiting, actor=u["dh"])
    services.extension_request(case=waiting, actor=u["dh"], hours=24, reason="等材料")
    cases.append(waiting)
    handled = handled_at_town(org)
    cases.append(handled)
    verified = handled_at_town(org)
    services.case_verify(case=verified, actor=u["gw"], passed=True)
    cases.append(verified)
    closed = handled_at_town(org)
    services.case_verify(case=closed, actor=u["gw"], passed=True)
    services.case_close(case=closed, actor=u["td"])
    cases.append(closed)
    rejected = routed(report(org))
    services.case_reject(case=rejected, actor=u["vh"], reason="invalid", note="无效")
    cases.append(rejected)
    merged = routed(report(org))
    services.case_merge(case=merged, into=fresh, actor=u["vh"])
    cases.append(merged)
    deferred = routed(report(org))
    services.case_accept(case=deferred, actor=u["vh"])
    services.case_defer(
        case=deferred,
        actor=u["vh"],
        review_on=timezone.localdate() + dt.timedelta(days=30),
        reason="需要预算",
    )
    cases.append(deferred)
    at_county = routed(report(org))
    services.case_accept(case=at_county, actor=u["vh"])
    services.case_escalate(case=at_county, actor=u["vh"], reason="村里处理不了")
    services.case_escalate(case=at_county, actor=u["td"], reason="需要区级部门")
    cases.append(at_county)
    for case in cases:
        case.refresh_from_db()
    return cases


@pytest.mark.django_db
def test_the_api_and_the_desk_offer_exactly_the_registrys_steps(org):
    cases = _cases_in_every_status(org)
    assert {c.status for c in cases} == set(Status.values)
    seen: set[str] = set()
    pages: dict[str, int] = {"api": 0, "desk": 0}
    for key in USERS:
        user = org.users[key]
        api = APIClient()
        assert api.login(username=user.username, password=PASSWORD)
        desk = login(user) if key in DESK_USERS else None
        for case in cases:
            case = Case.objects.get(pk=case.pk)
            allowed = rules.allowed_actions(case, user)
            seen |= allowed
            where = (key, case.status, case.tier)
            # Only the steps the table allows in this status, each from a status it leaves.
            assert allowed <= set(steps.TRANSITIONS[case.status]), where
            response = api.get(f"/api/cases/{case.pk}/")
            if response.status_code == 200:
                pages["api"] += 1
                assert response.json()["allowed_actions"] == [
                    s.name for s in steps.FIELD_STEPS if s.name in allowed
                ], where
            else:
                assert response.status_code == 404, where
            if desk is not None:
                page = desk.get(f"/admin/cases/case/{case.pk}/change/")
                if page.status_code == 200:
                    pages["desk"] += 1
                    offered = [item["spec"].name for item in page.context["action_forms"]]
                    expected = [s.name for s in steps.DESK_STEPS if s.name in allowed]
                    assert offered == ([] if key == "leader" else expected), where
    assert pages["api"] >= 3 * len(cases) and pages["desk"] >= 2 * len(cases), pages
    # The cases above give every step to someone.
    assert seen == set(steps.BY_NAME)
    # Every step but the county's joint response (the routing task takes it) has an interface.
    offered_anywhere = {s.name for s in steps.DESK_STEPS} | set(steps.FIELD_STEP_NAMES)
    assert offered_anywhere == set(steps.BY_NAME) - {"joint_response"}
