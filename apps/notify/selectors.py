"""Read side of notifications: a person's own notifications (still limited to cases they may see
today), unread counts, the groups a socket may join, and the desk counters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from apps.cases.selectors import cases_visible_to
from apps.cases.selectors import desk_counts as desk_counts  # the live badge's numbers
from apps.notify.models import Notification
from apps.org.models import DISPATCHER_ROLES, Role
from apps.org.scope import AnyUser, scope_of


def _mine(user: AnyUser) -> Q:
    """The user's notifications about cases they may still see (someone moved to another grid or
    unit no longer reads about the old one's cases)."""
    return Q(recipient_id=user.pk, case__in=cases_visible_to(user).values("pk"))


def notifications_for(user: AnyUser) -> QuerySet[Notification]:
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(_mine(user))


def notifications_since(user: AnyUser, since: int | None, *, limit: int) -> list[Notification]:
    """Oldest first, so a client can replay them in order and remember the last id."""
    qs = notifications_for(user).select_related("case")
    if since is not None:
        qs = qs.filter(id__gt=since)
    return list(qs.order_by("id")[:limit])


def notifications_replay(
    user: AnyUser, cursor: int, seen: set[int], *, limit: int
) -> tuple[list[Notification], bool, int]:
    """A catch-up by cursor (issue #15; the protocol in ``apps/notify/consumers.py``): the
    notifications after ``cursor`` not in ``seen``, oldest first, whether more follow, and the
    new cursor. The socket's replay and ``GET /api/notifications/?cursor=`` both use it.

    1. Read the next page after ``cursor``, oldest first, ``seen`` ids included: they count for
       the cursor, they are only not returned again.
    2. The new cursor is the highest id in the page older than ``NOTIFY_SETTLE_S``: every row up
       to it is settled (no transaction that could still commit a lower id runs that long) and
       in this page, in ``seen`` or at or below ``cursor``. Never lower than ``cursor``. A row
       committed after a higher one the client already has stays above the cursor until it
       has been returned: it is never skipped, as "everything after the highest id seen" skips
       it.
    """
    rows = notifications_since(user, cursor, limit=limit + 1)
    page = rows[:limit]
    settled_before = timezone.now() - dt.timedelta(seconds=settings.NOTIFY_SETTLE_S)
    new_cursor = max([cursor, *(n.pk for n in page if n.created_at < settled_before)])
    return [n for n in page if n.pk not in seen], len(rows) > limit, new_cursor


def unread_count(user: AnyUser) -> int:
    return notifications_for(user).filter(read_at__isnull=True).count()


def unread_counts(users: Sequence[User]) -> dict[int, int]:
    """``unread_count`` for several people in one query (the fan-out pushes each their badge)."""
    if not users:
        return {}
    counts = Notification.objects.filter(
        recipient_id__in=[u.pk for u in users], read_at__isnull=True
    ).aggregate(**{f"u{u.pk}": Count("id", filter=_mine(u)) for u in users})
    return {int(key[1:]): value for key, value in counts.items()}


def last_id(user: AnyUser) -> int:
    return Notification.objects.filter(recipient_id=user.pk).aggregate(m=Max("id"))["m"] or 0


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def unit_group(unit_id: int) -> str:
    return f"unit.{unit_id}"


def region_group(region_id: int) -> str:
    return f"region.{region_id}"


def desk_region_id(user: AnyUser) -> int | None:
    """The region whose desk counters ``user`` may follow: a desk's own region (dispatchers,
    village handlers) or a leader's; never a grid worker's village (they see only their grids)."""
    scope = scope_of(user)
    if scope.region_id and (scope.role in DISPATCHER_ROLES or scope.role == Role.LEADER):
        return scope.region_id
    return None


def groups_for(user: User) -> set[str]:
    """Channel-layer groups a socket of ``user`` may join: only their own."""
    scope = scope_of(user)
    groups = {user_group(user.pk)}
    if scope.unit_id:
        groups.add(unit_group(scope.unit_id))
    region_id = desk_region_id(user)
    if region_id:
        groups.add(region_group(region_id))
    return groups


def may_join(user: User, group: str) -> bool:
    if group in groups_for(user):
        return True
    # Superusers see every case, so every unit's and region's stream.
    kind, _, ident = group.partition(".")
    return bool(
        getattr(user, "is_superuser", False) and kind in ("unit", "region") and ident.isdigit()
    )
