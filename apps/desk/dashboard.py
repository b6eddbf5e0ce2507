"""Read side of the command desk: the dashboard numbers and the units a desk may dispatch to.

What "waits for the desk" and "overdue" mean is defined once, in ``apps.cases`` (models:
``DESK_WAITING_STATUSES``; selectors: ``overdue_q``, ``desk_counts``), which the live desk
counters of ``apps.notify`` read too.

Everything here starts from ``cases_visible_to(user)`` / ``scope_of(user)``, so the dashboard,
its JSON endpoint and the admin pickers show only what the user's desk covers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language

from apps.cases.models import (
    DESK_WAITING_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    Case,
    Colour,
    ExtensionRequest,
    ExtensionStatus,
    Status,
)
from apps.cases.selectors import case_clock, cases_visible_to, live_colour, overdue_q
from apps.org import geo
from apps.org.models import Tier, Unit
from apps.org.scope import regions_in_scope, scope_of

COLOUR_ORDER = [Colour.RED, Colour.YELLOW, Colour.BLUE, Colour.GREY]
# The workflow service sets the colour with every status change: green exactly when a case is
# finished (closed, rejected, merged). Open cases are found by status, on the (county|town|
# village, status) indexes; the colour itself is not indexed, so that the clock sweep's colour
# changes are HOT updates (see Case.Meta).
OPEN_COLOURS = COLOUR_ORDER


def local_midnight(now: dt.datetime | None = None) -> dt.datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def waiting_for_desk(user) -> QuerySet:
    """Cases held by the user's own desk that wait for the desk's next step."""
    scope = scope_of(user)
    qs = cases_visible_to(user).filter(status__in=DESK_WAITING_STATUSES)
    if scope.everything:
        return qs
    if not scope.region_id:
        return qs.none()
    return qs.filter(holder_id=scope.region_id, tier=scope.region_tier)


def pending_extensions(user) -> QuerySet:
    """Extension requests waiting for the user's desk. A case held by the user's own region is
    always inside their scope, so this starts from the (few) pending requests."""
    scope = scope_of(user)
    qs = ExtensionRequest.objects.filter(status=ExtensionStatus.PENDING)
    if scope.everything:
        return qs
    if not scope.region_id:
        return qs.none()
    # Pending requests are few: name their cases, then keep those the desk holds.
    held = Case.objects.filter(
        pk__in=list(qs.values_list("case_id", flat=True)),
        holder_id=scope.region_id,
        tier=scope.region_tier,
    )
    return qs.filter(case_id__in=list(held.values_list("pk", flat=True)))


def desk_stats(user, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The dashboard numbers for ``user`` (JSON-ready)."""
    now = now or timezone.now()
    visible = cases_visible_to(user).order_by()
    # Counted by the colour each case shows now (``live_colour``, the case page's and the list's
    # rule), not the sweep's stored column: between two sweeps the stored one lags by a minute,
    # and the tiles would then disagree with the overdue count beside them.
    by_colour = (
        visible.filter(status__in=OPEN_STATUSES)
        .annotate(shown_colour=live_colour(now))
        .aggregate(**{c.value: Count("pk", filter=Q(shown_colour=c.value)) for c in COLOUR_ORDER})
    )
    overdue = visible.filter(overdue_q(now))
    # Grouped here rather than in SQL: a GROUP BY lead unit tempts the planner onto the unit
    # index (every case of the county); this reads only the overdue rows, on the deadline index.
    per_unit = Counter(overdue.values_list("lead_unit_id", flat=True))
    overdue_rows = sorted(per_unit.items(), key=lambda item: (-item[1], item[0] or 0))[:12]
    unit_names = dict(
        Unit.objects.filter(pk__in=[uid for uid, _ in overdue_rows if uid]).values_list(
            "pk", "name"
        )
    )
    waiting = dict(
        waiting_for_desk(user)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    status_labels = dict(Status.choices)
    return {
        "generated_at": timezone.localtime(now).isoformat(timespec="seconds"),
        "intake_today": visible.filter(created_at__gte=local_midnight(now)).count(),
        "open_total": sum(by_colour.values()),
        "open_by_colour": [
            {"colour": c.value, "label": str(c.label), "count": by_colour[c.value]}
            for c in COLOUR_ORDER
        ],
        "overdue_total": sum(per_unit.values()),
        "overdue_by_unit": [
            {"unit_id": uid, "unit": unit_names.get(uid, "未派遣"), "count": n}
            for uid, n in overdue_rows
        ],
        "waiting": [
            {"status": s, "label": str(status_labels[s]), "count": waiting.get(s, 0)}
            for s in DESK_WAITING_STATUSES
        ],
        "waiting_total": sum(waiting.values()),
        "extensions_pending": pending_extensions(user).count(),
    }


# --- units a desk may dispatch to ----------------------------------------------------------


def dispatchable_units(case: Case) -> QuerySet:
    """Units the desk holding ``case`` may dispatch it to — the same rule the workflow service
    enforces (``_check_unit_for_tier``): a village only to its workstation, a town to its own
    units, the county to county departments and the units of the case's town."""
    qs = Unit.objects.filter(is_active=True).select_related("region", "platform")
    if case.tier == Tier.VILLAGE:
        return qs.filter(region_id=case.village_id, kind="workstation")
    if case.tier == Tier.TOWN:
        return qs.filter(region_id=case.town_id)
    return qs.filter(region_id__in=[case.county_id, case.town_id])


def desk_units(user) -> QuerySet:
    """Units the user's desk may dispatch to at all (for bulk dispatch of several cases)."""
    scope = scope_of(user)
    qs = Unit.objects.filter(is_active=True).select_related("region")
    if scope.everything:
        return qs
    if scope.region_id is None:  # no region, so no tier either
        return qs.none()
    if scope.region_tier == Tier.VILLAGE:
        return qs.filter(region_id=scope.region_id, kind="workstation")
    if scope.region_tier == Tier.TOWN:
        return qs.filter(region_id=scope.region_id)
    if scope.region_tier == Tier.COUNTY:
        return qs.filter(region__in=regions_in_scope(user).exclude(tier=Tier.VILLAGE))
    return qs.none()


# --- neighbours ----------------------------------------------------------------------------


def nearby_open_cases(
    case: Case, user, *, radius_m: float | None = None, limit: int = 8
) -> list[tuple[Case, float]]:
    """Open cases of the same category near ``case`` that ``user`` may see, nearest first,
    with their distance in metres (candidates for a merge)."""
    radius = radius_m or max(settings.DUPLICATE_RADIUS_M * 4, 200.0)
    dlat = radius / 111_320.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(case.lat)), 0.01))
    candidates = (
        cases_visible_to(user)
        .filter(
            category_id=case.category_id,
            lat__range=(case.lat - dlat, case.lat + dlat),
            lng__range=(case.lng - dlng, case.lng + dlng),
        )
        .exclude(pk=case.pk)
        .exclude(status__in=FINAL_STATUSES)
        .select_related("category")
        .order_by("-created_at")[:50]
    )
    found = [
        (other, geo.haversine_m(case.lat, case.lng, other.lat, other.lng)) for other in candidates
    ]
    return sorted([pair for pair in found if pair[1] <= radius], key=lambda pair: pair[1])[:limit]


# --- time left ------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _label(choices: type, value: Any, language: str | None) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def label(choices: type, value: Any) -> str:
    """A choice's label as a plain string, translated once per language (list cells call this
    thousands of times; lazy translation proxies are slow at that rate)."""
    return _label(choices, value, get_language())


def time_left(case: Case, now: dt.datetime | None = None) -> dict[str, str]:
    """The case's clock for a person (``selectors.case_clock``, the one rule every screen
    shows): text, a CSS class, a tooltip naming the deadline, and the colour that goes with it.
    A list row asks twice (the colour badge and the 时限 column): counted once per row."""
    memo = getattr(case, "_desk_time_left", None)
    key = (case.version, case.status, case.step_deadline, case.yellow_at)
    if now is None and memo is not None and memo[0] == key:
        return memo[1]
    clock = case_clock(case, now)
    if case.status in FINAL_STATUSES:
        css = "ld-done"
    elif case.status == Status.DEFERRED:
        css = "ld-grey"
    elif clock.overdue:
        css = "ld-overdue"
    elif clock.colour == Colour.YELLOW:
        css = "ld-soon"
    else:
        css = "ld-ok" if clock.deadline else ""
    title = (
        f"{clock.deadline_label} {timezone.localtime(clock.deadline):%Y-%m-%d %H:%M}"
        if clock.deadline
        else ""
    )
    shown = {
        "text": clock.text,
        "css": css,
        "title": title,
        "colour": clock.colour,
        "colour_label": clock.colour_label,
        "label": clock.deadline_label,
        "deadline": timezone.localtime(clock.deadline).strftime("%Y-%m-%d %H:%M")
        if clock.deadline
        else "",
    }
    if now is None:
        case._desk_time_left = (key, shown)  # type: ignore[attr-defined]
    return shown
