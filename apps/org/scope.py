"""Who covers what: the one place that turns a user into the part of the organisation they see.

Every read path (API, admin, exports, WebSocket groups, photo URLs, dashboards) goes through
``scope_of`` and the selectors built on it, so a scoping rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model, Q, QuerySet

from apps.org.models import Grid, Platform, Profile, Region, Role, Tier, Unit


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

# Whoever is asking: ``request.user`` is one of these (also a WebSocket's or a task's user).
AnyUser: TypeAlias = User | AnonymousUser


def profile_of(user: AnyUser) -> Profile | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        # The reverse one-to-one is on User only; an authenticated user is a User.
        return user.profile  # type: ignore[union-attr]
    except Profile.DoesNotExist:
        return None


def scope_of(user: AnyUser) -> Scope:
    if not getattr(user, "is_authenticated", False):
        return EMPTY
    cached: Scope | None = getattr(user, "_liandong_scope", None)
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
    # Cached on the user object for the rest of the request (it is read many times per page).
    user._liandong_scope = scope  # type: ignore[union-attr]
    return scope


def regions_in_scope(user: AnyUser) -> QuerySet[Region]:
    """Regions (county/town/village) a desk or leader covers: their region and everything below."""
    scope = scope_of(user)
    if scope.everything:
        return Region.objects.all()
    if not scope.region_id:
        return Region.objects.none()
    if scope.region_tier == Tier.COUNTY:
        return (
            Region.objects.filter(pk=scope.region_id)
            | Region.objects.filter(parent_id=scope.region_id)
            | Region.objects.filter(parent__parent_id=scope.region_id)
        )
    if scope.region_tier == Tier.TOWN:
        return Region.objects.filter(pk=scope.region_id) | Region.objects.filter(
            parent_id=scope.region_id
        )
    return Region.objects.filter(pk=scope.region_id)


def units_in_scope(user: AnyUser) -> QuerySet[Unit]:
    """Units a user may see in pickers and filters: those sitting in their regions, plus the
    county departments above a town (a town's cases may be led by them after escalation)."""
    scope = scope_of(user)
    qs = Unit.objects.all()
    if scope.everything:
        return qs
    regions = regions_in_scope(user)
    if not scope.region_id:
        return qs.filter(pk=scope.unit_id) if scope.unit_id else qs.none()
    county_ids = Region.objects.filter(pk=scope.region_id).values_list(
        "parent__parent_id", "parent_id"
    )
    above = {pk for row in county_ids for pk in row if pk}
    return qs.filter(Q(region__in=regions) | Q(region_id__in=above, kind="department")).distinct()


def scoped_choices(user: AnyUser, model: type[Model]) -> QuerySet[Any] | None:
    """The rows of ``model`` a desk user may pick in a form (None: the model is not scoped by
    region — county-wide reference data such as categories). Forms built on these refuse a
    forged id outside them as an invalid choice."""
    from django.contrib.auth import get_user_model

    if scope_of(user).everything:
        return None
    regions = regions_in_scope(user)
    if model is Region:
        return regions
    if model is Unit:
        return units_in_scope(user)
    if model is Grid:
        return Grid.objects.filter(village__in=regions)
    if model is Platform:
        return Platform.objects.filter(town__in=regions)
    if model is get_user_model():
        return model.objects.filter(is_superuser=False).filter(
            Q(profile__region__in=regions) | Q(profile__unit__region__in=regions)
        )
    if model is Profile:
        return Profile.objects.filter(Q(region__in=regions) | Q(unit__region__in=regions))
    return None
