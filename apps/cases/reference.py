"""The category tree, the time-limit table and each village's workstation, held in memory per
process.

Every report reads the first two — its category when it is validated, then the limits its clock
is counted from — and its routing reads the third (where the case goes); all change a few times
a year, in the admin. Each process keeps one copy while the shared version in the cache stays
the same. Saving or deleting a Category, a TimeLimit or a Unit (admin, demo loader, any model
save; bulk writers call ``invalidate``) drops this process's copy at once and, once the change
is committed, bumps the shared version, so other processes reload within
``REFERENCE_RECHECK_S`` seconds (``apps.core.versions``, as for the map index).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.cases.models import Category, TimeLimit
from apps.core.versions import SharedVersion
from apps.org.models import Unit, UnitKind

VERSION_KEY = "cases:reference-version"


@dataclass(frozen=True)
class Reference:
    version: int
    categories: dict[int, Category]  # every category, each leaf with its parent attached
    limits: dict[tuple[int, int | None, str], float]  # (category, severity or None, step) → hours
    # village id → its active workstation (or None), filled as villages are asked for: a county
    # has thousands of villages and a worker routes reports from a few at a time.
    workstations: dict[int, Unit | None] = field(default_factory=dict)


VERSION = SharedVersion(VERSION_KEY, "REFERENCE_RECHECK_S")
_current: Reference | None = None
_lock = threading.Lock()


def _load(version: int) -> Reference:
    categories = {c.pk: c for c in Category.objects.all()}
    for category in categories.values():
        if category.parent_id in categories:
            category.parent = categories[
                category.parent_id
            ]  # no query when a case shows "大类/小类"
    limits = {
        (category_id, severity, step): hours
        for category_id, severity, step, hours in TimeLimit.objects.values_list(
            "category_id", "severity", "step", "hours"
        )
    }
    return Reference(version, categories, limits)


def get(*, recheck: bool = False) -> Reference:
    """This process's copy; ``recheck`` reads the shared version now instead of trusting a
    reading less than ``REFERENCE_RECHECK_S`` old (for a category the copy does not know)."""
    global _current
    version = VERSION.current(recheck=recheck)
    current = _current
    if current is not None and current.version == version:
        return current
    with _lock:
        if _current is None or _current.version != version:
            _current = _load(version)
        return _current


def category_by_id(pk: int) -> Category | None:
    """Any category by id. A category this copy does not know may have been added a moment ago
    in another process: the shared version is read again (one cache read, no reload unless it
    changed), so an unknown id never costs a reload of the tables."""
    found = get().categories.get(pk)
    if found is None:
        found = get(recheck=True).categories.get(pk)
    return found


def active_leaf(pk: int) -> Category | None:
    """The category a report may be filed under (an active 小类), or None. The instance is
    shared by every request of this process: read it, never change it."""
    found = category_by_id(pk)
    if found is None or found.parent_id is None or not found.is_active:
        return None
    return found


def time_limits(category_id: int) -> dict[tuple[int, int | None, str], float]:
    """The time-limit table, from a copy that knows ``category_id``."""
    reference = get()
    if category_id not in reference.categories:
        reference = get(recheck=True)
    return reference.limits


def workstations(village_ids: Iterable[int]) -> dict[int, Unit | None]:
    """Each village's active workstation (the unit a new case is routed to), or None: from this
    process's copy, the villages it has not seen yet in one query. The instances are shared:
    read them, never change them."""
    known = get().workstations
    missing = {pk for pk in village_ids if pk not in known}
    if missing:
        found: dict[int, Unit | None] = dict.fromkeys(missing)
        # The unit's own ordering, as ``.first()`` per village read it before this copy existed.
        for unit in Unit.objects.filter(
            region_id__in=missing, kind=UnitKind.WORKSTATION, is_active=True
        ).order_by("region__code", "name"):
            if found[unit.region_id] is None:
                found[unit.region_id] = unit
        known.update(found)
    return {pk: known[pk] for pk in village_ids}


def forget_local() -> None:
    """Drop this process's copy (the next read loads the tables again)."""
    global _current
    _current = None
    VERSION.forget()


def invalidate() -> None:
    """Call after changing categories or time limits without model saves (bulk_create, update)."""
    VERSION.changed(forget_local)


@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
@receiver(post_save, sender=TimeLimit)
@receiver(post_delete, sender=TimeLimit)
@receiver(post_save, sender=Unit)
@receiver(post_delete, sender=Unit)
def _reference_row_changed(sender, **kwargs) -> None:
    invalidate()
