"""A small, hand-built organisation for tests, in the spirit of Healthchecks' alice/bob/charlie.

County 330299 (测试区) with two towns (东镇 "east", 西镇 "west"), each with two villages, each
village with two square grids; two county departments with stationed units in each town; one
category tree with routing and time limits; and one person per role:

    east:  gw (grid worker of east-v1 grids), gl (grid leader), vh (east-v1 village handler),
           td (east town dispatcher), dh (handler of the east urban-management stationed unit)
    west:  gw_w, vh_w, td_w, dh_w (the outsiders)
    county: cd (county dispatcher), leader, dh_c (handler of the county urban-management dept)

Grid squares are 0.01° wide, laid out on a row per village, so points are easy to compute:
``org.point_in(grid)`` gives the centre of a grid.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from django.contrib.auth.models import Group, User

from apps.cases.models import Category, RoutingRule, TimeBasis, TimeLimit
from apps.org import geo
from apps.org.models import Grid, Platform, Profile, Region, Role, Tier, Unit, UnitKind

BASE_LNG, BASE_LAT, SIDE = 121.50, 29.80, 0.01
PASSWORD = "test-pass-123"


def square(min_lng: float, min_lat: float, side: float = SIDE) -> dict:
    ring = [
        [min_lng, min_lat],
        [min_lng + side, min_lat],
        [min_lng + side, min_lat + side],
        [min_lng, min_lat + side],
        [min_lng, min_lat],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_grid(village: Region, code: str, name: str, boundary: dict) -> Grid:
    xs = [p[0] for p in boundary["coordinates"][0]]
    ys = [p[1] for p in boundary["coordinates"][0]]
    return Grid.objects.create(
        village=village,
        code=code,
        name=name,
        boundary=boundary,
        min_lng=min(xs),
        max_lng=max(xs),
        min_lat=min(ys),
        max_lat=max(ys),
        centroid_lng=(min(xs) + max(xs)) / 2,
        centroid_lat=(min(ys) + max(ys)) / 2,
    )


def make_person(username: str, role: str, *, region=None, unit=None, grids=(), staff=None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    user.is_staff = role in {
        Role.TOWN_DISPATCHER,
        Role.COUNTY_DISPATCHER,
        Role.LEADER,
        Role.VILLAGE_HANDLER,
    }
    if staff is not None:
        user.is_staff = staff
    user.save()
    user.groups.add(Group.objects.get(name=role))
    profile = Profile.objects.create(
        user=user,
        role=role,
        display_name=f"测试{username}",
        phone="1380000" + str(zlib.crc32(username.encode()) % 10000).zfill(4),
        region=region,
        unit=unit,
    )
    if grids:
        profile.grids.set(grids)
    return user


@dataclass
class TestOrg:
    county: Region
    towns: dict[str, Region] = field(default_factory=dict)
    villages: dict[str, Region] = field(default_factory=dict)
    grids: dict[str, Grid] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    @staticmethod
    def point_in(grid: Grid) -> tuple[float, float]:
        """(lat, lng) of the centre of a grid."""
        return grid.centroid_lat, grid.centroid_lng


def build_test_org() -> TestOrg:
    county = Region.objects.create(code="330299000000", name="测试区", tier=Tier.COUNTY)
    org = TestOrg(county=county)
    departments = {
        "cg": Unit.objects.create(
            name="区城管局", code="county-cg", kind=UnitKind.DEPARTMENT, region=county
        ),
        "sj": Unit.objects.create(
            name="区市场监管局", code="county-sj", kind=UnitKind.DEPARTMENT, region=county
        ),
    }
    org.units.update({f"county-{k}": v for k, v in departments.items()})
    for t_index, (town_key, town_name) in enumerate([("east", "东镇"), ("west", "西镇")]):
        town = Region.objects.create(
            code=f"330299{101 + t_index:03d}000", name=town_name, tier=Tier.TOWN, parent=county
        )
        org.towns[town_key] = town
        platforms = {
            code: Platform.objects.create(town=town, code=code, name=name, sort_order=i)
            for i, (code, name) in enumerate(
                [
                    ("zongzhi", "综治工作"),
                    ("shichang", "市场监管"),
                    ("zhifa", "综合执法"),
                    ("bianmin", "便民服务"),
                ]
            )
        }
        # The county departments' stationed units, and the town's own service centre.
        for key, name, kind, platform in [
            ("cg", "城管中队", UnitKind.STATIONED, "zhifa"),
            ("sj", "市场监管所", UnitKind.STATIONED, "shichang"),
            ("bm", "便民服务中心", UnitKind.TOWN_OFFICE, "bianmin"),
        ]:
            org.units[f"{town_key}-{key}"] = Unit.objects.create(
                name=f"{town_name}{name}",
                code=f"{town_key}-{key}",
                kind=kind,
                region=town,
                department=departments.get(key),
                platform=platforms[platform],
            )
        for v_index in range(2):
            v_key = f"{town_key}-v{v_index + 1}"
            village = Region.objects.create(
                code=f"{town.code[:9]}{201 + v_index:03d}",
                name=f"{town_name}{v_index + 1}村",
                tier=Tier.VILLAGE,
                parent=town,
            )
            org.villages[v_key] = village
            org.units[f"{v_key}-ws"] = Unit.objects.create(
                name=f"{village.name}工作站",
                code=f"{v_key}-ws",
                kind=UnitKind.WORKSTATION,
                region=village,
            )
            for g_index in range(2):
                column = t_index * 4 + v_index * 2 + g_index
                grid = make_grid(
                    village,
                    f"{village.code}{g_index + 1:03d}",
                    f"{village.name}{g_index + 1}号网格",
                    square(BASE_LNG + column * SIDE, BASE_LAT),
                )
                org.grids[f"{v_key}-g{g_index + 1}"] = grid

    parent = Category.objects.create(code="shirong", name="市容环境", name_en="City appearance")
    org.categories["rubbish"] = Category.objects.create(
        code="baolu-laji", name="暴露垃圾", name_en="Exposed rubbish", parent=parent
    )
    build = Category.objects.create(code="guihua", name="规划建设", name_en="Planning and building")
    org.categories["illegal_building"] = Category.objects.create(
        code="weifa-jianzhu",
        name="违法建筑",
        name_en="Illegal construction",
        parent=build,
        time_basis=TimeBasis.WORKING_DAYS,
    )
    safety = Category.objects.create(code="anquan", name="安全隐患", name_en="Safety hazards")
    org.categories["fire"] = Category.objects.create(
        code="xiaofang",
        name="消防隐患",
        name_en="Fire hazard",
        parent=safety,
        time_basis=TimeBasis.NATURAL_HOURS,
    )
    for key, cat in org.categories.items():
        RoutingRule.objects.create(category=cat, tier=Tier.TOWN, department=departments["cg"])
        RoutingRule.objects.create(category=cat, tier=Tier.COUNTY, department=departments["cg"])
        hours = {"rubbish": 4, "illegal_building": 56, "fire": 2}[key]
        for step, factor in [
            ("accept", 0.5),
            ("sign", 0.5),
            ("handle", 1),
            ("verify", 1),
            ("overall", 4),
        ]:
            TimeLimit.objects.create(category=cat, step=step, hours=hours * factor)

    east, west = org.towns["east"], org.towns["west"]
    ev1, wv1 = org.villages["east-v1"], org.villages["west-v1"]
    org.users["gw"] = make_person(
        "gw", Role.GRID_WORKER, region=ev1, grids=[org.grids["east-v1-g1"], org.grids["east-v1-g2"]]
    )
    org.users["gw2"] = make_person(
        "gw2", Role.GRID_WORKER, region=ev1, grids=[org.grids["east-v1-g1"]]
    )
    org.users["gl"] = make_person(
        "gl", Role.GRID_LEADER, region=ev1, grids=[org.grids["east-v1-g1"], org.grids["east-v1-g2"]]
    )
    org.users["vh"] = make_person(
        "vh", Role.VILLAGE_HANDLER, region=ev1, unit=org.units["east-v1-ws"]
    )
    org.users["td"] = make_person("td", Role.TOWN_DISPATCHER, region=east)
    org.users["dh"] = make_person("dh", Role.DEPARTMENT_HANDLER, unit=org.units["east-cg"])
    org.users["gw_w"] = make_person(
        "gw_w", Role.GRID_WORKER, region=wv1, grids=[org.grids["west-v1-g1"]]
    )
    org.users["vh_w"] = make_person(
        "vh_w", Role.VILLAGE_HANDLER, region=wv1, unit=org.units["west-v1-ws"]
    )
    org.users["td_w"] = make_person("td_w", Role.TOWN_DISPATCHER, region=west)
    org.users["dh_w"] = make_person("dh_w", Role.DEPARTMENT_HANDLER, unit=org.units["west-cg"])
    org.users["cd"] = make_person("cd", Role.COUNTY_DISPATCHER, region=county)
    org.users["dh_c"] = make_person("dh_c", Role.DEPARTMENT_HANDLER, unit=departments["cg"])
    org.users["leader"] = make_person("leader", Role.LEADER, region=county)
    geo.invalidate()
    return org


def another_process_bumps(key: str) -> None:
    """What ``SharedVersion.bump`` does in another process: the shared row moves, this process's
    reading does not (it is re-read only after its recheck interval)."""
    import secrets

    from apps.core.models import SharedVersionRow

    SharedVersionRow.objects.update_or_create(key=key, defaults={"version": secrets.randbits(62)})
