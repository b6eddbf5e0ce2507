"""Who manages whose account (账号分级管理).

The rule, in one place:

- A **superuser** manages every account and is the only one who sets the superuser and staff
  flags, raw permissions and groups. Superuser accounts are seen by superusers only.
- A **county dispatcher** (区县指挥中心) is the county's account administrator: every account of
  the county, any role.
- A **town dispatcher** (乡镇指挥室) is the town's account administrator: accounts whose region or
  unit lies in the town (its villages, grids, stationed units, town offices, workstations), with
  roles at or below the town tier — never a county dispatcher, a county leader or a handler of a
  county department.
- Nobody else manages accounts (village handlers, leaders, grid workers, department handlers).

Within their scope an administrator creates and deactivates accounts, resets passwords and sets
role, region/unit and grids; every choice list offers only what lies in scope, so a forged POST
naming an outside id is refused by the form. Staff flag and groups follow the role
(``apps.accounts.services.account_role_sync``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from apps.org.models import Grid, Profile, Region, Role, Tier, Unit
from apps.org.scope import AnyUser, profile_of, regions_in_scope

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

TIER_RANK: dict[str, int] = {Tier.VILLAGE: 1, Tier.TOWN: 2, Tier.COUNTY: 3}
ACCOUNT_MANAGER_ROLES = {Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER}
SUPERUSER_RANK = 99


def manager_rank(user: AnyUser) -> int | None:
    """How high an account administrator reaches (tier rank), or None if ``user`` manages no
    accounts."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return SUPERUSER_RANK
    profile = profile_of(user)
    if profile is None or profile.role not in ACCOUNT_MANAGER_ROLES or profile.region is None:
        return None
    return TIER_RANK[profile.region.tier]


def is_account_manager(user: AnyUser) -> bool:
    return manager_rank(user) is not None


def role_rank(role: str, *, region: Region | None, unit: Unit | None) -> int:
    """The tier rank of an account with this role, region and unit (the highest tier it acts at)."""
    if role == Role.DEPARTMENT_HANDLER and unit is not None:
        return TIER_RANK[unit.region.tier]
    if role == Role.LEADER and region is not None:
        return TIER_RANK[region.tier]
    ranks: dict[str, int] = {
        Role.GRID_WORKER: 1,
        Role.GRID_LEADER: 1,
        Role.VILLAGE_HANDLER: 1,
        Role.TOWN_DISPATCHER: 2,
        Role.COUNTY_DISPATCHER: 3,
        Role.DEPARTMENT_HANDLER: 3,
        Role.LEADER: 3,
    }
    return ranks[role]


def assignable_roles(user: AnyUser) -> list[tuple[str, StrOrPromise]]:
    """The role choices an administrator may give: those that can sit at or below their tier."""
    rank = manager_rank(user)
    if rank is None:
        return []
    lowest: dict[str, int] = {Role.DEPARTMENT_HANDLER: 1, Role.LEADER: 1}
    return [
        (value, label)
        for value, label in Role.choices
        if lowest.get(value, role_rank(value, region=None, unit=None)) <= rank
    ]


def accounts_in_scope(user: AnyUser) -> QuerySet[User]:
    """The accounts ``user`` may see and manage."""
    User = get_user_model()
    rank = manager_rank(user)
    if rank is None:
        return User.objects.none()
    if rank == SUPERUSER_RANK:
        return User.objects.all()
    regions = regions_in_scope(user)
    return User.objects.filter(is_superuser=False).filter(
        Q(profile__region__in=regions) | Q(profile__unit__region__in=regions)
    )


def profiles_in_scope(user: AnyUser) -> QuerySet[Profile]:
    return Profile.objects.filter(user__in=accounts_in_scope(user))


def regions_for_accounts(user: AnyUser) -> QuerySet[Region]:
    return regions_in_scope(user) if is_account_manager(user) else Region.objects.none()


def units_for_accounts(user: AnyUser) -> QuerySet[Unit]:
    """Units an administrator may put people in: those sitting in their regions (a town does not
    staff the county's departments)."""
    if not is_account_manager(user):
        return Unit.objects.none()
    return Unit.objects.filter(region__in=regions_in_scope(user))


def grids_for_accounts(user: AnyUser) -> QuerySet[Grid]:
    if not is_account_manager(user):
        return Grid.objects.none()
    return Grid.objects.filter(village__in=regions_in_scope(user))


def check_assignment(
    user: AnyUser, *, role: str, region: Region | None, unit: Unit | None, grids: Iterable[Grid]
) -> list[str]:
    """Why ``user`` may not give an account this role and place (empty: they may). The choice
    lists are scoped already; this is the last word for anything that reaches a service."""
    problems: list[str] = []
    rank = manager_rank(user)
    if rank is None:
        return ["您没有管理账号的权限，请联系本级指挥中心的账号管理员。"]
    if rank == SUPERUSER_RANK:
        return problems
    if role_rank(role, region=region, unit=unit) > rank:
        problems.append("不能设置高于本级的角色：请联系上级指挥中心办理。")
    regions = regions_in_scope(user)
    if region is not None and not regions.filter(pk=region.pk).exists():
        problems.append(f"所属区划“{region.name}”不在您的管辖范围内。")
    if unit is not None and not regions.filter(pk=unit.region_id).exists():
        problems.append(f"所属单位“{unit.name}”不在您的管辖范围内。")
    outside = [g for g in grids if not regions.filter(pk=g.village_id).exists()]
    if outside:
        problems.append("负责网格不在您的管辖范围内：" + "、".join(g.name for g in outside))
    return problems
