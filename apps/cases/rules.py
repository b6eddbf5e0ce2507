"""Who may take which step on a case, right now.

``allowed_actions(case, user)`` is the single answer used by the workflow service (to refuse),
the admin (to offer buttons), the API and the field app (to show actions). The rules follow
DOMAIN.md §4: the desk of the tier that holds the case triages, dispatches, decides and closes;
the lead unit signs, returns, asks for more time and reports back; a grid worker of the case's
grid verifies on site; leaders only read.
"""

from __future__ import annotations

from apps.cases.models import DESK_ROLE_FOR_TIER, Case, ExtensionStatus, Status
from apps.org.models import Role, Tier
from apps.org.scope import scope_of

# Actions each status allows, by who performs them.
DESK_ACTIONS = {
    Status.REPORTED: {"accept", "reject", "merge", "escalate"},
    Status.ACCEPTED: {"dispatch", "escalate", "defer", "merge", "reject"},
    Status.DISPATCHED: {"urge", "escalate", "redispatch"},
    Status.SIGNED: {"urge", "escalate", "defer"},
    Status.HANDLED: {"urge"},
    Status.VERIFIED: {"close"},
    Status.CLOSED: {"reopen"},
    Status.REJECTED: {"reopen"},
    Status.DEFERRED: {"resume"},
    Status.MERGED: set(),
}
UNIT_ACTIONS = {
    Status.DISPATCHED: {"sign", "return"},
    Status.SIGNED: {"handle", "return", "extension_request", "escalate"},
}
VERIFIER_ACTIONS = {Status.HANDLED: {"verify"}}

ALL_ACTIONS = sorted(
    {
        a
        for table in (DESK_ACTIONS, UNIT_ACTIONS, VERIFIER_ACTIONS)
        for acts in table.values()
        for a in acts
    }
    | {"extension_decide", "joint_response"}
)


def is_desk_of(case: Case, user) -> bool:
    """The user works at the desk (command centre / workstation) that holds the case."""
    if getattr(user, "is_superuser", False):
        return True
    scope = scope_of(user)
    return scope.role == DESK_ROLE_FOR_TIER.get(case.tier) and scope.region_id == case.holder_id


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
    if not getattr(user, "is_authenticated", False):
        return set()
    actions: set[str] = set()
    if is_desk_of(case, user):
        actions |= DESK_ACTIONS.get(case.status, set())
        if (
            case.status in (Status.DISPATCHED, Status.SIGNED)
            and case.extension_requests.filter(status=ExtensionStatus.PENDING).exists()
        ):
            actions.add("extension_decide")
        if case.tier == Tier.COUNTY:
            actions.discard("escalate")  # nothing above the county
    if is_lead_unit_member(case, user):
        actions |= UNIT_ACTIONS.get(case.status, set())
        if case.tier == Tier.COUNTY:
            actions.discard("escalate")
        if (
            "extension_request" in actions
            and case.extension_requests.filter(status=ExtensionStatus.PENDING).exists()
        ):
            actions.discard("extension_request")
    if is_verifier_of(case, user):
        actions |= VERIFIER_ACTIONS.get(case.status, set())
    if (
        case.status in JOINT_RESPONSE_STATUSES
        and not case.joint_response
        and is_county_desk_of(case, user)
    ):
        actions.add("joint_response")
    return actions


# A county dispatcher may pull any open, not yet handled case of the county up into a joint
# response (闪电集结) when it turns out to be major; the routing task does so for Ⅰ/Ⅱ reports.
JOINT_RESPONSE_STATUSES = {Status.REPORTED, Status.ACCEPTED, Status.DISPATCHED, Status.SIGNED}


def is_county_desk_of(case: Case, user) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    scope = scope_of(user)
    return scope.role == Role.COUNTY_DISPATCHER and scope.region_id == case.county_id
