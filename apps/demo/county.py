"""Build the demo county: regions, grids, departments, units, platforms, people, categories,
routing, time limits and the work calendar — deterministically from one seed.

Everything is written with bulk_create (passwords hashed once), so ``--grids 10000`` with its
ten thousand grid workers takes seconds, not minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import transaction

from apps.demo import catalog, names
from apps.demo.layout import county_layout
from apps.org import geo
from apps.org.models import STAFF_ROLES, Grid, Platform, Profile, Region, Role, Tier, Unit, UnitKind
from apps.org.services import grid_fields

DEMO_PASSWORD = "liandong-demo"
CALENDAR_YEARS = (2025, 2026, 2027)


@dataclass
class DemoCounty:
    county: Region
    towns: list[Region] = field(default_factory=list)
    villages: list[Region] = field(default_factory=list)
    grids: int = 0
    users: int = 0
    places: int = 0
    calendar_note: str = ""


def _villages_per_town(rng: random.Random, towns: int, mean: float) -> list[int]:
    """Whole numbers around ``mean`` that add up to round(towns × mean)."""
    total = max(towns, round(towns * mean))
    base, extra = divmod(total, towns)
    counts = [base + (1 if i < extra else 0) for i in range(towns)]
    rng.shuffle(counts)
    # Real towns differ: move a village or two between random pairs, keeping the total.
    for _ in range(towns):
        a, b = rng.randrange(towns), rng.randrange(towns)
        if counts[a] > 2:
            counts[a] -= 1
            counts[b] += 1
    return counts


@transaction.atomic
def build_demo_county(
    *,
    seed: int = 2025,
    towns: int = 8,
    villages_per_town: float = 7.5,
    grids: int = 200,
    with_places: bool = True,
) -> DemoCounty:
    rng = random.Random(seed)
    password = make_password(DEMO_PASSWORD, salt=f"demo{seed}")
    county = Region.objects.create(code=names.COUNTY_CODE, name=names.COUNTY_NAME, tier=Tier.COUNTY)
    demo = DemoCounty(county=county)

    # --- Regions and grids ---------------------------------------------------------------
    plan = _villages_per_town(rng, towns, villages_per_town)
    layout = county_layout(rng, n_grids=grids, villages_per_town=plan)
    used_names: set[str] = set()
    streets = max(1, towns // 3)  # the first few towns are urban streets (街道), codes 001…
    town_rows = []
    for t in range(towns):
        is_street = t < streets
        name = names.town_name(rng, t, used_names)
        if is_street and not name.endswith("街道"):
            name = name[:-1] + "街道"
        if not is_street and name.endswith("街道"):
            name = name[:-2] + "镇"
        code = f"{county.code[:6]}{(t + 1) if is_street else (100 + t + 1 - streets):03d}000"
        town_rows.append(Region(code=code, name=name, tier=Tier.TOWN, parent=county))
    Region.objects.bulk_create(town_rows)
    demo.towns = list(Region.objects.filter(parent=county).order_by("code"))
    town_by_code = {town.code: town for town in demo.towns}

    village_rows, village_grids = [], []
    for t, town_row in enumerate(town_rows):
        town = town_by_code[town_row.code]
        is_street = t < streets
        communities, villages = 0, 0
        for v, polygons in enumerate(layout[t]):
            community = is_street or v == 0  # a town's seat is a community too
            if community:
                communities += 1
                suffix = communities
            else:
                villages += 1
                suffix = 200 + villages
            village_rows.append(
                Region(
                    code=f"{town.code[:9]}{suffix:03d}",
                    name=names.village_name(rng, community, used_names),
                    tier=Tier.VILLAGE,
                    parent=town,
                )
            )
            village_grids.append(polygons)
    Region.objects.bulk_create(village_rows)
    village_by_code = {v.code: v for v in Region.objects.filter(parent__parent=county)}
    demo.villages = [village_by_code[row.code] for row in village_rows]

    grid_rows = []
    for village, polygons in zip(demo.villages, village_grids):
        if len(polygons) > 999:
            raise ValueError(
                f"{village.name} would have {len(polygons)} grids; a grid code has room for 999"
            )
        for g, polygon in enumerate(polygons, start=1):
            grid_rows.append(
                Grid(
                    code=f"{village.code}{g:03d}",
                    name=f"{village.name}第{g}网格",
                    village=village,
                    boundary=polygon,
                    **grid_fields(polygon),
                )
            )
    Grid.objects.bulk_create(grid_rows, batch_size=2000)
    demo.grids = len(grid_rows)

    # --- Departments, platforms, units ------------------------------------------------------
    departments = {
        code: Unit(name=name, code=f"dept-{code}", kind=UnitKind.DEPARTMENT, region=county)
        for code, name, _en in catalog.DEPARTMENTS
    }
    Unit.objects.bulk_create(departments.values())
    departments = {
        u.code[5:]: u for u in Unit.objects.filter(kind=UnitKind.DEPARTMENT, region=county)
    }
    Platform.objects.bulk_create(
        [
            Platform(town=town, code=code, name=name, sort_order=i)
            for town in demo.towns
            for i, (code, name) in enumerate(catalog.PLATFORMS)
        ]
    )
    platforms = {(p.town_id, p.code): p for p in Platform.objects.filter(town__parent=county)}
    # Every town's units: the departments' stationed units, then the town's own offices.
    town_units = [
        *(
            (code, suffix, platform, UnitKind.STATIONED)
            for code, suffix, platform in catalog.STATIONED
        ),
        *(
            (code, suffix, platform, UnitKind.TOWN_OFFICE)
            for code, suffix, platform in catalog.TOWN_OFFICES
        ),
    ]
    units = []
    for t, town in enumerate(demo.towns, start=1):
        short = town.name.removesuffix("街道").removesuffix("镇").removesuffix("乡")
        for code, name_suffix, platform_code, kind in town_units:
            units.append(
                Unit(
                    name=f"{short}{name_suffix}",
                    code=f"t{t:02d}-{code}",
                    kind=kind,
                    region=town,
                    department=departments[code] if kind == UnitKind.STATIONED else None,
                    platform=platforms[(town.pk, platform_code)],
                )
            )
    for v, village in enumerate(demo.villages, start=1):
        units.append(
            Unit(
                name=f"{village.name}工作站",
                code=f"v{v:03d}-ws",
                kind=UnitKind.WORKSTATION,
                region=village,
            )
        )
    Unit.objects.bulk_create(units, batch_size=2000)
    unit_by_code = {
        u.code: u for u in Unit.objects.filter(region__in=[*demo.towns, *demo.villages])
    }

    # --- People ------------------------------------------------------------------------------
    people: list[
        tuple[str, str, dict, list[str]]
    ] = []  # (username, role, profile fields, grid codes)
    grids_by_village: dict[int, list[str]] = {}
    for row in grid_rows:
        grids_by_village.setdefault(row.village_id, []).append(row.code)
    width = max(3, len(str(len(grid_rows))))
    gw = 0
    for v, village in enumerate(demo.villages, start=1):
        codes = grids_by_village.get(village.pk, [])
        for code in codes:
            gw += 1
            people.append((f"gw{gw:0{width}d}", Role.GRID_WORKER, {"region": village}, [code]))
        people.append((f"gl{v:03d}", Role.GRID_LEADER, {"region": village}, codes))
        people.append(
            (
                f"vh{v:03d}",
                Role.VILLAGE_HANDLER,
                {"region": village, "unit": unit_by_code[f"v{v:03d}-ws"]},
                [],
            )
        )
    for t, town in enumerate(demo.towns, start=1):
        people.append((f"town{t:02d}", Role.TOWN_DISPATCHER, {"region": town}, []))
        for code, _suffix, _platform, _kind in town_units:
            people.append(
                (
                    f"t{t:02d}_{code}",
                    Role.DEPARTMENT_HANDLER,
                    {"unit": unit_by_code[f"t{t:02d}-{code}"]},
                    [],
                )
            )
    for code, unit in departments.items():
        people.append((f"dept_{code}", Role.DEPARTMENT_HANDLER, {"unit": unit}, []))
    people.append(("county", Role.COUNTY_DISPATCHER, {"region": county}, []))
    people.append(("county2", Role.COUNTY_DISPATCHER, {"region": county}, []))
    people.append(("leader", Role.LEADER, {"region": county}, []))

    User.objects.bulk_create(
        [
            User(username=username, password=password, is_staff=role in STAFF_ROLES, first_name="")
            for username, role, _f, _g in people
        ]
        + [User(username="admin", password=password, is_staff=True, is_superuser=True)],
        batch_size=2000,
    )
    user_ids = dict(
        User.objects.filter(username__in=[p[0] for p in people]).values_list("username", "pk")
    )
    groups = dict(Group.objects.filter(name__in=Role.values).values_list("name", "pk"))
    User.groups.through.objects.bulk_create(
        [
            User.groups.through(user_id=user_ids[username], group_id=groups[role])
            for username, role, _f, _g in people
        ],
        batch_size=5000,
    )
    Profile.objects.bulk_create(
        [
            Profile(
                user_id=user_ids[username],
                role=role,
                display_name=names.person_name(rng),
                phone=names.phone(rng),
                **fields,
            )
            for username, role, fields, _g in people
        ],
        batch_size=2000,
    )
    profile_ids = dict(
        Profile.objects.filter(user_id__in=user_ids.values()).values_list("user__username", "pk")
    )
    grid_ids = dict(Grid.objects.filter(village__in=demo.villages).values_list("code", "pk"))
    Profile.grids.through.objects.bulk_create(
        [
            Profile.grids.through(profile_id=profile_ids[username], grid_id=grid_ids[code])
            for username, _role, _f, codes in people
            for code in codes
        ],
        batch_size=5000,
    )
    # Each village's grid leader leads its grids (定格、定人、定责).
    for v, village in enumerate(demo.villages, start=1):
        Grid.objects.filter(village=village).update(leader_id=user_ids[f"gl{v:03d}"])
    demo.users = len(people) + 1

    build_categories(departments)
    demo.calendar_note = build_work_calendar()
    geo.invalidate()
    if with_places:
        from apps.demo.places import build_places

        demo.places = build_places(seed=seed)
    return demo


def build_categories(departments: dict[str, Unit]) -> None:
    from apps.cases import reference
    from apps.cases.models import Category, RoutingRule, TimeLimit

    parents = []
    for i, (code, name, name_en, _children) in enumerate(catalog.CATEGORIES):
        parents.append(Category(code=code, name=name, name_en=name_en, sort_order=i))
    Category.objects.bulk_create(parents)
    parent_by_code = {
        c.code: c for c in Category.objects.filter(code__in=[p.code for p in parents])
    }
    leaves, routes, limits = [], [], []
    for _code, _name, _en, children in catalog.CATEGORIES:
        for j, (code, name, name_en, basis, _lim, _town, _county) in enumerate(children):
            leaves.append(
                Category(
                    code=code,
                    name=name,
                    name_en=name_en,
                    parent=parent_by_code[_code],
                    time_basis=basis,
                    sort_order=j,
                )
            )
    Category.objects.bulk_create(leaves)
    leaf_by_code = {c.code: c for c in Category.objects.filter(parent__isnull=False)}
    for _code, _name, _en, children in catalog.CATEGORIES:
        for code, _n, _e, _basis, hours, town_route, county_dept in children:
            category = leaf_by_code[code]
            kind, target = town_route.split(":")
            routes.append(
                RoutingRule(
                    category=category,
                    tier=Tier.TOWN,
                    department=departments[target] if kind == "dept" else None,
                    platform_code=target if kind == "platform" else "",
                )
            )
            routes.append(
                RoutingRule(
                    category=category, tier=Tier.COUNTY, department=departments[county_dept]
                )
            )
            for step, value in hours.items():
                limits.append(TimeLimit(category=category, severity=None, step=step, hours=value))
            if hours is catalog.URGENT:
                # A major (Ⅰ级) urgent case: everything twice as fast.
                for step, value in hours.items():
                    limits.append(
                        TimeLimit(category=category, severity=1, step=step, hours=value / 2)
                    )
    RoutingRule.objects.bulk_create(routes)
    TimeLimit.objects.bulk_create(limits)
    reference.invalidate()  # bulk_create sends no post_save


def build_work_calendar(years: tuple[int, ...] = CALENDAR_YEARS) -> str:
    """Public holidays on weekdays and make-up working days (调休) on weekends, loaded the way a
    county loads them (``apps.cases.work_calendar``). Returns a note naming the years the
    chinesecalendar package has no data for yet."""
    from apps.cases.work_calendar import CalendarDataMissing, work_calendar_load

    missing = []
    for year in years:
        try:
            work_calendar_load(year=year)
        except CalendarDataMissing:
            missing.append(str(year))
    if missing:
        return (
            f"工作日历：chinesecalendar 尚无 {'、'.join(missing)} 年的数据，这些年份按周一至周五计算；"
            f"公布后运行 manage.py work_calendar_load --year {missing[0]}，或在后台“工作日历”中补录。"
        )
    return ""


def demo_accounts() -> list[tuple[str, str, str]]:
    """(username, role, organisation) of the demo accounts, one or two of each kind first."""
    order: list[str] = [
        Role.LEADER,
        Role.COUNTY_DISPATCHER,
        Role.DEPARTMENT_HANDLER,
        Role.TOWN_DISPATCHER,
        Role.VILLAGE_HANDLER,
        Role.GRID_LEADER,
        Role.GRID_WORKER,
    ]
    rows = []
    for profile in Profile.objects.select_related("user", "region", "unit").order_by(
        "user__username"
    ):
        org = (
            profile.unit.name
            if profile.unit is not None
            else (profile.region.name if profile.region is not None else "")
        )
        rows.append(
            (order.index(profile.role), profile.user.username, profile.get_role_display(), org)
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[1:] for row in rows]
