"""Writes of the places register: add, update, confirm, reject, close, and the bulk import.

Each function checks who may act (``apps.org.scope``), validates everything before it writes,
writes in one transaction, and appends one ``PlaceEvent`` per place it changed; a refusal is a
``PlaceError`` whose ``message`` is meant for the person who tried (its ``status_code`` is what
the API answers). Changes of a place are ``UPDATE … WHERE id = ? AND version = ?``: the loser of
a race gets a 409, never a silent overwrite.

Place codes: the 15 digits of the grid the place lies in and a 5-digit sequence per grid, handed
out by ``allocate_codes`` with one ``UPDATE grid_sequence SET last = last + n`` in the writing
transaction. On PostgreSQL the UPDATE holds the sequence row's lock until the commit, so a
concurrent add in the same grid waits and then reads the incremented value (the same effect as
``select_for_update``, in one statement); on SQLite the transaction's write lock (IMMEDIATE
transactions, see settings) serialises the writers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import shape
from shapely.validation import explain_validity

from apps.core.errors import Refusal
from apps.org import geo
from apps.org.models import Grid, Region, Role, Tier, Unit
from apps.org.scope import AnyUser, Scope, profile_of, scope_of
from apps.places.attributes import clean_attributes, mask_phone
from apps.places.models import (
    GeometryType,
    GridSequence,
    Place,
    PlaceAction,
    PlaceEvent,
    PlaceKind,
    PlaceSource,
    PlaceStatus,
    RiskLevel,
)
from apps.places.selectors import places_visible_to

GeoJSON: TypeAlias = dict[str, Any]
PLACE_CODE = re.compile(r"^\d{20}$")
SEQUENCE_MAX = 99_999
MAX_LISTED_ERRORS = 100
FIELD_ROLES = {Role.GRID_WORKER, Role.GRID_LEADER}
DESK_ROLES = {Role.VILLAGE_HANDLER, Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER}
IMPORT_ROLES = {Role.TOWN_DISPATCHER, Role.COUNTY_DISPATCHER, Role.DEPARTMENT_HANDLER}
REGION_FIELD: dict[str, str] = {
    Tier.VILLAGE: "village_id",
    Tier.TOWN: "town_id",
    Tier.COUNTY: "county_id",
}
# What the history records of a place, in this order; the contact's phone is masked there.
TRACKED = (
    "kind_id",
    "name",
    "address",
    "lat",
    "lng",
    "polygon",
    "grid_id",
    "risk",
    "supervising_unit_id",
    "contact_name",
    "contact_phone",
    "external_ref",
    "attributes",
    "status",
)
EDITABLE = (
    "name",
    "address",
    "lat",
    "lng",
    "polygon",
    "risk",
    "supervising_unit",
    "contact_name",
    "contact_phone",
    "external_ref",
    "attributes",
)


# --- errors -----------------------------------------------------------------------------------


class PlaceError(Refusal):
    """A change that cannot be made; ``message`` is meant for the person who tried."""


class NotPermitted(PlaceError):
    status_code = 403


class NotFound(PlaceError):
    status_code = 404


class IllegalTransition(PlaceError):
    status_code = 409


class ConcurrentChange(PlaceError):
    status_code = 409


class DuplicateSubmission(PlaceError):
    status_code = 409


class PlaceImportError(PlaceError):
    """The file was refused, nothing written; ``errors`` lists the problems by row."""

    def __init__(self, errors: list[str], *, total: int | None = None):
        self.errors = errors
        self.total = len(errors) if total is None else total
        shown = "；".join(errors[:3]) + ("……" if len(errors) > 3 else "")
        super().__init__(_("导入未执行（%(n)d 处错误）：%(e)s") % {"n": self.total, "e": shown})


# --- shared pieces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    grid_id: int
    village_id: int
    town_id: int
    county_id: int


def locate(lat: float, lng: float) -> Located | None:
    """The grid, village, town and county of a point, from the map index (None: outside)."""
    match = geo.locate(lat, lng)
    if match is None:
        return None
    where = geo.place_of(match.grid_id)
    if where is not None and where.town_id is not None and where.county_id is not None:
        return Located(match.grid_id, match.village_id, where.town_id, where.county_id)
    village = Region.objects.select_related("parent").get(pk=match.village_id)
    town = village.parent
    if town is None or town.parent_id is None:
        return None
    return Located(match.grid_id, village.pk, town.pk, town.parent_id)


def _outside_message() -> str:
    return _(
        "该位置不在本辖区任何网格内（也不在附近 %(m)d 米内），请核对定位或移动地图上的点。"
    ) % {"m": int(settings.GRID_SNAP_DISTANCE_M)}


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def geometry_problem(
    kind: PlaceKind, lat: object, lng: object, polygon: object
) -> tuple[float, float, GeoJSON | None, str | None]:
    """The stored position of a place of ``kind``: (lat, lng, polygon, None), or a problem.
    A point kind needs lat/lng; a polygon kind a GeoJSON Polygon/MultiPolygon, whose centroid
    (or a point inside it) becomes the place's position."""
    if kind.geometry_type == GeometryType.POLYGON:
        if not isinstance(polygon, dict) or polygon.get("type") not in ("Polygon", "MultiPolygon"):
            return (
                0.0,
                0.0,
                None,
                _("%(kind)s须提供范围：GeoJSON Polygon 或 MultiPolygon。") % {"kind": kind.name},
            )
        try:
            geom = shape(polygon)
        except Exception:  # shapely raises several types for malformed rings
            return 0.0, 0.0, None, _("范围无法解析，请检查 GeoJSON 坐标。")
        if geom.is_empty:
            return 0.0, 0.0, None, _("范围为空或面积为零。")
        if not geom.is_valid:
            return (
                0.0,
                0.0,
                None,
                _("范围多边形无效（%(why)s），例如边界自相交。") % {"why": explain_validity(geom)},
            )
        if geom.area == 0:
            return 0.0, 0.0, None, _("范围为空或面积为零。")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            return 0.0, 0.0, None, _("范围坐标必须是 WGS84 经纬度。")
        centre = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
        return round(centre.y, 7), round(centre.x, 7), polygon, None
    if not (_finite(lat) and _finite(lng)):
        return 0.0, 0.0, None, _("请提供位置：纬度 lat 和经度 lng。")
    assert isinstance(lat, (int, float)) and isinstance(lng, (int, float))
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return 0.0, 0.0, None, _("纬度须在 -90～90，经度须在 -180～180 之间。")
    return float(lat), float(lng), None, None


def allocate_codes(grid_id: int, grid_code: str, count: int) -> list[str]:
    """``count`` new place codes in one grid, consecutive, inside the caller's transaction."""
    GridSequence.objects.bulk_create([GridSequence(grid_id=grid_id)], ignore_conflicts=True)
    GridSequence.objects.filter(grid_id=grid_id).update(last=F("last") + count)
    last = GridSequence.objects.filter(grid_id=grid_id).values_list("last", flat=True).get()
    if last > SEQUENCE_MAX:
        raise PlaceError(
            _("网格 %(grid)s 的场所编码已用完（最多 99999 个），请联系管理员。")
            % {"grid": grid_code}
        )
    return [f"{grid_code}{n:05d}" for n in range(last - count + 1, last + 1)]


def _actor_label(actor: AnyUser | None) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return _("系统")
    profile = profile_of(actor)
    if profile is None:
        return str(actor.get_username())
    where = (
        profile.unit.name
        if profile.unit is not None
        else (profile.region.name if profile.region is not None else "")
    )
    return f"{where} {profile.display_name}".strip()


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def snapshot(place: Place) -> dict[str, object]:
    """What the history records of a place (the contact's phone masked, never in clear)."""
    values: dict[str, object] = {name: _plain(getattr(place, name)) for name in TRACKED}
    values["contact_phone"] = mask_phone(place.contact_phone) if place.contact_phone else ""
    return values


def diff(before: Mapping[str, object], after: Mapping[str, object]) -> dict[str, list[object]]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def _record(
    place: Place,
    *,
    action: str,
    actor: AnyUser | None,
    changes: Mapping[str, object],
    note: str = "",
) -> PlaceEvent:
    return PlaceEvent.objects.create(
        place=place,
        action=action,
        actor=actor if isinstance(actor, User) else None,
        actor_label=_actor_label(actor),
        changes=dict(changes),
        note=note[:500],
    )


def _in_region(scope: Scope, located: Located) -> bool:
    """Whether a desk's region covers a located point."""
    if scope.everything:
        return True
    field_name = REGION_FIELD.get(scope.region_tier or "")
    if not field_name or not scope.region_id:
        return False
    return bool(getattr(located, field_name) == scope.region_id)


def may_edit(actor: AnyUser, place: Place) -> bool:
    scope = scope_of(actor)
    if scope.everything:
        return True
    if scope.role == Role.LEADER or scope.is_empty:
        return False
    return places_visible_to(actor).filter(pk=place.pk).exists()


def _validate_common(
    *, name: str, risk: str, contact_phone: str, address: str, contact_name: str
) -> None:
    if not name.strip():
        raise PlaceError(_("请填写场所名称。"), field="name")
    if len(name) > 100:
        raise PlaceError(_("场所名称不能超过 100 字。"), field="name")
    if len(address) > 200:
        raise PlaceError(_("地址不能超过 200 字。"), field="address")
    if risk not in RiskLevel.values:
        raise PlaceError(_("风险等级只能是 A、B 或 C。"), field="risk")
    if len(contact_name) > 40:
        raise PlaceError(_("联系人不能超过 40 字。"), field="contact_name")
    if contact_phone and not re.fullmatch(r"\+?[0-9][0-9\-]{4,19}", contact_phone):
        raise PlaceError(_("联系电话格式不对（5–20 位数字）。"), field="contact_phone")


# --- add, update, confirm, reject, close ------------------------------------------------------


def place_add(
    *,
    actor: AnyUser,
    kind: PlaceKind,
    name: str,
    lat: float | None = None,
    lng: float | None = None,
    polygon: GeoJSON | None = None,
    address: str = "",
    risk: str = RiskLevel.C,
    attributes: Mapping[str, object] | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    supervising_unit: Unit | None = None,
    external_ref: str = "",
    client_uuid: uuid.UUID | None = None,
    source: str = PlaceSource.FIELD,
) -> tuple[Place, bool]:
    """采集: a new place. Returns ``(place, created)``; the same ``client_uuid`` again returns
    the first place (``created`` False), with other content it is refused (409).

    A grid worker or grid leader adds places in their own grids: the place waits for the
    village workstation (待确认). A desk (village, town, county) adds places in its region, on
    the register at once. The point (or the polygon's centroid) is placed by the map."""
    scope = scope_of(actor)
    if client_uuid is not None:
        existing = Place.objects.filter(client_uuid=client_uuid).first()
        if existing is not None:
            return _replay(existing, actor, kind, name), False
    if not (scope.everything or scope.role in FIELD_ROLES | DESK_ROLES):
        raise NotPermitted(
            _("只有网格员、网格长和村/乡镇/区县指挥台可以采集场所；部门请使用批量导入。")
        )
    if not kind.is_active:
        raise PlaceError(_("这个场所类型已停用，请选择其他类型。"), field="kind")
    _validate_common(
        name=name,
        risk=risk,
        contact_phone=contact_phone,
        address=address,
        contact_name=contact_name,
    )
    plat, plng, poly, problem = geometry_problem(kind, lat, lng, polygon)
    if problem:
        raise PlaceError(problem, field="polygon" if kind.geometry_type == "polygon" else "lat")
    cleaned, problems = clean_attributes(kind.attribute_schema, attributes)
    if problems:
        raise PlaceError("；".join(problems) + "。", field="attributes")
    located = locate(plat, plng)
    if located is None:
        raise PlaceError(_outside_message(), field="lat")
    field_worker = scope.role in FIELD_ROLES and not scope.everything
    if field_worker and located.grid_id not in scope.grid_ids:
        raise NotPermitted(
            _(
                "该位置不在您负责的网格内，不能在这里采集场所。请核对定位，或请这个网格的网格员采集。"
            ),
            field="lat",
        )
    if not field_worker and not _in_region(scope, located):
        raise NotPermitted(_("该位置不在您的管辖范围内。"), field="lat")
    grid_code = Grid.objects.filter(pk=located.grid_id).values_list("code", flat=True).get()
    now = timezone.now()
    pending = field_worker
    place = Place(
        kind=kind,
        name=name.strip(),
        address=address.strip(),
        lat=plat,
        lng=plng,
        polygon=poly,
        grid_id=located.grid_id,
        village_id=located.village_id,
        town_id=located.town_id,
        county_id=located.county_id,
        risk=risk,
        supervising_unit=supervising_unit or kind.supervising_department,
        contact_name=contact_name.strip(),
        contact_phone=contact_phone.strip(),
        attributes=cleaned,
        status=PlaceStatus.PENDING if pending else PlaceStatus.ACTIVE,
        verified_by=None if pending or not isinstance(actor, User) else actor,
        verified_at=None if pending else now,
        source=source if source in PlaceSource.values else PlaceSource.FIELD,
        external_ref=external_ref.strip()[:60],
        client_uuid=client_uuid,
        created_by=actor if isinstance(actor, User) else None,
    )
    try:
        with transaction.atomic():
            place.code = allocate_codes(located.grid_id, grid_code, 1)[0]
            place.save()
            _record(place, action=PlaceAction.ADD, actor=actor, changes=diff({}, snapshot(place)))
    except IntegrityError:
        if client_uuid is not None:
            existing = Place.objects.filter(client_uuid=client_uuid).first()
            if existing is not None:
                return _replay(existing, actor, kind, name), False
        raise
    return place, True


def _replay(existing: Place, actor: AnyUser, kind: PlaceKind, name: str) -> Place:
    if (
        existing.kind_id != kind.pk
        or existing.name != name.strip()
        or (existing.created_by_id is not None and existing.created_by_id != actor.pk)
    ):
        raise DuplicateSubmission(_("这个采集编号已用于另一个内容不同的场所；请新建一条采集。"))
    return existing


def place_update(
    *, actor: AnyUser, place: Place, version: int, changes: Mapping[str, object]
) -> Place:
    """更新: change what a place says about itself (not its code, kind or status). ``version``
    is the version the editor saw: if the place changed since, 409. Moving a place re-places it
    on the map (grid, village, town); a grid worker may move it only within their grids.
    Returns the place as stored; nothing changes (and nothing is recorded) for no difference."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise PlaceError(
            _("不能修改这些字段：%(f)s。") % {"f": "、".join(sorted(unknown))},
            field=sorted(unknown)[0],
        )
    if not may_edit(actor, place):
        raise NotPermitted(_("您不能修改这个场所（不在您的网格或辖区内）。"))
    if place.status in (PlaceStatus.CLOSED, PlaceStatus.REJECTED):
        raise IllegalTransition(
            _("这个场所的状态是“%(status)s”，不能再修改。") % {"status": place.get_status_display()}
        )
    if place.version != version:
        raise ConcurrentChange(_("这个场所刚被别人修改过，请刷新后再改。"))
    kind = place.kind
    values: dict[str, Any] = {
        "name": place.name,
        "address": place.address,
        "risk": place.risk,
        "contact_name": place.contact_name,
        "contact_phone": place.contact_phone,
        "external_ref": place.external_ref,
    }
    for key in values:
        if key in changes:
            values[key] = str(changes[key] or "").strip()
    _validate_common(
        name=values["name"],
        risk=values["risk"],
        contact_phone=values["contact_phone"],
        address=values["address"],
        contact_name=values["contact_name"],
    )
    if "attributes" in changes:
        cleaned, problems = clean_attributes(
            kind.attribute_schema, changes["attributes"], partial=True
        )
        if problems:
            raise PlaceError("；".join(problems) + "。", field="attributes")
        merged = {**place.attributes, **cleaned}
        # A field sent blank clears it, unless the kind requires it.
        raw = changes["attributes"] if isinstance(changes["attributes"], dict) else {}
        for spec in kind.attribute_schema:
            sent = raw.get(spec["key"], raw.get(spec["label"], ...))
            if sent is not ... and (sent is None or str(sent).strip() == ""):
                if spec.get("required"):
                    raise PlaceError(
                        _("%(label)s为必填项。") % {"label": spec["label"]}, field="attributes"
                    )
                merged.pop(spec["key"], None)
        values["attributes"] = merged
    if "supervising_unit" in changes:
        unit = changes["supervising_unit"]
        if unit is not None and not isinstance(unit, Unit):
            raise PlaceError(_("监管单位无效。"), field="supervising_unit")
        values["supervising_unit_id"] = unit.pk if isinstance(unit, Unit) else None
    if {"lat", "lng", "polygon"} & set(changes):
        plat, plng, poly, problem = geometry_problem(
            kind,
            changes.get("lat", place.lat),
            changes.get("lng", place.lng),
            changes.get("polygon", place.polygon),
        )
        if problem:
            raise PlaceError(problem, field="polygon" if kind.geometry_type == "polygon" else "lat")
        located = locate(plat, plng)
        if located is None:
            raise PlaceError(_outside_message(), field="lat")
        scope = scope_of(actor)
        if scope.role in FIELD_ROLES and located.grid_id not in scope.grid_ids:
            raise NotPermitted(_("新位置不在您负责的网格内。"), field="lat")
        if scope.role in DESK_ROLES and not _in_region(scope, located):
            raise NotPermitted(_("新位置不在您的管辖范围内。"), field="lat")
        values.update(
            lat=plat,
            lng=plng,
            polygon=poly,
            grid_id=located.grid_id,
            village_id=located.village_id,
            town_id=located.town_id,
            county_id=located.county_id,
        )
    before = snapshot(place)
    for key, value in values.items():
        setattr(place, key, value)
    changed = diff(before, snapshot(place))
    if not changed:
        place.refresh_from_db()
        return place
    with transaction.atomic():
        updated = Place.objects.filter(pk=place.pk, version=version).update(
            **values, version=version + 1, updated_at=timezone.now()
        )
        if not updated:
            raise ConcurrentChange(_("这个场所刚被别人修改过，请刷新后再改。"))
        _record(place, action=PlaceAction.UPDATE, actor=actor, changes=changed)
    place.refresh_from_db()
    return place


def may_decide(actor: AnyUser, place: Place) -> bool:
    """确认/退回 a new place: the workstation of the place's village (or a superuser)."""
    scope = scope_of(actor)
    return scope.everything or (
        scope.role == Role.VILLAGE_HANDLER and scope.region_id == place.village_id
    )


def may_close(actor: AnyUser, place: Place) -> bool:
    scope = scope_of(actor)
    if scope.everything:
        return True
    if scope.role in DESK_ROLES and scope.region_tier:
        return bool(getattr(place, REGION_FIELD[scope.region_tier]) == scope.region_id)
    return scope.role == Role.DEPARTMENT_HANDLER and place.supervising_unit_id == scope.unit_id


def _transition(
    *,
    actor: AnyUser,
    place: Place,
    action: str,
    allowed_from: Iterable[str],
    to: str,
    note: str,
    extra: Mapping[str, object] | None = None,
) -> Place:
    allowed = set(allowed_from)
    if place.status not in allowed:
        raise IllegalTransition(
            _("这个场所的状态是“%(status)s”，不能%(action)s。")
            % {"status": place.get_status_display(), "action": PlaceAction(action).label}
        )
    values: dict[str, object] = {"status": to, **(extra or {})}
    with transaction.atomic():
        updated = Place.objects.filter(
            pk=place.pk, version=place.version, status=place.status
        ).update(**values, version=F("version") + 1, updated_at=timezone.now())
        if not updated:
            raise ConcurrentChange(_("这个场所刚被别人处理过，请刷新后再看。"))
        _record(
            place,
            action=action,
            actor=actor,
            changes={"status": [place.status, to]},
            note=note,
        )
    place.refresh_from_db()
    return place


def place_confirm(*, actor: AnyUser, place: Place, note: str = "") -> Place:
    """确认: the village workstation puts a place a grid worker found on the register."""
    if not may_decide(actor, place):
        raise NotPermitted(_("只有这个场所的村/社区工作站可以确认新采集的场所。"))
    return _transition(
        actor=actor,
        place=place,
        action=PlaceAction.CONFIRM,
        allowed_from=[PlaceStatus.PENDING],
        to=PlaceStatus.ACTIVE,
        note=note,
        extra={"verified_by": actor, "verified_at": timezone.now()},
    )


def place_reject(*, actor: AnyUser, place: Place, reason: str) -> Place:
    """退回: the village workstation refuses a new place (a duplicate, not a place at all)."""
    if not may_decide(actor, place):
        raise NotPermitted(_("只有这个场所的村/社区工作站可以退回新采集的场所。"))
    if not reason.strip():
        raise PlaceError(_("请填写退回理由。"), field="reason")
    return _transition(
        actor=actor,
        place=place,
        action=PlaceAction.REJECT,
        allowed_from=[PlaceStatus.PENDING],
        to=PlaceStatus.REJECTED,
        note=reason.strip(),
    )


def place_close(*, actor: AnyUser, place: Place, reason: str) -> Place:
    """注销: a place that is gone (shop closed, site finished). Its history and cases stay."""
    if not may_close(actor, place):
        raise NotPermitted(_("您不能注销这个场所（不在您的辖区内）。"))
    if not reason.strip():
        raise PlaceError(_("请填写注销原因。"), field="reason")
    return _transition(
        actor=actor,
        place=place,
        action=PlaceAction.CLOSE,
        allowed_from=[PlaceStatus.ACTIVE, PlaceStatus.PENDING],
        to=PlaceStatus.CLOSED,
        note=reason.strip(),
    )


# --- the bulk import ----------------------------------------------------------------------------

BATCH = 2000


def _insert(model: type[Place] | type[PlaceEvent], rows: list[dict[str, Any]]) -> None:
    """``INSERT`` many rows with one prepared statement per batch (``executemany``): the ORM's
    ``bulk_create`` compiles every value of every row through its field machinery, which was
    most of an import's time. Values are adapted by their field only where the database needs
    it (JSON, dates and times, UUIDs); every other column is passed as it is."""
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    adapt = {
        f.attname
        for f in fields
        if f.get_internal_type() in ("JSONField", "DateTimeField", "DateField", "UUIDField")
    }
    columns = ", ".join(connection.ops.quote_name(f.column or f.attname) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({marks})"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(
                sql,
                [
                    [
                        f.get_db_prep_save(row[f.attname], connection)
                        if f.attname in adapt
                        else row[f.attname]
                        for f in fields
                    ]
                    for row in rows[start : start + BATCH]
                ],
            )


def _allocate_many(
    counts: Mapping[int, int], given_max: Mapping[int, int], grid_codes: Mapping[int, str]
) -> dict[int, list[str]]:
    """New codes for many grids at once (an import), in a few statements whatever the number
    of grids: the grids' sequence rows are made if missing, locked (``select_for_update``:
    PostgreSQL holds them to the commit, SQLite's write lock is held already), moved past the
    codes the file brings and by the counts asked for, and written back in batches."""
    grid_ids = sorted(set(counts) | set(given_max))
    GridSequence.objects.bulk_create(
        [GridSequence(grid_id=g) for g in grid_ids], ignore_conflicts=True, batch_size=BATCH
    )
    rows: dict[int, GridSequence] = {}
    for start in range(0, len(grid_ids), 900):
        for row in GridSequence.objects.select_for_update().filter(
            grid_id__in=grid_ids[start : start + 900]
        ):
            rows[row.grid_id] = row
    codes: dict[int, list[str]] = {}
    for grid_id in grid_ids:
        row = rows[grid_id]
        first = max(row.last, given_max.get(grid_id, 0)) + 1
        row.last = first - 1 + counts.get(grid_id, 0)
        if row.last > SEQUENCE_MAX:
            raise PlaceError(
                _("网格 %(grid)s 的场所编码已用完（最多 99999 个），请联系管理员。")
                % {"grid": grid_codes[grid_id]}
            )
        codes[grid_id] = [f"{grid_codes[grid_id]}{n:05d}" for n in range(first, row.last + 1)]
    GridSequence.objects.bulk_update(list(rows.values()), ["last"], batch_size=500)
    return codes


def _ids_by_code(codes: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(codes), 900):
        found.update(
            Place.objects.filter(code__in=codes[start : start + 900]).values_list("code", "pk")
        )
    return found


def _snapshot_of_values(row: Mapping[str, Any]) -> dict[str, object]:
    """``snapshot`` of a place not yet loaded as a model: its column values by attname."""
    values: dict[str, object] = {name: _plain(row[name]) for name in TRACKED}
    values["contact_phone"] = mask_phone(row["contact_phone"]) if row["contact_phone"] else ""
    return values


# Column names (and their Chinese headers) that are not attributes.
COLUMNS: dict[str, str] = {
    "code": "code",
    "编码": "code",
    "场所编码": "code",
    "name": "name",
    "名称": "name",
    "address": "address",
    "地址": "address",
    "lat": "lat",
    "纬度": "lat",
    "lng": "lng",
    "经度": "lng",
    "geometry": "geometry",
    "范围": "geometry",
    "risk": "risk",
    "风险等级": "risk",
    "supervising_unit": "supervising_unit",
    "监管单位": "supervising_unit",
    "contact_name": "contact_name",
    "联系人": "contact_name",
    "contact_phone": "contact_phone",
    "联系电话": "contact_phone",
    "external_ref": "external_ref",
    "外部编号": "external_ref",
}


# Columns a file may leave out: a stored place then keeps its value (column → field).
OPTIONAL_COLUMNS: dict[str, str] = {
    "address": "address",
    "risk": "risk",
    "supervising_unit": "supervising_unit_id",
    "contact_name": "contact_name",
    "contact_phone": "contact_phone",
    "external_ref": "external_ref",
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"新增场所 {self.created} 个，更新 {self.updated} 个，无变化 {self.unchanged} 个。"


@dataclass
class _Row:
    label: str
    values: dict[str, Any]
    geometry: GeoJSON | None


def _rows_from_csv(text: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise PlaceImportError([_("CSV 文件没有表头。")])
    rows = []
    for number, raw in enumerate(reader, start=2):
        if None in raw:
            raise PlaceImportError([_("第 %(n)d 行：列数多于表头。") % {"n": number}])
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(values.values()):
            continue
        geometry = None
        text_geometry = values.pop("geometry", "") or values.pop("范围", "")
        if text_geometry:
            try:
                geometry = json.loads(text_geometry)
            except json.JSONDecodeError:
                geometry = {"type": "invalid"}
        rows.append(_Row(_("第 %(n)d 行") % {"n": number}, values, geometry))
    return rows


def _rows_from_geojson(text: str) -> list[_Row]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaceImportError(
            [_("文件不是合法的 JSON：第 %(l)d 行第 %(c)d 列。") % {"l": exc.lineno, "c": exc.colno}]
        ) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise PlaceImportError([_("GeoJSON 文件必须是 FeatureCollection。")])
    features = doc.get("features")
    if not isinstance(features, list):
        raise PlaceImportError([_("FeatureCollection 里没有要素列表 features。")])
    rows = []
    for number, feature in enumerate(features, start=1):
        label = _("第 %(n)d 个要素") % {"n": number}
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            rows.append(_Row(label, {"__broken__": True}, None))
            continue
        props = dict(feature["properties"])
        nested = props.pop("attributes", None)
        if isinstance(nested, dict):
            props.update(nested)
        geometry = feature.get("geometry")
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coords = geometry.get("coordinates")
            if isinstance(coords, list) and len(coords) >= 2:
                props.setdefault("lng", coords[0])
                props.setdefault("lat", coords[1])
            geometry = None
        rows.append(_Row(label, props, geometry if isinstance(geometry, dict) else None))
    return rows


def _number(value: object) -> float | None:
    if _finite(value):
        assert isinstance(value, (int, float))
        return float(value)
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _import_scope_q(actor: AnyUser) -> tuple[str, int] | None:
    """(field, region id) an importer's rows must lie in; None: anywhere (a superuser)."""
    scope = scope_of(actor)
    if scope.everything:
        return None
    if scope.role == Role.DEPARTMENT_HANDLER:
        unit = Unit.objects.select_related("region").get(pk=scope.unit_id or 0)
        return REGION_FIELD[unit.region.tier], unit.region_id
    assert scope.region_tier is not None and scope.region_id is not None
    return REGION_FIELD[scope.region_tier], scope.region_id


def places_import(
    *, actor: AnyUser, kind: PlaceKind, data: bytes, filename: str = ""
) -> ImportResult:
    """批量导入 a department's, town's or county's places of one kind from CSV or GeoJSON, all
    or nothing.

    1. Refuse a file over ``PLACES_IMPORT_MAX_BYTES`` or with more than
       ``PLACES_IMPORT_MAX_ROWS`` rows, or an importer who is not a town or county desk or a
       department handler.
    2. Check every row on its own: name, geometry, risk, unit, attributes against the kind's
       schema; place it by the map (in-memory index, no query per row); it must lie in the
       importer's region; a given code must be 20 digits and start with that grid's code.
    3. Match rows to stored places by code (or by the kind and ``external_ref``): a stored
       place outside the importer's scope or of another kind is an error; an unchanged one is
       left alone (a second import of the same file changes nothing).
    4. Any error: raise ``PlaceImportError`` with every problem by row (at most 100 listed);
       nothing is written. Else write in one transaction: codes for new places, one
       ``UPDATE`` per grid for the sequence; prepared ``INSERT``s (``executemany``) and
       ``bulk_update`` in batches of 2,000;
       one history row per place created or changed.
    """
    scope = scope_of(actor)
    if not (scope.everything or scope.role in IMPORT_ROLES):
        raise NotPermitted(_("只有乡镇、区县指挥台和部门可以批量导入场所。"))
    if scope.role == Role.DEPARTMENT_HANDLER and scope.unit_id is None:
        raise NotPermitted(_("您的账号没有所属单位，不能导入场所。"))
    if not kind.is_active:
        raise PlaceError(_("这个场所类型已停用。"), field="kind")
    max_bytes = int(settings.PLACES_IMPORT_MAX_BYTES)
    if len(data) > max_bytes:
        raise PlaceImportError(
            [_("文件超过 %(mb)d MB，请拆分后分别导入。") % {"mb": max_bytes // (1024 * 1024)}]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # a spreadsheet saved as CSV on a Chinese Windows
        except UnicodeDecodeError as exc:
            raise PlaceImportError([_("文件不是 UTF-8 或 GBK 编码的文本。")]) from exc
    is_geojson = filename.lower().endswith((".geojson", ".json")) or text.lstrip().startswith("{")
    rows = _rows_from_geojson(text) if is_geojson else _rows_from_csv(text)
    if not rows:
        raise PlaceImportError([_("文件里没有数据行。")])
    if len(rows) > int(settings.PLACES_IMPORT_MAX_ROWS):
        raise PlaceImportError(
            [
                _("一次最多导入 %(n)d 行，这个文件有 %(m)d 行，请拆分后分别导入。")
                % {"n": settings.PLACES_IMPORT_MAX_ROWS, "m": len(rows)}
            ]
        )
    region = _import_scope_q(actor)
    default_unit_id = scope.unit_id if scope.role == Role.DEPARTMENT_HANDLER else None
    if default_unit_id is None:
        default_unit_id = kind.supervising_department_id
    units = dict(Unit.objects.values_list("code", "pk"))
    grid_codes = dict(Grid.objects.values_list("pk", "code"))
    index = geo.get_index()
    snap = float(settings.GRID_SNAP_DISTANCE_M)
    towns: dict[
        int, tuple[int, int]
    ] = {}  # village id → (town id, county id), when the index lacks it

    errors: list[str] = []
    error_count = 0
    parsed: list[tuple[_Row, dict[str, Any]]] = []
    seen_codes: dict[str, str] = {}
    seen_refs: dict[str, str] = {}
    schema = kind.attribute_schema
    label_to_key = {spec["label"]: spec["key"] for spec in schema}
    absent: dict[str, tuple[set[str], set[str]]] = {}
    for row in rows:
        problems: list[str] = []
        values = row.values
        if values.get("__broken__"):
            problems.append(_("不是带 properties 的 GeoJSON Feature"))
            values = {}
        known: dict[str, Any] = {}
        attrs: dict[str, object] = {}
        for key, value in values.items():
            column = COLUMNS.get(key)
            if column is None:
                attrs[key] = value
            else:
                known[column] = value
        code = str(known.get("code") or "").strip()
        name = str(known.get("name") or "").strip()
        if not name:
            problems.append(_("缺少名称"))
        elif len(name) > 100:
            problems.append(_("名称超过 100 字"))
        address = str(known.get("address") or "").strip()
        if len(address) > 200:
            problems.append(_("地址超过 200 字"))
        risk = str(known.get("risk") or "C").strip().upper()
        if risk not in RiskLevel.values:
            problems.append(_("风险等级只能是 A、B 或 C"))
        contact_name = str(known.get("contact_name") or "").strip()
        contact_phone = str(known.get("contact_phone") or "").strip().replace(" ", "")
        if contact_phone and not re.fullmatch(r"\+?[0-9][0-9\-]{4,19}", contact_phone):
            problems.append(_("联系电话格式不对"))
        if len(contact_name) > 40:
            problems.append(_("联系人超过 40 字"))
        external_ref = str(known.get("external_ref") or "").strip()
        if len(external_ref) > 60:
            problems.append(_("外部编号超过 60 字"))
        unit_code = str(known.get("supervising_unit") or "").strip()
        unit_id = default_unit_id
        if unit_code:
            unit_id = units.get(unit_code)
            if unit_id is None:
                problems.append(_("监管单位代码 %(c)s 不存在") % {"c": unit_code})
        lat: object = _number(known.get("lat")) if known.get("lat") not in (None, "") else None
        lng: object = _number(known.get("lng")) if known.get("lng") not in (None, "") else None
        if row.geometry is not None and row.geometry.get("type") == "invalid":
            problems.append(_("范围 geometry 不是合法的 GeoJSON"))
            plat = plng = 0.0
            poly = None
        else:
            plat, plng, poly, problem = geometry_problem(kind, lat, lng, row.geometry)
            if problem:
                problems.append(problem.rstrip("。"))
        cleaned, attr_problems = clean_attributes(schema, attrs)
        problems += attr_problems
        located = None
        if not any("位置" in p or "范围" in p or "纬度" in p for p in problems):
            match = (
                index.locate(plat, plng, snap)
                if -90 <= plat <= 90 and -180 <= plng <= 180
                else None
            )
            if match is None:
                problems.append(_("位置不在本辖区任何网格内"))
            else:
                where = index.places.get(match.grid_id)
                if where is not None and where.town_id is not None and where.county_id is not None:
                    town_id, county_id = where.town_id, where.county_id
                else:
                    if match.village_id not in towns:
                        village = Region.objects.select_related("parent").get(pk=match.village_id)
                        parent = village.parent
                        towns[match.village_id] = (
                            parent.pk if parent else 0,
                            parent.parent_id if parent and parent.parent_id else 0,
                        )
                    town_id, county_id = towns[match.village_id]
                located = Located(match.grid_id, match.village_id, town_id, county_id)
                if region is not None and getattr(located, region[0]) != region[1]:
                    problems.append(_("位置不在您的管辖范围内"))
                    located = None
        if code:
            if not PLACE_CODE.match(code):
                problems.append(_("场所编码必须是 20 位数字"))
            elif code in seen_codes:
                problems.append(_("场所编码与%(r)s重复") % {"r": seen_codes[code]})
            else:
                seen_codes[code] = row.label
        if external_ref:
            if external_ref in seen_refs:
                problems.append(_("外部编号与%(r)s重复") % {"r": seen_refs[external_ref]})
            else:
                seen_refs[external_ref] = row.label
        if problems:
            error_count += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append(f"{row.label}：{'；'.join(problems)}。")
            continue
        assert located is not None
        # What the file says of this row: a stored place keeps what a missing column would say.
        absent[row.label] = (
            {att for column, att in OPTIONAL_COLUMNS.items() if column not in known},
            {label_to_key.get(str(name), str(name)) for name in attrs},
        )
        parsed.append(
            (
                row,
                {
                    "code": code,
                    "name": name,
                    "address": address,
                    "lat": plat,
                    "lng": plng,
                    "polygon": poly,
                    "grid_id": located.grid_id,
                    "village_id": located.village_id,
                    "town_id": located.town_id,
                    "county_id": located.county_id,
                    "risk": risk,
                    "supervising_unit_id": unit_id,
                    "contact_name": contact_name,
                    "contact_phone": contact_phone,
                    "external_ref": external_ref,
                    "attributes": cleaned,
                },
            )
        )

    # --- 3. match with the stored places ------------------------------------------------------
    codes = [values["code"] for _row, values in parsed if values["code"]]
    refs = [
        values["external_ref"]
        for _row, values in parsed
        if values["external_ref"] and not values["code"]
    ]
    by_code: dict[str, Place] = {}
    for start in range(0, len(codes), 900):
        for place in Place.objects.filter(code__in=codes[start : start + 900]):
            by_code[place.code] = place
    by_ref: dict[str, Place] = {}
    for start in range(0, len(refs), 900):
        for place in Place.objects.filter(kind=kind, external_ref__in=refs[start : start + 900]):
            by_ref.setdefault(place.external_ref, place)
    visible_ids: set[int] = set()
    stored = list(by_code.values()) + list(by_ref.values())
    if stored:
        ids = [p.pk for p in stored]
        for start in range(0, len(ids), 900):
            visible_ids |= set(
                places_visible_to(
                    actor, Place.objects.filter(pk__in=ids[start : start + 900])
                ).values_list("pk", flat=True)
            )
    matched: list[tuple[Place, dict[str, Any], str]] = []
    new: list[dict[str, Any]] = []
    for row, values in parsed:
        existing = (
            by_code.get(values["code"]) if values["code"] else by_ref.get(values["external_ref"])
        )
        if existing is None:
            # A new place with a code of its own: the code must be of the grid it lies in (a
            # stored place keeps its code when it moves, so this is checked for new ones only).
            if values["code"] and values["code"][:15] != grid_codes.get(values["grid_id"]):
                error_count += 1
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(
                        f"{row.label}："
                        + _("场所编码的前 15 位须是所在网格的编码 %(g)s")
                        % {"g": grid_codes.get(values["grid_id"])}
                        + "。"
                    )
                continue
            new.append(values)
            continue
        problem = None
        if not scope.everything and existing.pk not in visible_ids:
            problem = _("场所编码 %(c)s 已属于您管辖范围外的场所") % {"c": existing.code}
        elif existing.kind_id != kind.pk:
            problem = _("场所编码 %(c)s 已是另一类型的场所") % {"c": existing.code}
        if problem:
            error_count += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append(f"{row.label}：{problem}。")
            continue
        matched.append((existing, values, row.label))
    if error_count:
        if error_count > len(errors):
            errors.append(
                _("共 %(n)d 行有错误，只列出前 %(m)d 行。") % {"n": error_count, "m": len(errors)}
            )
        raise PlaceImportError(errors, total=error_count)

    # --- 4. write -----------------------------------------------------------------------------
    result = ImportResult()
    now = timezone.now()
    user = actor if isinstance(actor, User) else None
    label = _actor_label(actor)
    note = _("批量导入 %(f)s") % {"f": filename or ""}
    with transaction.atomic():
        by_grid: dict[int, list[dict[str, Any]]] = defaultdict(list)
        given_max: dict[int, int] = {}
        for values in new:
            if values["code"]:
                seq = int(values["code"][15:])
                given_max[values["grid_id"]] = max(given_max.get(values["grid_id"], 0), seq)
            else:
                by_grid[values["grid_id"]].append(values)
        new_codes = _allocate_many(
            {grid_id: len(items) for grid_id, items in by_grid.items()}, given_max, grid_codes
        )
        for grid_id, items in by_grid.items():
            for values, code in zip(items, new_codes[grid_id]):
                values["code"] = code
        base = {
            "kind_id": kind.pk,
            "status": PlaceStatus.ACTIVE,
            "verified_by_id": user.pk if user is not None else None,
            "verified_at": now,
            "source": PlaceSource.IMPORT,
            "created_by_id": user.pk if user is not None else None,
            "created_at": now,
            "updated_at": now,
            "client_uuid": None,
            "version": 0,
        }
        inserts = [{**base, **values} for values in new]
        _insert(Place, inserts)
        id_of = _ids_by_code([row["code"] for row in inserts])
        _insert(
            PlaceEvent,
            [
                {
                    "place_id": id_of[row["code"]],
                    "action": PlaceAction.IMPORT,
                    "actor_id": base["created_by_id"],
                    "actor_label": label,
                    "changes": diff({}, _snapshot_of_values(row)),
                    "note": note,
                    "at": now,
                }
                for row in inserts
            ],
        )
        result.created = len(inserts)
        result.codes = [row["code"] for row in inserts]
        changed_places: list[Place] = []
        events: list[PlaceEvent] = []
        fields = [f for f in (list(matched[0][1]) if matched else []) if f != "code"]
        for place, values, label_of_row in matched:
            before = snapshot(place)
            skipped, attribute_keys = absent[label_of_row]
            for key, value in values.items():
                if key == "attributes":
                    kept = {k: v for k, v in place.attributes.items() if k not in attribute_keys}
                    place.attributes = {**kept, **value}
                elif key != "code" and key not in skipped:
                    setattr(place, key, value)
            changes = diff(before, snapshot(place))
            if not changes:
                result.unchanged += 1
                continue
            place.version += 1
            place.updated_at = now
            changed_places.append(place)
            events.append(
                PlaceEvent(
                    place=place,
                    action=PlaceAction.IMPORT,
                    actor=user,
                    actor_label=label,
                    changes=changes,
                    note=note,
                )
            )
        if changed_places:
            Place.objects.bulk_update(
                changed_places, [*fields, "version", "updated_at"], batch_size=BATCH
            )
            PlaceEvent.objects.bulk_create(events, batch_size=BATCH)
        result.updated = len(changed_places)
    return result
