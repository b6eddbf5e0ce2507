"""Read-side queries for cases. ``cases_visible_to`` is the one scoping rule for every reader."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.cases.models import DESK_REGION_FIELD, DESK_WAITING_STATUSES, RUNNING_STATUSES, Case
from apps.org.models import Region, Role, Tier
from apps.org.scope import scope_of


def case_visibility_q(user) -> Q | None:
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
    by_tier = {Tier.COUNTY: "county_id", Tier.TOWN: "town_id", Tier.VILLAGE: "village_id"}
    if scope.region_id and scope.region_tier in by_tier:
        return Q(**{by_tier[scope.region_tier]: scope.region_id})
    return None


def cases_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
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


def case_for(user, pk) -> Case | None:
    """One case by id if ``user`` may see it (None otherwise: callers answer 404, not 403)."""
    return cases_visible_to(user).filter(pk=pk).first()


def cases_waiting_for(user) -> QuerySet:
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
    """Open, running cases whose current step is past its deadline."""
    return Q(status__in=RUNNING_STATUSES, step_deadline__lt=now or timezone.now())


def desk_counts(region_id: int, tier: str | None = None) -> dict:
    """待本级处理 (``new``: held by this desk, waiting for its next step) and 已超时 (``overdue``:
    running cases of the region past their step deadline) — the command desk dashboard's own
    definitions (``DESK_WAITING_STATUSES``, ``overdue_q``), so the live badge and the dashboard
    agree. Aggregates only: whoever may follow a region's desk sees all of its cases anyway."""
    if tier is None:
        tier = Region.objects.filter(pk=region_id).values_list("tier", flat=True).first()
    if tier is None:
        return {"region": region_id, "new": 0, "overdue": 0}
    new = Case.objects.filter(holder_id=region_id, status__in=DESK_WAITING_STATUSES).count()
    overdue = Case.objects.filter(overdue_q(), **{DESK_REGION_FIELD[tier]: region_id}).count()
    return {"region": region_id, "new": new, "overdue": overdue}
