"""Who covers what: the one place that turns a user into the part of the organisation they see.

Every read path (API, admin, exports, WebSocket groups, photo URLs, dashboards) goes through
``scope_of`` and the selectors built on it, so a scoping rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.org.models import Profile, Region, Role, Tier


@dataclass(frozen=True)
class Scope:
    """What one user covers. ``everything`` is for superusers only."""

    role: str | None = None
    region_id: int | None = None
    region_tier: str | None = None
    unit_id: int | None = None
    grid_ids: frozenset[int] = field(default_factory=frozenset)
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.region_id or self.unit_id or self.grid_ids)


EMPTY = Scope()


def profile_of(user) -> Profile | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def scope_of(user) -> Scope:
    if not getattr(user, "is_authenticated", False):
        return EMPTY
    cached = getattr(user, "_liandong_scope", None)
    if cached is not None:
        return cached
    profile = profile_of(user)
    if user.is_superuser and profile is None:
        scope = Scope(everything=True)
    elif profile is None:
        scope = EMPTY
    else:
        region = profile.region
        scope = Scope(
            role=profile.role,
            region_id=region.pk if region else None,
            region_tier=region.tier if region else None,
            unit_id=profile.unit_id,
            grid_ids=frozenset(profile.grids.values_list("pk", flat=True))
            if profile.role in (Role.GRID_WORKER, Role.GRID_LEADER)
            else frozenset(),
        )
    user._liandong_scope = scope
    return scope


def regions_in_scope(user):
    """Regions (county/town/village) a desk or leader covers: their region and everything below."""
    scope = scope_of(user)
    if scope.everything:
        return Region.objects.all()
    if not scope.region_id:
        return Region.objects.none()
    if scope.region_tier == Tier.COUNTY:
        return Region.objects.filter(pk=scope.region_id) | Region.objects.filter(parent_id=scope.region_id) | Region.objects.filter(parent__parent_id=scope.region_id)
    if scope.region_tier == Tier.TOWN:
        return Region.objects.filter(pk=scope.region_id) | Region.objects.filter(parent_id=scope.region_id)
    return Region.objects.filter(pk=scope.region_id)
