"""Reads of the places register. ``places_visible_to`` is the one scoping rule for every reader
(API, desk, report form, imports' matching), built on ``apps.org.scope``."""

from __future__ import annotations

import math

from django.db.models import Q, QuerySet

from apps.org.geo import METRES_PER_DEGREE, haversine_m
from apps.org.models import Role, Tier, Unit, UnitKind
from apps.org.scope import AnyUser, scope_of
from apps.places.models import Place, PlaceStatus

NEAR_DEFAULT_M = 300.0
NEAR_MAX_M = 2000.0
NEAR_LIMIT = 30
# Places a report can be tied to: those on the register and those waiting for confirmation.
LIVE_STATUSES = [PlaceStatus.ACTIVE, PlaceStatus.PENDING]


def _department_q(unit: Unit) -> Q:
    """A department handler's places: those their unit supervises, and those of the kinds their
    department supervises within the region the unit covers (a county department: the county;
    a unit stationed at a town: that town)."""
    condition = Q(supervising_unit_id=unit.pk)
    department_id = unit.pk if unit.kind == UnitKind.DEPARTMENT else unit.department_id
    if department_id is not None:
        region = unit.region
        field = "county_id" if region.tier == Tier.COUNTY else "town_id"
        condition |= Q(kind__supervising_department_id=department_id, **{field: region.pk})
    return condition


def place_visibility_q(user: AnyUser) -> Q | None:
    """The filter that limits places to what ``user`` may see; None means nothing at all.

    - grid workers and grid leaders: places in their grids;
    - village handlers: their village; town dispatchers: their town;
    - county dispatchers and leaders: their region (a county or a town);
    - department handlers: what their unit or their department supervises in its region.
    """
    scope = scope_of(user)
    if scope.everything:
        return Q()
    if scope.is_empty:
        return None
    if scope.role in (Role.GRID_WORKER, Role.GRID_LEADER):
        return Q(grid_id__in=scope.grid_ids) if scope.grid_ids else None
    if scope.role == Role.DEPARTMENT_HANDLER:
        unit = (
            Unit.objects.select_related("region").filter(pk=scope.unit_id).first()
            if scope.unit_id
            else None
        )
        return _department_q(unit) if unit is not None else None
    fields: dict[str, str] = {
        Tier.VILLAGE: "village_id",
        Tier.TOWN: "town_id",
        Tier.COUNTY: "county_id",
    }
    field = fields.get(scope.region_tier or "")
    if scope.region_id and field:
        return Q(**{field: scope.region_id})
    return None


def places_visible_to(user: AnyUser, queryset: QuerySet[Place] | None = None) -> QuerySet[Place]:
    qs = Place.objects.all() if queryset is None else queryset
    condition = place_visibility_q(user)
    if condition is None:
        return qs.none()
    return qs.filter(condition) if condition else qs


def places_near(
    *,
    lat: float,
    lng: float,
    user: AnyUser,
    radius_m: float = NEAR_DEFAULT_M,
    limit: int = NEAR_LIMIT,
) -> list[tuple[Place, float]]:
    """附近场所: the live places ``user`` may see within ``radius_m`` of a point, nearest first,
    with their distance in metres. A box on the indexed position, then the true distance."""
    radius_m = max(1.0, min(float(radius_m), NEAR_MAX_M))
    dlat = radius_m / METRES_PER_DEGREE
    dlng = radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    candidates = places_visible_to(
        user,
        Place.objects.select_related("kind").filter(
            status__in=LIVE_STATUSES,
            lat__gte=lat - dlat,
            lat__lte=lat + dlat,
            lng__gte=lng - dlng,
            lng__lte=lng + dlng,
        ),
    )[:2000]
    found = [(place, haversine_m(lat, lng, place.lat, place.lng)) for place in candidates]
    found = [(place, d) for place, d in found if d <= radius_m]
    found.sort(key=lambda item: (item[1], item[0].pk))
    return found[:limit]


def may_see_contact(user: AnyUser, place: Place) -> bool:
    """The full contact of a place (its number unmasked) is for the desk — village, town and
    county — and the place's supervisors; everyone else sees it masked."""
    scope = scope_of(user)
    if scope.everything:
        return True
    if scope.role in (Role.VILLAGE_HANDLER, Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER):
        return True
    if scope.role == Role.DEPARTMENT_HANDLER and scope.unit_id is not None:
        return place.supervising_unit_id == scope.unit_id or (
            place.kind.supervising_department_id is not None
            and Unit.objects.filter(pk=scope.unit_id)
            .filter(
                Q(pk=place.kind.supervising_department_id)
                | Q(department_id=place.kind.supervising_department_id)
            )
            .exists()
        )
    return False
