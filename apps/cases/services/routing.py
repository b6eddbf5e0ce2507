"""分流: the routing task's step — where a new case goes and whether it repeats another."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any, cast

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Expression, F, Field, Q, Value, When
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import reference
from apps.cases.models import (
    FINAL_STATUSES,
    Action,
    Case,
    CaseEvent,
    Status,
)
from apps.cases.services.base import (
    MAJOR_SEVERITIES,
    PENDING_WORK_TASKS,
    ConcurrentChange,
    _actor_label,
    _change,
    routing_target,
)
from apps.cases.services.desk import case_joint_response
from apps.core import follow_up
from apps.org import geo
from apps.org.models import Tier

log = logging.getLogger(__name__)


def probable_duplicate(case: Case) -> Case | None:
    """An open case of the same category within R metres and T hours, if any (its id, point
    and tracking number only)."""
    radius = settings.DUPLICATE_RADIUS_M
    dlat = radius / 111_320.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(case.lat)), 0.01))
    since = case.created_at - dt.timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _duplicate_probe_sql(),
            [
                case.category_id,
                case.lat - dlat,
                case.lat + dlat,
                case.lng - dlng,
                case.lng + dlng,
                adapt(since),
                adapt(case.created_at),
                case.pk,
                *sorted(FINAL_STATUSES),
            ],
        )
        candidates = cursor.fetchall()
    # Tuples, not instances: in a busy spot every report has dozens of neighbours to look at.
    for pk, lat, lng, tracking_number in candidates:
        if geo.haversine_m(case.lat, case.lng, lat, lng) <= radius:
            return Case(pk=pk, lat=lat, lng=lng, tracking_number=tracking_number)
    return None


def _own_field(name: str) -> Field[Any, Any]:
    # Only Case's own columns are asked for, never a reverse relation (the stubs' ForeignObjectRel).
    return cast("Field[Any, Any]", Case._meta.get_field(name))


def _quoted_column(field: Field[Any, Any]) -> str:
    # A concrete field always has its column; the stubs allow None for the non-concrete ones.
    return connection.ops.quote_name(cast(str, field.column))


def _duplicate_probe_sql() -> str:
    """The duplicate probe: the first 50 open cases of the category in the box around the point
    and the time window, oldest first (index ``case_dup_probe_idx``). Written out once, not
    built by the ORM per report: every routed case runs it, and building the statement cost
    several times what PostgreSQL spends on it (issue #15, the backlog drain)."""
    case_table = connection.ops.quote_name(Case._meta.db_table)
    column = {
        name: _quoted_column(_own_field(name))
        for name in ("id", "category", "lat", "lng", "created_at", "status", "tracking_number")
    }
    statuses = ", ".join(["%s"] * len(FINAL_STATUSES))
    return (
        f"SELECT {column['id']}, {column['lat']}, {column['lng']}, {column['tracking_number']} "
        f"FROM {case_table} WHERE {column['category']} = %s "
        f"AND {column['lat']} BETWEEN %s AND %s AND {column['lng']} BETWEEN %s AND %s "
        f"AND {column['created_at']} >= %s AND {column['created_at']} <= %s "
        f"AND {column['id']} <> %s AND {column['status']} NOT IN ({statuses}) "
        f"ORDER BY {column['created_at']} LIMIT 50"
    )


def case_route(*, case_id: int) -> Case | None:
    """分流: the routing task's step for a new report. Idempotent: does nothing once done.

    Flags a probable duplicate for the acceptor, suggests the unit from the routing table, and
    sends a major (Ⅰ/Ⅱ) case straight to the county centre as a joint response.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None or "route" not in case.pending_work:
            return case
        # The category with its parent, from memory (a join would lock the category row too).
        case.category = reference.category_by_id(case.category_id) or case.category
        # A fix on the spot asks the grid's other workers to verify it; its event came without
        # a message of its own (see case_report). A plain report's event tells nobody.
        if case.self_resolved:
            for event_id in CaseEvent.objects.filter(
                case_id=case_id, action=Action.SELF_RESOLVE, notified_at__isnull=True
            ).values_list("pk", flat=True):
                follow_up.send_on_commit(settings.CASE_EVENT_TASK, event_id)
        remaining = [w for w in case.pending_work if w != "route"]
        duplicate = probable_duplicate(case) if case.status == Status.REPORTED else None
        fields: dict[str, Any] = {
            "pending_work": remaining,
            "pending_since": case.pending_since if remaining else None,
            "probable_duplicate_of_id": duplicate.pk if duplicate else None,
        }
        if case.severity in MAJOR_SEVERITIES and case.status == Status.REPORTED:
            _change(
                case,
                actor=None,
                action=Action.ROUTE,
                fields=fields,
                note=_("重大/较大事件，直报区县指挥中心"),
            )
            case = case_joint_response(case=case, actor=None)
            _photos_along(case)
            return case
        village_unit = routing_target(case, Tier.VILLAGE)
        suggested = village_unit if case.tier == Tier.VILLAGE else routing_target(case, case.tier)
        fields["suggested_unit_id"] = getattr(suggested, "pk", None)
        _change(
            case,
            actor=None,
            action=Action.ROUTE,
            fields=fields,
            unit=village_unit,
            public_note=_("已分流至村/社区工作站"),
            data={"probable_duplicate_of": duplicate.tracking_number} if duplicate else {},
        )
        _photos_along(case)
        return case


def _photos_along(case: Case) -> None:
    """Photos that came with the report had no message of their own (see ``report_intake``):
    the routing task makes their copies too, after the notifications (registered last, so
    they run last in ``follow_up.run_here``). One message per report."""
    if "photos" in (case.pending_work or []):
        follow_up.send_on_commit(PENDING_WORK_TASKS["photos"], case.pk)


# --- a backlog: several waiting reports per routing task ------------------------------------
# After an outage or a busy morning thousands of route_case messages wait, and routing each
# alone costs a lock, an UPDATE, a history row and a fan-out of its own (issue #15: the drain
# must keep up with intake). So a routing task takes up to ROUTE_BATCH_SIZE waiting plain
# reports along, in one transaction, and fans their events out together; the messages of the
# cases it took then find nothing to do (their first read sees the routing done).

# monotonic time until which this process routes one case per task: a batch failed here, and
# the case that made it fail must not take a batch of others down with it on every message.
_batches_paused_until = 0.0
BATCH_PAUSE_S = 60.0


def case_route_waiting(*, case_id: int, limit: int | None = None) -> None:
    """分流 of ``case_id`` as the routing task does it: together with other waiting reports.

    1. Routed already (by another task's batch, or an earlier delivery of this message): stop,
       after one read without a lock — ``route`` never comes back into ``pending_work``.
    2. Route up to ``limit`` waiting plain reports (``_route_batch``), the oldest first, all or
       none: rows another transaction holds are skipped, never waited for.
    3. ``case_id`` itself, if the batch did not take it (a major or self-resolved report,
       a case another batch holds, a failed batch), alone as before: ``case_route`` waits for
       its lock and does nothing if the other batch routed it meanwhile.
    """
    global _batches_paused_until
    if case_routed_already(case_id):
        return
    limit = settings.ROUTE_BATCH_SIZE if limit is None else limit
    routed: set[int] = set()
    if limit > 1 and time.monotonic() >= _batches_paused_until:
        try:
            routed = _route_batch(case_id, limit)
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # noqa: BLE001 - rolled back whole; each case's own message routes it
            _batches_paused_until = time.monotonic() + BATCH_PAUSE_S
            log.warning(
                "routing a batch of waiting reports failed (rolled back); one case per task "
                "for %d s",
                BATCH_PAUSE_S,
                exc_info=True,
            )
    if case_id not in routed:
        case_route(case_id=case_id)


def case_routed_already(case_id: int) -> bool:
    """True once the case needs no routing (or does not exist): one read without a lock, which
    cannot mislead — ``route`` never comes back into ``pending_work`` once it is gone. Every
    routing message of a backlog asks this, so the statement is written out rather than built
    by the ORM each time (which cost seven times the read)."""
    field = Case._meta.get_field("pending_work")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_quoted_column(field)} FROM {quote(Case._meta.db_table)} "
            f"WHERE {_quoted_column(Case._meta.pk)} = %s",
            [case_id],
        )
        row = cursor.fetchone()
    if row is None:
        return True
    # JSONField.from_db_value never reads its expression argument; the stubs ask for one.
    pending = field.from_db_value(row[0], None, connection)  # type: ignore[arg-type]
    return "route" not in (pending or [])


def _batchable() -> Q:
    """What a batch takes: reports waiting for their routing that routing only annotates — not
    a major case (a joint response of its own), not a fix on the spot (status 已处置)."""
    return Q(pending_since__isnull=False, status=Status.REPORTED, self_resolved=False) & ~Q(
        severity__in=MAJOR_SEVERITIES
    )


def _claim(case_id: int, limit: int) -> list[Case]:
    """Lock ``case_id`` (first, if it is batchable) and the oldest other waiting reports, up to
    ``limit`` in all, skipping rows another transaction holds (PostgreSQL: no batch ever waits
    for a lock, so two tasks' batches cannot deadlock; SQLite locks the whole database)."""
    waiting = Case.objects.select_for_update(skip_locked=True, of=("self",)).filter(_batchable())
    if connection.features.supports_json_field_contains:
        waiting = waiting.filter(pending_work__contains=["route"])  # not photos-only rows
    first = models.Case(When(pk=case_id, then=Value(0)), default=Value(1))
    cases = list(waiting.order_by(first, "pending_since", "pk")[:limit])
    return [c for c in cases if "route" in c.pending_work]


def _route_batch(case_id: int, limit: int) -> set[int]:
    """Route the waiting reports ``_claim`` takes, in one transaction: the same fields and
    history row as ``case_route`` writes for each, in one UPDATE and one INSERT; their events
    go out together once committed (``settings.CASE_EVENTS_TASK``), then the photos that came
    with them (``_photos_along``). Returns the ids."""
    with transaction.atomic():
        cases = _claim(case_id, limit)
        if not cases:
            return set()
        workstations = reference.workstations({c.village_id for c in cases})
        now = timezone.now()
        values: dict[str, dict[int, Any]] = {
            "pending_work": {},
            "pending_since": {},
            "probable_duplicate_of_id": {},
            "suggested_unit_id": {},
        }
        events = []
        for case in cases:
            case.category = reference.category_by_id(case.category_id) or case.category
            remaining = [w for w in case.pending_work if w != "route"]
            duplicate = probable_duplicate(case)
            village_unit = workstations[case.village_id]
            suggested = (
                village_unit if case.tier == Tier.VILLAGE else routing_target(case, case.tier)
            )
            changed = {
                "pending_work": remaining,
                "pending_since": case.pending_since if remaining else None,
                "probable_duplicate_of_id": duplicate.pk if duplicate else None,
                "suggested_unit_id": getattr(suggested, "pk", None),
            }
            for key, value in changed.items():
                values[key][case.pk] = value
                setattr(case, key, value)
            case.updated_at = now
            events.append(
                CaseEvent(
                    case=case,
                    action=Action.ROUTE,
                    actor=None,
                    actor_label=_actor_label(None),
                    from_status=case.status,
                    to_status=case.status,
                    from_tier=case.tier,
                    to_tier=case.tier,
                    unit=village_unit,
                    public_note=_("已分流至村/社区工作站"),
                    data={"probable_duplicate_of": duplicate.tracking_number} if duplicate else {},
                )
            )
        _update_each(cases, values, now)
        events = CaseEvent.objects.bulk_create(events)
        if any(e.pk is None for e in events):  # a database that returns no ids from an INSERT
            by_case = {c.pk: c for c in cases}
            events = list(
                CaseEvent.objects.filter(case_id__in=by_case, action=Action.ROUTE).order_by("id")
            )
            for event in events:
                event.case = by_case[event.case_id]
        follow_up.send_on_commit(
            settings.CASE_EVENTS_TASK, [e.pk for e in events], in_memory={"events": events}
        )
        for case in cases:  # after the notifications, as for a case routed alone
            _photos_along(case)
        return {c.pk for c in cases}


def _update_each(cases: list[Case], values: dict[str, dict[int, Any]], now: dt.datetime) -> None:
    """One UPDATE giving each case its own values: a CASE per column that differs, one branch
    per distinct value (the village's workstation, the spot's first report). No version check
    per row as ``_change`` makes: the batch holds the rows since it read them (PostgreSQL's row
    locks; SQLite's transactions take the write lock when they begin), so nobody changed them."""
    fields: dict[str, Any] = {"version": F("version") + 1, "updated_at": now}
    for name, by_case in values.items():
        field = _own_field(name)
        by_value: dict[str, tuple[Any, list[int]]] = {}
        for pk, value in by_case.items():
            by_value.setdefault(repr(value), (value, []))[1].append(pk)
        if len(by_value) == 1:
            fields[name] = Value(next(iter(by_value.values()))[0], output_field=field)
            continue
        expression: Expression = models.Case(
            *[
                When(pk__in=pks, then=Value(value, output_field=field))
                for value, pks in by_value.values()
            ],
            output_field=field,
        )
        if connection.features.requires_casted_case_in_updates:
            expression = Cast(expression, output_field=field)
        fields[name] = expression
    if Case.objects.filter(pk__in=[c.pk for c in cases]).update(**fields) != len(cases):
        raise ConcurrentChange(_("这个事件刚刚被别人处理过，请刷新后再试。"))
    for case in cases:
        case.version += 1
