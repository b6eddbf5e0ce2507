"""Read-side queries for cases. ``cases_visible_to`` is the one scoping rule for every reader."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.cases.models import (
    DESK_WAITING_STATUSES,
    FINAL_STATUSES,
    RUNNING_STATUSES,
    Case,
    Colour,
    Status,
    Step,
    TimeBasis,
)
from apps.org.models import REGION_FIELD_OF_TIER, Region, Role, Tier
from apps.org.scope import AnyUser, scope_of


def case_visibility_q(user: AnyUser) -> Q | None:
    """The filter that limits cases to what ``user`` may see; None means nothing at all.

    - county dispatchers and leaders: their county (leaders of a town: that town);
    - town dispatchers: cases in their town;
    - village handlers, grid leaders: cases in their village (grid leaders: their grids too);
    - grid workers: cases in their grids and cases they reported;
    - department handlers: cases their unit leads or assists, now or before (history).
    """
    scope = scope_of(user)
    if scope.everything:
        return Q()
    if scope.is_empty:
        return None
    role = scope.role
    if role == Role.DEPARTMENT_HANDLER:
        return (
            Q(lead_unit_id=scope.unit_id)
            | Q(assisting_units__id=scope.unit_id)
            | Q(events__unit_id=scope.unit_id, events__action="dispatch")
        )
    if role == Role.GRID_WORKER:
        return Q(grid_id__in=scope.grid_ids) | Q(reporter_id=user.pk)
    if role == Role.GRID_LEADER:
        return Q(grid_id__in=scope.grid_ids) | Q(reporter_id=user.pk)
    if scope.region_id and scope.region_tier in REGION_FIELD_OF_TIER:
        return Q(**{REGION_FIELD_OF_TIER[scope.region_tier]: scope.region_id})
    return None


def cases_visible_to(user: AnyUser, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    qs = Case.objects.all() if queryset is None else queryset
    condition = case_visibility_q(user)
    if condition is None:
        return qs.none()
    if not condition:
        return qs
    scope = scope_of(user)
    if scope.role == Role.DEPARTMENT_HANDLER:
        # The join through assisting units and history can repeat rows; keep ids unique
        # without DISTINCT on the whole (possibly ordered/annotated) queryset.
        ids = Case.objects.filter(condition).values("pk")
        return qs.filter(pk__in=ids)
    return qs.filter(condition)


def cases_waiting_for(user: AnyUser) -> QuerySet[Case]:
    """The cases whose next step is this user's (the field app's "My tasks"), most urgent first:

    - members of a unit (department handlers, a village workstation): cases their unit leads
      that wait to be signed for or handled;
    - grid workers and grid leaders: handled cases in their grids that wait for on-site
      verification (not their own fixes on the spot, which someone else verifies);
    - village handlers: reports at their workstation's desk to accept, verified cases to close.
    """
    from apps.cases.models import Status

    scope = scope_of(user)
    if scope.is_empty or scope.everything:
        return Case.objects.none()
    condition = Q(pk__in=[])
    if scope.unit_id and scope.role in (Role.DEPARTMENT_HANDLER, Role.VILLAGE_HANDLER):
        condition |= Q(lead_unit_id=scope.unit_id, status__in=[Status.DISPATCHED, Status.SIGNED])
    if scope.role in (Role.GRID_WORKER, Role.GRID_LEADER) and scope.grid_ids:
        condition |= Q(grid_id__in=scope.grid_ids, status=Status.HANDLED) & ~Q(
            self_resolved=True, reporter_id=user.pk
        )
    if scope.role == Role.VILLAGE_HANDLER and scope.region_id:
        condition |= Q(
            holder_id=scope.region_id,
            tier=Tier.VILLAGE,
            status__in=[Status.REPORTED, Status.VERIFIED],
        )
    return cases_visible_to(user, Case.objects.filter(condition)).order_by("step_deadline", "pk")


# --- the desk's counters ---------------------------------------------------------------------


def overdue_q(now: dt.datetime | None = None) -> Q:
    """Open, running cases whose current step is past its deadline (at the deadline itself a
    case is overdue, as the sweep and ``case_clock`` say)."""
    return Q(status__in=RUNNING_STATUSES, step_deadline__lte=now or timezone.now())


def desk_counts(region_id: int, tier: str | None = None) -> dict[str, int]:
    """待本级处理 (``new``: held by this desk, waiting for its next step) and 已超时 (``overdue``:
    running cases of the region past their step deadline) — the command desk dashboard's own
    definitions (``DESK_WAITING_STATUSES``, ``overdue_q``), so the live badge and the dashboard
    agree. Aggregates only: whoever may follow a region's desk sees all of its cases anyway."""
    if tier is None:
        tier = Region.objects.filter(pk=region_id).values_list("tier", flat=True).first()
    if tier is None:
        return {"region": region_id, "new": 0, "overdue": 0}
    new = Case.objects.filter(holder_id=region_id, status__in=DESK_WAITING_STATUSES).count()
    overdue = Case.objects.filter(overdue_q(), **{REGION_FIELD_OF_TIER[tier]: region_id}).count()
    return {"region": region_id, "new": new, "overdue": overdue}


# --- the case clock: one rule for every screen -------------------------------------------------
#
# A case has two deadlines: the current step's (``step_deadline``, 本环节时限: accept, dispatch,
# sign, handle, verify, close each get a limit from the time-limit table) and the whole case's
# (``overall_deadline``, 办结时限: set at dispatch, by the dispatcher or the table). The colour
# (分色预警), the automatic 督办 and the escalation have always run on the step's deadline; the
# screens used to mix the two (the field app and the public page counted down to the 办结时限
# beside a step colour), and the desk took its colour from the sweep's stored column while it
# counted down live. The rule now, for every screen (desk list, desk case page, desk dashboard,
# field app, public tracking page, evaluation):
#
# - the deadline shown is the current step's, labelled 本环节时限 (with the step's name);
# - colour, countdown and date all come from ``case_clock`` below, on the case's own time basis
#   (working hours on the work calendar, or natural hours), at the same ``now``;
# - the 办结时限 is a target for the evaluation's on-time rate; where a screen names it, it is
#   labelled as such and carries no colour and no countdown.
#
# Why the colour is computed here instead of read from ``Case.colour``: the sweep writes the
# stored colour once a minute, so between sweeps a case past its deadline can still be stored
# blue or yellow while its countdown says 已超时. Both follow from the same three columns
# (``step_deadline``, ``yellow_at``, the status), so the screens compute the colour from them
# with the same comparisons the sweep makes (red at ``step_deadline <= now``, yellow at
# ``yellow_at <= now``) and can never disagree with their own countdown. The stored colour stays
# what the sweep writes (the single writer, through ``services.sweeps``) and what indexes and
# filters read; ``live_colour`` is the same rule as an SQL expression for counts.


@dataclass(frozen=True)
class CaseClock:
    """What a screen shows of a case's clock. ``deadline`` is None for closed, deferred and
    unclocked cases; ``remaining_hours`` is negative once overdue; both in ``basis`` hours."""

    colour: str
    colour_label: str
    deadline: dt.datetime | None
    deadline_label: str
    remaining_hours: float | None
    overdue: bool
    text: str
    basis: str
    working_time: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "colour_display": self.colour_label,
            "deadline": self.deadline,
            "deadline_label": self.deadline_label,
            "remaining_hours": None
            if self.remaining_hours is None
            else round(self.remaining_hours, 2),
            "overdue": self.overdue,
            "text": self.text,
            "working_time": self.working_time,
        }


DEADLINE_LABEL = "本环节时限"


def span_words(hours: float, *, working: bool) -> str:
    """A span of hours for a person: natural time in days/hours/minutes, working time in
    working days (8 working hours each) and working hours."""
    minutes = int(round(abs(hours) * 60))
    if working:
        days, minutes = divmod(minutes, 8 * 60)
        hrs, minutes = divmod(minutes, 60)
        if days:
            return f"{days} 个工作日 {hrs} 小时" if hrs else f"{days} 个工作日"
        if hrs:
            return f"{hrs} 个工作小时 {minutes} 分" if minutes else f"{hrs} 个工作小时"
        return f"{max(minutes, 1)} 分钟（工作时间）"
    days, minutes = divmod(minutes, 24 * 60)
    hrs, minutes = divmod(minutes, 60)
    if days:
        return f"{days} 天 {hrs} 小时" if hrs else f"{days} 天"
    if hrs:
        return f"{hrs} 小时 {minutes} 分" if minutes else f"{hrs} 小时"
    return f"{max(minutes, 1)} 分钟"


def clock_colour(case: Case, now: dt.datetime) -> str:
    """The colour the sweep gives (or is about to give) this case at ``now``."""
    if case.status in FINAL_STATUSES:
        return Colour.GREEN
    if case.status == Status.DEFERRED:
        return Colour.GREY
    if case.step_deadline is None:
        return case.colour
    if case.step_deadline <= now:
        return Colour.RED
    if case.yellow_at is not None and case.yellow_at <= now:
        return Colour.YELLOW
    # A step's fresh clock is blue; only the sweep turns it yellow or red, and the comparisons
    # above are the sweep's (services.sweeps.cases_turn_red / cases_turn_yellow).
    return Colour.BLUE


def case_clock(case: Case, now: dt.datetime | None = None) -> CaseClock:
    """The one clock every screen shows for ``case`` at ``now``: see the rule above.

    1. Closed/rejected/merged: green, no deadline ("已办结").
    2. Deferred (挂账): grey, no clock; the review date in words.
    3. Running: the current step's deadline; remaining (or overdue) time on the case's own
       basis — working time on the work calendar, or natural hours; red from the deadline
       itself (``<=``, as the sweep), yellow from ``yellow_at``, blue before.
    """
    from apps.cases import clock

    now = now or timezone.now()
    colour = clock_colour(case, now)
    colour_label = str(Colour(colour).label)
    basis = clock.time_basis(case) if case.category_id else TimeBasis.WORKING_HOURS
    working = basis != TimeBasis.NATURAL_HOURS
    common = {"colour": colour, "colour_label": colour_label, "basis": basis}
    if case.status in FINAL_STATUSES:
        return CaseClock(
            **common,
            deadline=None,
            deadline_label="",
            remaining_hours=None,
            overdue=False,
            text="已办结",
            working_time=working,
        )
    if case.status == Status.DEFERRED:
        review = f"，{case.deferred_review_on:%m-%d} 复查" if case.deferred_review_on else ""
        return CaseClock(
            **common,
            deadline=None,
            deadline_label="",
            remaining_hours=None,
            overdue=False,
            text=f"挂账缓办{review}",
            working_time=working,
        )
    step_label = str(Step(case.step).label) if case.step in Step.values else ""
    label = f"{DEADLINE_LABEL}（{step_label}）" if step_label else DEADLINE_LABEL
    deadline = case.step_deadline
    if deadline is None:
        return CaseClock(
            **common,
            deadline=None,
            deadline_label=label,
            remaining_hours=None,
            overdue=False,
            text="—",
            working_time=working,
        )
    if deadline <= now:
        late = clock.hours_between(deadline, now, basis)
        # Overdue by less than a minute of working time (at the deadline itself, or past a
        # deadline typed into a weekend): still overdue, red, "已超时", just without a span.
        text = f"已超时 {span_words(late, working=working)}" if late * 60 >= 1 else "已超时"
        return CaseClock(
            **common,
            deadline=deadline,
            deadline_label=label,
            remaining_hours=-late,
            overdue=True,
            text=text,
            working_time=working,
        )
    left = clock.hours_between(now, deadline, basis)
    return CaseClock(
        **common,
        deadline=deadline,
        deadline_label=label,
        remaining_hours=left,
        overdue=False,
        text=f"剩 {span_words(left, working=working)}",
        working_time=working,
    )


def live_colour(now: dt.datetime | None = None) -> models.Case:
    """``clock_colour`` as an SQL expression, for counting cases by the colour they show."""
    now = now or timezone.now()
    return models.Case(
        models.When(status__in=sorted(FINAL_STATUSES), then=models.Value(Colour.GREEN.value)),
        models.When(status=Status.DEFERRED, then=models.Value(Colour.GREY.value)),
        models.When(step_deadline__isnull=True, then=models.F("colour")),
        models.When(step_deadline__lte=now, then=models.Value(Colour.RED.value)),
        models.When(yellow_at__lte=now, then=models.Value(Colour.YELLOW.value)),
        default=models.Value(Colour.BLUE.value),
        output_field=models.CharField(),
    )


def cases_showing_colour(
    queryset: QuerySet[Case], colour: str, now: dt.datetime | None = None
) -> QuerySet[Case]:
    """The cases of ``queryset`` that show ``colour`` now (``live_colour``), for a list filter.
    The status condition restates what each colour implies, so the status indexes narrow the
    rows before the expression is evaluated."""
    by_colour: dict[str, list[str]] = {
        Colour.GREEN: sorted(FINAL_STATUSES),
        Colour.GREY: [Status.DEFERRED],
    }
    statuses = by_colour.get(colour, RUNNING_STATUSES)
    return (
        queryset.filter(status__in=statuses)
        .alias(shown_colour=live_colour(now))
        .filter(shown_colour=colour)
    )


# The rule in words, for the help page every screen links to (/track/clock/) — written here, next
# to the code that applies it, so the two change together.
CLOCK_RULE_WORDS: tuple[tuple[str, str], ...] = (
    (
        "本环节时限",
        "事件每个环节（受理、派遣、签收、处置、核查、结案）都有时限，按事件分类的时限表计算。"
        "所有页面（指挥台列表和事件页、手机端、市民查询页、考核看板）显示的时限、倒计时和颜色，"
        "都来自当前环节的这一个时限。",
    ),
    (
        "工作时间",
        "按工作时间计时的分类，只计工作日 8:30–12:00、13:30–18:00（节假日不计，调休上班日计入），"
        "倒计时写作“剩 N 个工作小时”或“N 个工作日”；按自然时间计时的分类，倒计时按自然小时和天。",
    ),
    (
        "颜色",
        "蓝：办理中；黄：本环节时限已用去 80%；红：已到或已过本环节时限（到点即为红）；"
        "灰：挂账缓办，不计时；绿：已办结。颜色和倒计时在同一时刻、按同一个时限算出，不会不一致。",
    ),
    (
        "办结时限",
        "派遣时为整个事件定的总时限，用于考核“按时办结”。事件页上单独标明“办结时限”，"
        "不决定颜色，也没有倒计时。",
    ),
    (
        "挂账与办结",
        "挂账缓办的事件停止计时，到复查日期自动恢复并重新计时；已办结、不予立案、已合并的事件不再计时。",
    ),
)


# --- a deadline typed as a moment ----------------------------------------------------------


class DeadlineRefused(ValueError):
    """A deadline the desk cannot set; ``message`` says why, in words for the dispatcher."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DeadlinePreview:
    hours: float
    deadline: dt.datetime
    text: str


def deadline_preview(
    case: Case,
    *,
    hours: float | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
    min_hours: float = 0.5,
    max_hours: float = 24 * 365,
) -> DeadlinePreview:
    """A 办理时限 given either as hours or as the moment it ends (``until``), on the case's own
    time basis and work calendar: how many hours that is, when it really ends (a moment outside
    working time ends at the last working minute before it), and both in words —
    "合 N 个工作小时，截止 X月X日 HH:MM". The desk's form and its live preview both call this,
    and the workflow service then counts the same hours from the same moment (``clock.add_limit``).
    Raises ``DeadlineRefused`` for a moment not in the future, or hours outside the limits."""
    from apps.cases import clock

    now = now or timezone.now()
    basis = clock.time_basis(case)
    working = basis != TimeBasis.NATURAL_HOURS
    if until is not None:
        if timezone.is_naive(until):
            until = timezone.make_aware(until)
        if until <= now:
            raise DeadlineRefused("截止时间必须晚于现在，请重新选择。")
        hours = clock.hours_between(now, until, basis)
    if hours is None:
        raise DeadlineRefused("请填写办理时限（小时）或选择截止时间。")
    unit = "个工作小时" if working else "小时"
    if hours < min_hours:
        raise DeadlineRefused(
            f"所选时间之前不足 {min_hours:g} {unit}（工作时间为工作日 8:30–12:00、13:30–18:00），请选晚一些。"
            if until is not None and working
            else f"办理时限至少 {min_hours:g} {unit}。"
        )
    if hours > max_hours:
        raise DeadlineRefused(f"办理时限不能超过 {max_hours:g} {unit}，请选早一些。")
    deadline = clock.add_limit(now, hours, basis)
    local = timezone.localtime(deadline)
    text = f"合 {round(hours, 1):g} {unit}，截止 {local.month}月{local.day}日 {local:%H:%M}"
    return DeadlinePreview(hours=hours, deadline=deadline, text=text)
