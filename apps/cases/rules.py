"""Who may take which step on a case, right now.

``allowed_actions(case, user)`` is the single answer used by the workflow service (to refuse),
the admin (to offer buttons), the API and the field app (to show actions). It reads who takes
each step in which status from ``apps.cases.steps``. The rules follow DOMAIN.md §4: the desk of
the tier that holds the case triages, dispatches, decides and closes; the lead unit signs,
returns, asks for more time and reports back; a grid worker of the case's grid verifies on
site; leaders only read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from apps.cases.models import DESK_ROLE_FOR_TIER, Case, ExtensionStatus
from apps.cases.steps import STEPS, Only, Who
from apps.org.models import Role, Tier
from apps.org.scope import scope_of


def is_desk_of(case: Case, user) -> bool:
    """The user works at the desk (command centre / workstation) that holds the case."""
    if getattr(user, "is_superuser", False):
        return True
    scope = scope_of(user)
    desk_role = DESK_ROLE_FOR_TIER.get(case.tier)
    return scope.role == desk_role and scope.region_id == case.holder_id


def is_lead_unit_member(case: Case, user) -> bool:
    scope = scope_of(user)
    return (
        bool(case.lead_unit_id)
        and scope.unit_id == case.lead_unit_id
        and scope.role
        in (
            Role.DEPARTMENT_HANDLER,
            Role.VILLAGE_HANDLER,
        )
    )


def is_verifier_of(case: Case, user) -> bool:
    """A grid worker or grid leader of the case's grid; the village workstation may verify too.
    Whoever fixed a problem on the spot does not verify their own fix."""
    if case.self_resolved and case.reporter_id == getattr(user, "pk", None):
        return False
    scope = scope_of(user)
    if scope.role in (Role.GRID_WORKER, Role.GRID_LEADER) and case.grid_id in scope.grid_ids:
        return True
    return scope.role == Role.VILLAGE_HANDLER and scope.region_id == case.village_id


def allowed_actions(case: Case, user) -> set[str]:
    """The steps of ``apps.cases.steps`` the user may take on the case now: those the user's
    place allows in the case's status (``Step.by``), when the case meets the step's
    conditions (``Step.only_if``)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    # Each fact is found once, and only when a step asks for it.
    who = {
        Who.DESK: cache(lambda: is_desk_of(case, user)),
        Who.UNIT: cache(lambda: is_lead_unit_member(case, user)),
        Who.VERIFIER: cache(lambda: is_verifier_of(case, user)),
        Who.COUNTY_DESK: cache(lambda: is_county_desk_of(case, user)),
    }
    pending = cache(lambda: case.extension_requests.filter(status=ExtensionStatus.PENDING).exists())
    only: dict[Only, Callable[[], bool]] = {
        Only.BELOW_COUNTY: lambda: case.tier != Tier.COUNTY,  # nothing above the county
        Only.PENDING_EXTENSION: pending,
        Only.NO_PENDING_EXTENSION: lambda: not pending(),
        Only.NOT_JOINT_RESPONSE: lambda: not case.joint_response,
    }
    return {
        step.name
        for step in STEPS
        if any(case.status in statuses and who[w]() for w, statuses in step.by.items())
        and all(only[condition]() for condition in step.only_if)
    }


def is_county_desk_of(case: Case, user) -> bool:
    """A county dispatcher may pull any open, not yet handled case of the county up into a
    joint response (闪电集结) when it turns out to be major; the routing task does so for
    Ⅰ/Ⅱ reports."""
    if getattr(user, "is_superuser", False):
        return True
    scope = scope_of(user)
    return scope.role == Role.COUNTY_DISPATCHER and scope.region_id == case.county_id
