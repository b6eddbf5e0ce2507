"""Reads for moving a county in and out: a county's organisation as the rows of the workbook
(``apps.onboarding.spec``), in the words the import reads back, so an export imports unchanged."""

from __future__ import annotations

import json

from django.db.models import Q

from apps.cases.models import Category, RoutingRule, Severity, Step, TimeBasis, TimeLimit
from apps.onboarding import spec
from apps.org.models import Grid, Platform, Profile, Region, Role, Tier, Unit, UnitKind


def _yes_no(value: bool) -> str:
    return spec.YES if value else spec.NO


def county_rows(county: Region) -> dict[str, list[list[str]]]:
    """Sheet key → rows (cells in the sheet's column order). The 初始密码 column stays empty:
    passwords are never exported."""
    towns = Region.objects.filter(parent=county)
    villages = Region.objects.filter(parent__parent=county)
    regions = [county, *towns.order_by("code"), *villages.order_by("code")]
    in_county = Q(region=county) | Q(region__parent=county) | Q(region__parent__parent=county)
    rows: dict[str, list[list[str]]] = {}
    rows["regions"] = [
        [r.code, r.name, str(Tier(r.tier).label), r.parent.code if r.parent_id and r.parent else ""]
        for r in Region.objects.filter(pk__in=[r.pk for r in regions])
        .select_related("parent")
        .order_by("code")
    ]
    # Regions in tier order (the importer sorts them anyway; people read them top-down).
    order: dict[str, int] = {Tier.COUNTY: 0, Tier.TOWN: 1, Tier.VILLAGE: 2}
    rows["regions"].sort(key=lambda r: (order[spec.TIER_WORDS[r[2]]], r[0]))
    rows["platforms"] = [
        [p.town.code, p.code, p.name, str(p.sort_order)]
        for p in Platform.objects.filter(town__parent=county)
        .select_related("town")
        .order_by("town__code", "sort_order", "code")
    ]
    kind_order = {
        UnitKind.DEPARTMENT: 0,
        UnitKind.STATIONED: 1,
        UnitKind.TOWN_OFFICE: 2,
        UnitKind.WORKSTATION: 3,
    }
    units = list(Unit.objects.filter(in_county).select_related("region", "department", "platform"))
    units.sort(key=lambda u: (kind_order[UnitKind(u.kind)], u.region.code, u.code))
    rows["units"] = [
        [
            u.code,
            u.name,
            str(UnitKind(u.kind).label),
            u.region.code,
            u.department.code if u.department else "",
            u.platform.code if u.platform else "",
            _yes_no(u.is_active),
        ]
        for u in units
    ]
    rows["grids"] = [
        [
            g.code,
            g.name,
            g.village.code,
            g.leader.username if g.leader else "",
            json.dumps(g.boundary, ensure_ascii=False, separators=(",", ":")),
        ]
        for g in Grid.objects.filter(village__parent__parent=county)
        .select_related("village", "leader")
        .order_by("code")
    ]
    role_order = {role: i for i, role in enumerate(Role.values)}
    profiles = list(
        Profile.objects.filter(
            Q(region=county)
            | Q(region__parent=county)
            | Q(region__parent__parent=county)
            | Q(unit__region=county)
            | Q(unit__region__parent=county)
            | Q(unit__region__parent__parent=county)
        )
        .filter(user__is_superuser=False)
        .select_related("user", "region", "unit")
        .prefetch_related("grids")
    )
    profiles.sort(key=lambda p: (role_order.get(p.role, 99), p.user.username))
    rows["people"] = [
        [
            p.user.username,
            p.display_name,
            p.phone,
            str(Role(p.role).label),
            p.region.code if p.region else "",
            p.unit.code if p.unit else "",
            "、".join(sorted(g.code for g in p.grids.all())),
            "",
            _yes_no(p.user.is_active),
        ]
        for p in profiles
    ]
    categories = list(Category.objects.select_related("parent"))
    categories.sort(key=lambda c: (c.parent_id is not None, c.sort_order, c.code))
    rows["categories"] = [
        [
            c.code,
            c.name,
            c.name_en,
            c.parent.code if c.parent else "",
            str(TimeBasis(c.time_basis).label),
            str(c.sort_order),
            _yes_no(c.is_active),
        ]
        for c in categories
    ]
    rules = RoutingRule.objects.select_related("category", "department").prefetch_related(
        "assisting_departments"
    )
    rows["routing"] = [
        [
            r.category.code,
            str(Tier(r.tier).label),
            r.department.code if r.department else "",
            r.platform_code,
            "、".join(sorted(u.code for u in r.assisting_departments.all())),
        ]
        for r in sorted(rules, key=lambda r: (r.category.code, r.tier != Tier.TOWN))
    ]
    steps = {step: i for i, step in enumerate(Step.values)}
    limits = sorted(
        TimeLimit.objects.select_related("category"),
        key=lambda t: (t.category.code, t.severity or 0, steps[t.step]),
    )
    rows["limits"] = [
        [
            t.category.code,
            str(Severity(t.severity).label) if t.severity else "",
            str(Step(t.step).label),
            f"{t.hours:g}",
        ]
        for t in limits
    ]
    return rows
