"""What the public may see of a case — the one place that decides it.

Every public response (the status page, the link page, Open311) is built from ``public_view``,
so the rule "no names, no phone numbers, no internal notes, no GPS point, no faces" is written
once:

- state, colour, category, the tier and the *kind* of unit holding the case (never a person
  or a unit's staff);
- deadlines;
- a coarse location: the village/community name from our own region table, plus a road name
  only when the address clearly starts it (``coarse_road``) — house numbers are cut off;
- the timeline of public steps, worded by ``public_timeline`` from each event's action, tier
  and unit *kind* (never ``note``, the actor or the unit's name);
- photos marked ``is_public`` whose re-encoded copy exists (never the original).

The free-text description and the handling result are never shown: people write names and
phone numbers into them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.cases import tracking
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    CaseEvent,
    CasePhoto,
    Colour,
    RejectReason,
    Status,
)
from apps.cases.selectors import case_clock
from apps.org.models import Tier, UnitKind

if TYPE_CHECKING:
    from apps.public.models import Rating

# Plain words for a citizen, one per status.
# Keyed by the choices' values: the model fields hold plain strings.
STATUS_WORDS: dict[str, str] = {
    Status.REPORTED: "已收到，等待受理",
    Status.ACCEPTED: "已受理，正在安排处置单位",
    Status.DISPATCHED: "已派给处置单位，等待签收",
    Status.SIGNED: "处置单位正在处理",
    Status.HANDLED: "已处理，等待现场核查",
    Status.VERIFIED: "现场核查通过，即将办结",
    Status.CLOSED: "已办结",
    Status.REJECTED: "未予受理",
    Status.MERGED: "与同一问题的其他上报合并办理",
    Status.DEFERRED: "暂缓办理",
}
COLOUR_WORDS: dict[str, str] = {
    Colour.GREEN: "已办结",
    Colour.BLUE: "办理中",
    Colour.YELLOW: "即将到期",
    Colour.RED: "已超时",
    Colour.GREY: "暂缓办理",
}
# The desk of each tier, when no unit has been dispatched yet.
DESK_WORDS: dict[str, str] = {
    Tier.VILLAGE: "村/社区工作站",
    Tier.TOWN: "乡镇（街道）综合信息指挥室",
    Tier.COUNTY: "区县指挥中心",
}
UNIT_KIND_WORDS: dict[str, str] = {
    UnitKind.DEPARTMENT: "区县职能部门",
    UnitKind.STATIONED: "乡镇派驻机构",
    UnitKind.TOWN_OFFICE: "乡镇站所",
    UnitKind.WORKSTATION: "村/社区工作站",
}
TIER_WORDS: dict[str, str] = {Tier.VILLAGE: "村/社区", Tier.TOWN: "乡镇/街道", Tier.COUNTY: "区县"}

_HOUSE_NUMBER = re.compile(r"[0-9０-９#＃]|[〇零一二三四五六七八九十百千]+\s*(?:号|弄|幢|栋)")
# A road, avenue, street or lane name right before the house number, starting the address or
# right after an administrative name. Anything else (e.g. "张三家门口幸福路") is left out:
# better no road than a person's name.
_ROAD = re.compile(r"[\u4e00-\u9fff]{2,6}(?:大道|大街|路|街|巷|胡同)")
_ROAD_STARTS = re.compile(r"省|市|区|县|镇|乡|街道|村|社区|[\s,，、;；/]")


def coarse_road(address: str) -> str:
    """The road of an address with everything from the house number on cut off, or ''."""
    address = (address or "").strip()
    if not address:
        return ""
    match = _HOUSE_NUMBER.search(address)
    head = address[: match.start()] if match else address
    head = head.rstrip(" ,，、;；/")
    # Try the shortest tail first: "东镇幸福路" gives "幸福路", not "东镇幸福路".
    starts = [0, *(m.end() for m in _ROAD_STARTS.finditer(head))]
    for start in sorted(set(starts), reverse=True):
        if _ROAD.fullmatch(head[start:]):
            return head[start:]
    return ""


@dataclass(frozen=True)
class PublicEvent:
    at: dt.datetime
    text: str


# The steps a citizen sees, and how each is worded (see ``public_timeline`` for the rule).
# A callable gets the event and the case, and returns the words or "" to leave the event out.
def _unit_kind(event: CaseEvent) -> str:
    return (
        UNIT_KIND_WORDS.get(event.unit.kind, "处置单位") if event.unit is not None else "处置单位"
    )


TIMELINE_WORDS: dict[str, str | Callable[[CaseEvent, Case], str]] = {
    Action.REPORT: "已上报",
    # A fix on the spot is recorded instead of the report, not after it.
    Action.SELF_RESOLVE: "已上报，网格员已当场处置，等待核查",
    # The automatic triage to the village workstation; a major case goes to the county instead
    # and its joint response says so.
    Action.ROUTE: lambda e, c: f"已分流至{_unit_kind(e)}" if e.unit_id else "",
    Action.ACCEPT: "已受理立案",
    Action.REJECT: lambda e, c: (
        "不予立案"
        + (
            f"：{RejectReason(c.reject_reason).label}"
            if c.status == Status.REJECTED and c.reject_reason
            else ""
        )
    ),
    # Recorded on the report that was merged only (the case it joined gets a NOTE, not shown:
    # it is about another citizen's report).
    Action.MERGE: "与同一问题的其他上报合并办理",
    Action.DISPATCH: lambda e, c: f"已派遣至{_unit_kind(e)}",
    Action.JOINT_RESPONSE: "区县指挥中心已组织多部门联合处置",
    Action.SIGN: lambda e, c: f"{_unit_kind(e)}已签收",
    Action.ESCALATE: lambda e, c: f"已转{DESK_WORDS.get(e.to_tier, '上级')}办理",
    Action.EXTENSION_APPROVE: "办理时限已延长",
    Action.HANDLE: "已处置完毕，等待现场核查",
    Action.VERIFY_PASS: "现场核查通过",
    Action.VERIFY_FAIL: "现场核查未通过，重新处置",
    Action.CLOSE: lambda e, c: "合并办理的事件已办结" if "via" in (e.data or {}) else "已办结",
    Action.REOPEN: "重新办理",
    Action.DEFER: "暂缓办理",
    Action.RESUME: "恢复办理",
    Action.RATE: "市民已评价",
}


def public_events() -> QuerySet[CaseEvent]:
    """The events ``public_timeline`` may show, with just the fields it reads."""
    return (
        CaseEvent.objects.filter(action__in=list(TIMELINE_WORDS))
        .select_related("unit")
        .only("case_id", "created_at", "action", "to_tier", "data", "unit__kind")
        .order_by("created_at", "id")
    )


def public_timeline(case: Case, events: Iterable[CaseEvent]) -> list[PublicEvent]:
    """The public steps of a case, oldest first, each with its time and plain words.

    The rule, written once for the status page, the link page and Open311's ``status_notes``:

    1. Shown: the steps of the closed loop (DOMAIN.md §4) that change where the case stands
       for the citizen — reported, fixed on the spot, routed, accepted or rejected (with the
       reason's category), merged, dispatched, signed, escalated, joint response, handled,
       verified (passed or failed), closed, reopened, deferred, resumed, rated — and an
       approved extension ("办理时限已延长"), because the expected date on the page moves.
    2. A unit appears only as its *kind* (``UNIT_KIND_WORDS``, e.g. 乡镇派驻机构) and a desk as
       its tier (``DESK_WORDS``); never a person, a unit's name, the internal ``note`` or the
       result text.
    3. Left out, as bookkeeping inside the organisation that a citizen cannot act on: urges
       (督办 — the colour already says the case is late), returns between units (the next
       dispatch says where it went), extension requests and refusals, colour changes, notes.
    4. The words come from the action, the tier and the unit kind, not from ``public_note``,
       so cases recorded before the services wrote public notes read the same.
    """
    timeline: list[PublicEvent] = []
    for event in events:
        words = TIMELINE_WORDS.get(event.action)
        text = words(event, case) if callable(words) else words
        if text:
            timeline.append(PublicEvent(at=event.created_at, text=text))
    return timeline


@dataclass(frozen=True)
class PublicPhoto:
    pk: int
    kind: str
    kind_label: str
    web_url: str
    thumb_url: str


@dataclass(frozen=True)
class PublicCase:
    """Everything a public page may show about a case, and nothing else."""

    tracking_number: str
    tracking_display: str
    status: str
    status_words: str
    is_open: bool
    is_closed: bool
    colour: str
    colour_words: str
    category: str
    category_group: str
    category_code: str
    tier_words: str
    holder_words: str
    dispatched_by: str
    agency_words: str
    location: str
    reported_at: dt.datetime
    updated_at: dt.datetime
    # The 办结时限 (Open311's expected_datetime); the page itself shows the clock below.
    expected_at: dt.datetime | None
    step_deadline: dt.datetime | None
    closed_at: dt.datetime | None
    detail: str
    # The one clock every screen shows (apps.cases.selectors.case_clock): the current step's
    # deadline, its label, and the countdown that goes with ``colour``.
    clock_label: str = ""
    clock_deadline: dt.datetime | None = None
    clock_text: str = ""
    clock_overdue: bool = False
    timeline: list[PublicEvent] = field(default_factory=list)
    photos: list[PublicPhoto] = field(default_factory=list)

    @property
    def last_note(self) -> str:
        return self.timeline[-1].text if self.timeline else ""


def public_cases() -> QuerySet[Case]:
    """Cases with everything ``public_view`` reads, in a fixed number of queries."""
    return (
        Case.objects.select_related(
            "category__parent", "village", "grid", "lead_unit", "merged_into"
        )
        .defer("grid__boundary")
        .prefetch_related(
            Prefetch("events", queryset=public_events(), to_attr="public_events"),
            Prefetch(
                "photos",
                queryset=CasePhoto.objects.filter(is_public=True)
                .exclude(web="")
                .only("case_id", "kind", "web", "thumb", "created_at")
                .order_by("created_at", "id"),
                to_attr="public_photos",
            ),
        )
    )


def case_by_number(text: str) -> Case | None:
    """The case with this tracking number (typed in any tolerable way), or None."""
    number = tracking.normalize(text)
    if number is None:
        return None
    return public_cases().filter(tracking_number=number).first()


def case_for_second_factor(text: str) -> Case | None:
    """Just what the second-factor check needs, in one query whether or not the number exists
    (so a wrong phone and an unknown number take the same work)."""
    number = tracking.normalize(text) or ""
    return (
        Case.objects.filter(tracking_number=number)
        .only("pk", "public_token", "reporter_phone")
        .first()
    )


def case_by_token(token: str) -> Case | None:
    if not token or len(token) > 64:
        return None
    return public_cases().filter(public_token=token).first()


def holder_words(case: Case) -> str:
    """Which kind of unit holds the case — never a person."""
    if case.status in FINAL_STATUSES:
        return ""
    if case.status in (Status.DISPATCHED, Status.SIGNED, Status.HANDLED) and case.lead_unit:
        return UNIT_KIND_WORDS.get(case.lead_unit.kind, "处置单位")
    return DESK_WORDS.get(case.tier, "")


def dispatching_tier_words(case: Case) -> str:
    """The tier that sent the unit now holding the case ('' while a desk holds it itself:
    the desks' names already say their tier)."""
    if case.lead_unit_id and case.status in (Status.DISPATCHED, Status.SIGNED, Status.HANDLED):
        return TIER_WORDS.get(case.tier, "")
    return ""


def agency_words(case: Case) -> str:
    """The kind of unit responsible (now, or last, for a finished case)."""
    if case.status not in (Status.REJECTED, Status.MERGED) and case.lead_unit:
        return UNIT_KIND_WORDS.get(case.lead_unit.kind, "处置单位")
    return DESK_WORDS.get(case.tier, "")


def location_words(case: Case) -> str:
    road = coarse_road(case.address)
    village = case.village.name if case.village_id else ""
    return " · ".join(part for part in (village, road) if part)


def _detail(case: Case) -> str:
    if case.status == Status.REJECTED and case.reject_reason:
        return _("原因：%(r)s") % {"r": RejectReason(case.reject_reason).label}
    if case.status == Status.MERGED and case.merged_into:
        # The other case's number is another citizen's key; say how it goes, not which one.
        return _("合并办理的事件目前：%(s)s") % {"s": STATUS_WORDS.get(case.merged_into.status, "")}
    if case.status == Status.DEFERRED and case.deferred_review_on:
        return _("将于 %(d)s 复查") % {"d": case.deferred_review_on.isoformat()}
    return ""


def photo_url(case: Case, photo: CasePhoto, size: str) -> str:
    return reverse(
        "public:photo", kwargs={"number": case.tracking_number, "photo_id": photo.pk, "size": size}
    )


def public_view(case: Case) -> PublicCase:
    """The public face of a case (``case`` should come from ``public_cases()``)."""
    events = getattr(case, "public_events", None)
    if events is None:
        events = list(public_events().filter(case_id=case.pk))
    photos = getattr(case, "public_photos", None)
    if photos is None:
        photos = list(
            case.photos.filter(is_public=True).exclude(web="").order_by("created_at", "id")
        )
    category = case.category
    clock = case_clock(case)
    return PublicCase(
        tracking_number=case.tracking_number,
        tracking_display=tracking.display(case.tracking_number),
        status=case.status,
        status_words=STATUS_WORDS.get(case.status, ""),
        is_open=case.status not in FINAL_STATUSES,
        is_closed=case.status == Status.CLOSED,
        colour=clock.colour,
        colour_words=COLOUR_WORDS.get(clock.colour, ""),
        category=category.name,
        category_group=category.parent.name if category.parent else "",
        category_code=category.code,
        tier_words=TIER_WORDS.get(case.tier, ""),
        holder_words=holder_words(case),
        dispatched_by=dispatching_tier_words(case),
        agency_words=agency_words(case),
        location=location_words(case),
        reported_at=case.created_at,
        updated_at=case.updated_at,
        expected_at=None
        if case.status in FINAL_STATUSES
        else (case.overall_deadline or case.step_deadline),
        step_deadline=None if case.status in FINAL_STATUSES else case.step_deadline,
        closed_at=case.closed_at if case.status in FINAL_STATUSES else None,
        detail=_detail(case),
        clock_label=clock.deadline_label,
        clock_deadline=clock.deadline,
        clock_text=clock.text,
        clock_overdue=clock.overdue,
        timeline=public_timeline(case, events),
        photos=[
            PublicPhoto(
                pk=p.pk,
                kind=p.kind,
                kind_label=p.get_kind_display(),
                web_url=photo_url(case, p, "web"),
                thumb_url=photo_url(case, p, "thumb") if p.thumb else photo_url(case, p, "web"),
            )
            for p in photos
        ],
    )


def public_photo(number: str, photo_id: int) -> CasePhoto | None:
    """A public, processed photo of the case with this tracking number, or None."""
    canonical = tracking.normalize(number)
    if canonical is None:
        return None
    return (
        CasePhoto.objects.filter(pk=photo_id, case__tracking_number=canonical, is_public=True)
        .exclude(web="")
        .only("web", "thumb")
        .first()
    )


def rating_allowed(case: Case) -> bool:
    """Closed cases may be rated; so may a report merged into a case that has been closed."""
    if case.status == Status.CLOSED:
        return True
    return (
        case.status == Status.MERGED
        and case.merged_into is not None
        and case.merged_into.status == Status.CLOSED
    )


def existing_rating(case: Case) -> Rating | None:
    from apps.public.models import Rating

    return Rating.objects.filter(case_id=case.pk).first()


def masked_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return _("尾号 %(d)s") % {"d": digits[-4:]} if len(digits) >= 4 else ""
