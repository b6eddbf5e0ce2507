"""The workflow's steps, each declared once, in the order of DOMAIN.md §4.

A step is what a person does to a case: its name (the value the history, the URLs and the
forms use), its words in Chinese, who may take it in which state, where it leads, what it asks
for and which function of the workflow service (``apps.cases.services``) takes it. Everything
else reads this module:

- ``rules.allowed_actions`` — who may take which step now (``by`` and ``only_if``);
- the field API (``api.CaseActionView``) — the steps with a ``field`` rank, their input
  serializer (built from ``inputs`` in ``serializers``) and the service call;
- the command desk (the case page's buttons in ``admin``) — the steps with a ``desk`` rank,
  their forms (built from ``inputs`` in ``apps.desk.forms``) and the service call;
- the field app — its buttons' labels (``field_labels``, through the app's config);
- the service's refusals — the step's ``word``.

To add a step: declare it here (its ``to`` and its row in ``TRANSITIONS``), write its service
function in ``apps.cases.services``; the API, the desk and the field app pick it up
(``tests/cases/test_steps.py`` checks the declaration against the table and the service).
A step the field app shows also needs its form in ``apps/field/static/field/app.js``.

The report (上报, also 当场处置) and the routing task's 分流 create and place a case before
anyone may take a step on it: they are the intake's, not listed here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from apps.cases.models import (
    Action,
    Case,
    ExtensionStatus,
    PhotoKind,
    RejectReason,
    Status,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Who(enum.Enum):
    """Who takes a step (the predicates are ``rules.is_desk_of`` and its neighbours)."""

    DESK = "desk"  # the desk (command centre / workstation) of the tier that holds the case
    UNIT = "unit"  # a handler of the lead unit
    VERIFIER = "verifier"  # a grid worker or grid leader of the case's grid, or its village
    COUNTY_DESK = "county_desk"  # the county command centre of the case's county


class Only(enum.Enum):
    """Further conditions on the case (evaluated in ``rules``)."""

    BELOW_COUNTY = "below_county"  # there is a tier above the one that holds the case
    PENDING_EXTENSION = "pending_extension"  # an extension request waits for the desk
    NO_PENDING_EXTENSION = "no_pending_extension"  # no extension request is waiting
    NOT_JOINT_RESPONSE = "not_joint_response"  # not already a joint response


class Kind(enum.Enum):
    """What an input holds; each interface renders and checks a kind its own way."""

    TEXT = "text"  # free text, at most 2000 characters
    CHOICE = "choice"  # one of ``choices``
    YES_NO = "yes_no"  # true / false
    HOURS = "hours"  # a number of hours
    UNIT = "unit"  # one unit the desk may dispatch to
    UNITS = "units"  # several of them
    CASE = "case"  # another case, named by its tracking number, inside the user's scope
    DATE = "date"  # a day after today


@dataclass(frozen=True)
class Input:
    """One input of a step. ``name`` is its field in the desk's form and the API, and the service
    function's keyword, unless ``api_name`` or ``service_name`` say otherwise. ``required``: the
    desk form refuses to go on without it; the API leaves an absent text to the service, and
    refuses an absent value the step cannot do without with ``missing``, its message.
    ``placeholder`` is the empty choice's text of a choice or a unit."""

    name: str
    kind: Kind
    label: str
    required: bool = False
    api_name: str = ""
    service_name: str = ""
    missing: str = ""
    choices: tuple[tuple[str, StrOrPromise], ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    help_text: str = ""
    placeholder: str = ""
    # Hours only: the desk also offers a date-time picker for the moment itself, converted to
    # hours on the case's work calendar (``selectors.deadline_preview``) and shown as it is typed.
    until_picker: bool = False
    # The service's value from the desk form's (the form's choice "approve" → approve=True).
    desk_value: Callable[[Any], Any] | None = None

    @property
    def wire_name(self) -> str:
        return self.api_name or self.name

    @property
    def keyword(self) -> str:
        return self.service_name or self.name


def _note(label: str = "备注", required: bool = False) -> Input:
    return Input("note", Kind.TEXT, label, required=required)


def _reason(label: str = "理由") -> Input:
    return Input("reason", Kind.TEXT, label, required=True)


@dataclass(frozen=True, eq=False)
class Step:
    name: str
    word: str  # the verb in messages: “您不能对这个事件执行‘受理’”
    by: Mapping[Who, frozenset[str]]  # who may take it, in which statuses
    to: frozenset[str] | None  # the statuses it may lead to; None: the case keeps its status
    service: str  # the function of apps.cases.services that takes it
    inputs: tuple[Input, ...] = ()
    only_if: tuple[Only, ...] = ()
    label: str = ""  # the desk's button (and "已<label>" when done); the word by default
    field_label: str = ""  # the field app's button; the word by default
    hint: str = ""  # the desk's line under the button
    style: str = ""  # the desk's button: "primary", "danger" or ""
    desk: int | None = None  # its place among the desk's buttons; None: not on the desk
    field: int | None = None  # its place among the field app's buttons; None: not there
    # Photos the API takes with the step: (their kind, the history actions they document).
    photos: tuple[str, tuple[str, ...]] | None = None
    # What the desk says when done, from the service's arguments; "已<label>" by default.
    done: Callable[[dict[str, Any]], str] | None = None
    # The call, when the service does not take (case=, actor=, **inputs).
    call: Callable[[Step, Case, Any, dict[str, Any]], Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.label or self.word)
        object.__setattr__(self, "field_label", self.field_label or self.word)

    @property
    def from_statuses(self) -> frozenset[str]:
        return frozenset().union(*self.by.values())

    def service_function(self) -> Callable[..., Any]:
        # Imported when called: the services import the rules, which read this module.
        return getattr(import_module("apps.cases.services"), self.service)

    def take(self, case: Case, actor, values: dict[str, Any]) -> Any:
        """Take the step through the workflow service; ``values`` by service keyword."""
        if self.call is not None:
            return self.call(self, case, actor, values)
        return self.service_function()(case=case, actor=actor, **values)

    def done_message(self, values: dict[str, Any]) -> str:
        return self.done(values) if self.done else f"已{self.label}"


def _decide_pending(step: Step, case: Case, actor, values: dict[str, Any]) -> Any:
    """The desk decides the extension request that waits on the case."""
    request = case.extension_requests.filter(status=ExtensionStatus.PENDING).first()
    if request is None:
        raise import_module("apps.cases.services").WorkflowError(
            _("这个事件没有待审批的延期申请。")
        )
    return step.service_function()(request=request, actor=actor, **values)


def _tracking(case: Case) -> str:
    from apps.cases import tracking

    return tracking.display(case.tracking_number)


S = Status
OPEN_BEFORE_HANDLING = frozenset({S.REPORTED, S.ACCEPTED, S.DISPATCHED, S.SIGNED})

_DISPATCH_INPUTS = (
    Input("lead_unit", Kind.UNIT, "牵头单位", required=True, placeholder="— 请选择牵头单位 —"),
    Input("assisting_units", Kind.UNITS, "协办单位"),
    Input(
        "deadline_hours",
        Kind.HOURS,
        "办理时限（小时）",
        min_value=0.5,
        max_value=24 * 365,
        help_text="留空则按时限表。",
        placeholder="按时限表",
        until_picker=True,
    ),
    _note("派遣说明"),
)


def _dispatched(values: dict[str, Any]) -> str:
    return f"已派遣至 {values['lead_unit'].name}"


STEPS: tuple[Step, ...] = (
    # 受理/立案, 不予立案 (合并 for a duplicate): the desk of the tier the case sits at.
    Step(
        "accept",
        "受理",
        {Who.DESK: frozenset({S.REPORTED})},
        to=frozenset({S.ACCEPTED}),
        service="case_accept",
        inputs=(_note(),),
        label="受理立案",
        style="primary",
        desk=1,
        field=4,
    ),
    Step(
        "reject",
        "不予立案",
        {Who.DESK: frozenset({S.REPORTED, S.ACCEPTED})},
        to=frozenset({S.REJECTED}),
        service="case_reject",
        inputs=(
            Input(
                "reason",
                Kind.CHOICE,
                "不予立案原因",
                required=True,
                api_name="reject_reason",
                choices=tuple(RejectReason.choices),
                placeholder="— 请选择 —",
            ),
            _note("说明", required=True),
        ),
        style="danger",
        desk=9,
        field=9,
    ),
    Step(
        "merge",
        "合并",
        {Who.DESK: frozenset({S.REPORTED, S.ACCEPTED})},
        to=frozenset({S.MERGED}),
        service="case_merge",
        inputs=(Input("into", Kind.CASE, "合并到（流水号）", required=True), _note()),
        label="合并到",
        hint="重复上报：并入同一问题的事件",
        desk=8,
        done=lambda values: f"已合并到 {_tracking(values['into'])}",
    ),
    # 派遣/交办: to a lead unit and assisting units, with a deadline; 改派 before signing.
    Step(
        "dispatch",
        "派遣",
        {Who.DESK: frozenset({S.ACCEPTED})},
        to=frozenset({S.DISPATCHED}),
        service="case_dispatch",
        inputs=_DISPATCH_INPUTS,
        hint="派给牵头单位，可加协办单位和办理时限",
        style="primary",
        desk=2,
        done=_dispatched,
    ),
    Step(
        "redispatch",
        "改派",
        {Who.DESK: frozenset({S.DISPATCHED})},
        to=frozenset({S.DISPATCHED}),
        service="case_dispatch",
        inputs=_DISPATCH_INPUTS,
        hint="改派给其他单位（尚未签收）",
        desk=3,
        done=_dispatched,
    ),
    # 签收 and 退单 by the handling unit.
    Step(
        "sign",
        "签收",
        {Who.UNIT: frozenset({S.DISPATCHED})},
        to=frozenset({S.SIGNED}),
        service="case_sign",
        field=1,
    ),
    Step(
        "return",
        "退单",
        {Who.UNIT: frozenset({S.DISPATCHED, S.SIGNED})},
        to=frozenset({S.ACCEPTED}),
        service="case_return",
        inputs=(Input("reason", Kind.TEXT, "退单理由"),),
        field=8,
    ),
    # 延期申请, approved or denied by the desk.
    Step(
        "extension_request",
        "申请延期",
        {Who.UNIT: frozenset({S.SIGNED})},
        to=None,
        service="extension_request",
        inputs=(
            Input("hours", Kind.HOURS, "延长小时数", missing="请填写需要延长的小时数。"),
            Input("reason", Kind.TEXT, "延期理由"),
        ),
        only_if=(Only.NO_PENDING_EXTENSION,),
        field=7,
    ),
    Step(
        "extension_decide",
        "审批延期",
        {Who.DESK: frozenset({S.DISPATCHED, S.SIGNED})},
        to=None,
        service="extension_decide",
        inputs=(
            Input(
                "decision",
                Kind.CHOICE,
                "审批",
                required=True,
                service_name="approve",
                choices=(("approve", "批准延期"), ("deny", "驳回")),
                desk_value=lambda decision: decision == "approve",
            ),
            _note("审批意见"),
        ),
        only_if=(Only.PENDING_EXTENSION,),
        style="primary",
        desk=4,
        call=_decide_pending,
        done=lambda values: "已批准延期" if values["approve"] else "已驳回延期申请",
    ),
    # 上报/流转: beyond this tier's capacity, to the next tier up; 闪电集结 for a major case.
    Step(
        "escalate",
        "上报上级",
        {
            Who.DESK: frozenset({S.REPORTED, S.ACCEPTED, S.DISPATCHED, S.SIGNED}),
            Who.UNIT: frozenset({S.SIGNED}),
        },
        to=frozenset({S.ACCEPTED}),
        service="case_escalate",
        inputs=(_reason(),),
        only_if=(Only.BELOW_COUNTY,),
        field_label="超出能力，上报上级",
        hint="超出本级能力，交上一级指挥中心",
        desk=7,
        field=6,
    ),
    Step(
        "joint_response",
        "组织联合处置",
        {Who.COUNTY_DESK: OPEN_BEFORE_HANDLING},
        to=frozenset({S.DISPATCHED, S.ACCEPTED}),
        service="case_joint_response",
        only_if=(Only.NOT_JOINT_RESPONSE,),
    ),
    # 处置/反馈 by the handling unit, with after photos.
    Step(
        "handle",
        "处置反馈",
        {Who.UNIT: frozenset({S.SIGNED})},
        to=frozenset({S.HANDLED}),
        service="case_handle",
        inputs=(Input("result_text", Kind.TEXT, "处置结果"),),
        field=2,
        photos=(PhotoKind.AFTER, (Action.HANDLE,)),
    ),
    # 核查 on site: pass → to be closed; fail → 返工 (a fix on the spot goes to the desk).
    Step(
        "verify",
        "核查",
        {Who.VERIFIER: frozenset({S.HANDLED})},
        to=frozenset({S.VERIFIED, S.SIGNED, S.ACCEPTED}),
        service="case_verify",
        inputs=(
            Input("passed", Kind.YES_NO, "核查结果", missing="请选择核查结果：通过或不通过。"),
            _note("核查说明"),
        ),
        field_label="现场核查",
        field=3,
        photos=(PhotoKind.VERIFY, (Action.VERIFY_PASS, Action.VERIFY_FAIL)),
    ),
    # 结案/归档 by the desk; reopened when the problem comes back.
    Step(
        "close",
        "结案",
        {Who.DESK: frozenset({S.VERIFIED})},
        to=frozenset({S.CLOSED}),
        service="case_close",
        inputs=(_note(),),
        label="结案归档",
        style="primary",
        desk=5,
        field=5,
    ),
    Step(
        "reopen",
        "重新打开",
        {Who.DESK: frozenset({S.CLOSED, S.REJECTED})},
        to=frozenset({S.ACCEPTED}),
        service="case_reopen",
        inputs=(_reason(),),
        desk=12,
    ),
    # 督办: reminders to the unit and its supervisor.
    Step(
        "urge",
        "督办",
        {Who.DESK: frozenset({S.DISPATCHED, S.SIGNED, S.HANDLED})},
        to=None,
        service="case_urge",
        inputs=(_note(),),
        hint="提醒处置单位及其上级",
        desk=6,
    ),
    # 挂账/缓办 with a review date, and back to where it was.
    Step(
        "defer",
        "挂账",
        {Who.DESK: frozenset({S.ACCEPTED, S.SIGNED})},
        to=frozenset({S.DEFERRED}),
        service="case_defer",
        inputs=(Input("review_on", Kind.DATE, "复查日期", required=True), _reason("挂账理由")),
        label="挂账缓办",
        desk=10,
    ),
    Step(
        "resume",
        "恢复办理",
        {Who.DESK: frozenset({S.DEFERRED})},
        to=frozenset({S.ACCEPTED, S.SIGNED}),
        service="case_resume",
        inputs=(_note(),),
        style="primary",
        desk=11,
    ),
)

BY_NAME: dict[str, Step] = {step.name: step for step in STEPS}

# Status → the steps it allows → the statuses each may lead to. The steps' own ``by`` and
# ``to`` must agree with it (tests/cases/test_steps.py).
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    S.REPORTED: {
        "accept": frozenset({S.ACCEPTED}),
        "reject": frozenset({S.REJECTED}),
        "merge": frozenset({S.MERGED}),
        "escalate": frozenset({S.ACCEPTED}),
        "joint_response": frozenset({S.DISPATCHED, S.ACCEPTED}),
    },
    S.ACCEPTED: {
        "dispatch": frozenset({S.DISPATCHED}),
        "reject": frozenset({S.REJECTED}),
        "merge": frozenset({S.MERGED}),
        "escalate": frozenset({S.ACCEPTED}),
        "joint_response": frozenset({S.DISPATCHED, S.ACCEPTED}),
        "defer": frozenset({S.DEFERRED}),
    },
    S.DISPATCHED: {
        "redispatch": frozenset({S.DISPATCHED}),
        "sign": frozenset({S.SIGNED}),
        "return": frozenset({S.ACCEPTED}),
        "extension_decide": frozenset({S.DISPATCHED}),
        "escalate": frozenset({S.ACCEPTED}),
        "joint_response": frozenset({S.DISPATCHED, S.ACCEPTED}),
        "urge": frozenset({S.DISPATCHED}),
    },
    S.SIGNED: {
        "return": frozenset({S.ACCEPTED}),
        "extension_request": frozenset({S.SIGNED}),
        "extension_decide": frozenset({S.SIGNED}),
        "escalate": frozenset({S.ACCEPTED}),
        "joint_response": frozenset({S.DISPATCHED, S.ACCEPTED}),
        "handle": frozenset({S.HANDLED}),
        "urge": frozenset({S.SIGNED}),
        "defer": frozenset({S.DEFERRED}),
    },
    S.HANDLED: {
        "verify": frozenset({S.VERIFIED, S.SIGNED, S.ACCEPTED}),
        "urge": frozenset({S.HANDLED}),
    },
    S.VERIFIED: {"close": frozenset({S.CLOSED})},
    S.CLOSED: {"reopen": frozenset({S.ACCEPTED})},
    S.REJECTED: {"reopen": frozenset({S.ACCEPTED})},
    S.MERGED: {},
    S.DEFERRED: {"resume": frozenset({S.ACCEPTED, S.SIGNED})},
}

# The steps each interface offers, in the order it shows them.
DESK_STEPS: tuple[Step, ...] = tuple(
    sorted((s for s in STEPS if s.desk is not None), key=lambda s: s.desk or 0)
)
FIELD_STEPS: tuple[Step, ...] = tuple(
    sorted((s for s in STEPS if s.field is not None), key=lambda s: s.field or 0)
)
FIELD_STEP_NAMES: tuple[str, ...] = tuple(s.name for s in FIELD_STEPS)


def step(name: str) -> Step | None:
    return BY_NAME.get(name)


def word(name: str) -> str:
    """The step's verb for a message; an unknown name as it is."""
    found = BY_NAME.get(name)
    return found.word if found else name


def field_labels() -> dict[str, str]:
    """The field app's button labels, by step."""
    return {s.name: s.field_label for s in FIELD_STEPS}
