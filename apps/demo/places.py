"""The demo county's places register: the kinds the issue names (buildings, 三小/六小 premises,
群租, construction sites, chemical enterprises, key areas, 微型消防站) as data, and a few hundred
places of them loaded the way a county loads its lists — through the import — plus a handful
collected by grid workers that wait for their village workstation."""

from __future__ import annotations

import json
import random

from django.contrib.auth.models import User

from apps.org.models import Grid, Unit
from apps.places.models import GeometryType, PlaceKind

# (code, name, geometry, inspection days, supervising department code, sensitive, schema)
KINDS: list[tuple[str, str, str, int, str, bool, list[dict]]] = [
    (
        "building",
        "楼栋",
        GeometryType.POINT,
        90,
        "zj",
        False,
        [
            {"key": "floors", "label": "层数", "type": "int", "required": True},
            {"key": "households", "label": "户数", "type": "int", "required": True},
            {
                "key": "structure",
                "label": "结构",
                "type": "choice",
                "choices": ["砖混", "框架", "钢结构", "木结构"],
            },
        ],
    ),
    (
        "sanxiao",
        "三小/六小场所",
        GeometryType.POINT,
        30,
        "xf",
        False,
        [
            {"key": "licence", "label": "营业执照号", "type": "text", "required": True},
            {
                "key": "category",
                "label": "类别",
                "type": "choice",
                "required": True,
                "choices": ["小商店", "小餐饮", "小作坊", "小娱乐场所", "小旅馆", "小美容洗浴"],
            },
            {"key": "extinguisher", "label": "配备灭火器", "type": "bool"},
        ],
    ),
    (
        "qunzu",
        "群租房",
        GeometryType.POINT,
        30,
        "ga",
        True,
        [
            {"key": "rooms", "label": "出租间数", "type": "int", "required": True},
            {"key": "tenants", "label": "居住人数", "type": "int"},
            {"key": "registered", "label": "已登记备案", "type": "bool"},
        ],
    ),
    (
        "construction",
        "建筑工地",
        GeometryType.POLYGON,
        14,
        "zj",
        False,
        [
            {"key": "permit", "label": "施工许可证号", "type": "text", "required": True},
            {"key": "contractor", "label": "施工单位", "type": "text"},
            {"key": "end_date", "label": "计划竣工日期", "type": "date"},
        ],
    ),
    (
        "chemical",
        "危化品企业",
        GeometryType.POINT,
        7,
        "yj",
        True,
        [
            {"key": "licence", "label": "危化品经营许可证号", "type": "text", "required": True},
            {"key": "substances", "label": "主要危化品", "type": "text"},
            {"key": "storage_tons", "label": "最大储量（吨）", "type": "int"},
        ],
    ),
    (
        "key_area",
        "重点区域",
        GeometryType.POLYGON,
        30,
        "ga",
        True,
        [
            {
                "key": "category",
                "label": "类别",
                "type": "choice",
                "required": True,
                "choices": ["学校周边", "集贸市场", "车站", "景区", "医院周边"],
            }
        ],
    ),
    (
        "fire_station",
        "微型消防站",
        GeometryType.POINT,
        90,
        "xf",
        False,
        [
            {"key": "members", "label": "队员人数", "type": "int", "required": True},
            {"key": "equipment", "label": "主要器材", "type": "text"},
        ],
    ),
]
SHOP_NAMES = [
    "便利店",
    "小吃店",
    "面馆",
    "五金店",
    "理发店",
    "小旅馆",
    "棋牌室",
    "豆腐坊",
    "洗浴店",
]
STREETS = ["人民路", "解放路", "中山路", "新华街", "河西路", "建设路", "学府路", "工业路"]


def _attributes(rng: random.Random, code: str, n: int) -> dict[str, object]:
    if code == "building":
        return {
            "floors": rng.randint(2, 33),
            "households": rng.randint(6, 200),
            "structure": rng.choice(["砖混", "框架", "钢结构"]),
        }
    if code == "sanxiao":
        return {
            "licence": f"9133{n:012d}",
            "category": rng.choice(["小商店", "小餐饮", "小作坊", "小旅馆"]),
            "extinguisher": rng.random() < 0.8,
        }
    if code == "qunzu":
        return {
            "rooms": rng.randint(4, 20),
            "tenants": rng.randint(5, 40),
            "registered": rng.random() < 0.6,
        }
    if code == "construction":
        return {"permit": f"SG-2026-{n:04d}", "contractor": "县建工集团", "end_date": "2027-06-30"}
    if code == "chemical":
        return {
            "licence": f"WH-{n:05d}",
            "substances": "液化石油气",
            "storage_tons": rng.randint(1, 50),
        }
    if code == "key_area":
        return {"category": rng.choice(["学校周边", "集贸市场", "车站", "医院周边"])}
    return {"members": rng.randint(4, 12), "equipment": "灭火器、水带、破拆工具"}


def _name(rng: random.Random, code: str, n: int) -> str:
    street = rng.choice(STREETS)
    return {
        "building": f"{street}{n}号楼",
        "sanxiao": f"{street}{rng.choice(SHOP_NAMES)}",
        "qunzu": f"{street}{n}号出租屋",
        "construction": f"{street}改造工程{n}标段",
        "chemical": f"{street}燃气供应站",
        "key_area": f"{street}{rng.choice(['中学', '菜市场', '客运站', '医院'])}周边",
        "fire_station": f"{street}微型消防站",
    }[code]


def build_places(*, seed: int = 2025, per_kind: int = 40) -> int:
    """The kinds and ``per_kind`` places of each (a few hundred), imported by the superuser,
    then a few collected by grid workers (待确认). Returns how many places were made."""
    from apps.places.services import place_add, places_import

    departments = {u.code[5:]: u for u in Unit.objects.filter(code__startswith="dept-")}
    kinds = []
    for order, (code, name, geometry, days, dept, sensitive, schema) in enumerate(KINDS):
        kinds.append(
            PlaceKind.objects.create(
                code=code,
                name=name,
                geometry_type=geometry,
                inspection_days=days,
                supervising_department=departments.get(dept),
                sensitive=sensitive,
                attribute_schema=schema,
                sort_order=order,
            )
        )
    rng = random.Random(seed)
    grids = list(Grid.objects.order_by("code").values_list("pk", "centroid_lat", "centroid_lng"))
    admin = User.objects.get(username="admin")
    made = 0
    for kind in kinds:
        features = []
        for n in range(1, per_kind + 1):
            _pk, lat, lng = rng.choice(grids)
            lat += rng.uniform(-0.0012, 0.0012)
            lng += rng.uniform(-0.0012, 0.0012)
            properties: dict[str, object] = {
                "name": _name(rng, kind.code, n),
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                "risk": rng.choice("ABCCC"),
                "contact_name": rng.choice("王李张刘陈杨赵黄周吴") + rng.choice(["先生", "女士"]),
                "contact_phone": f"13{rng.randint(100000000, 999999999)}",
                "attributes": _attributes(rng, kind.code, n),
            }
            if kind.geometry_type == GeometryType.POLYGON:
                d = 0.0004
                ring = [
                    [lng - d, lat - d],
                    [lng + d, lat - d],
                    [lng + d, lat + d],
                    [lng - d, lat + d],
                ]
                feature_geometry: dict[str, object] = {
                    "type": "Polygon",
                    "coordinates": [[*ring, ring[0]]],
                }
            else:
                feature_geometry = {"type": "Point", "coordinates": [round(lng, 6), round(lat, 6)]}
            features.append(
                {"type": "Feature", "properties": properties, "geometry": feature_geometry}
            )
        data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
        made += places_import(actor=admin, kind=kind, data=data, filename="demo.geojson").created
    # A few places found by grid workers, waiting for their village workstation to confirm.
    building = kinds[0]
    for worker in User.objects.filter(profile__role="grid_worker").order_by("username")[:8]:
        grid = worker.profile.grids.first()
        if grid is None:
            continue
        place_add(
            actor=worker,
            kind=building,
            name=f"{grid.name}新建楼栋",
            lat=grid.centroid_lat,
            lng=grid.centroid_lng,
            attributes={"floors": 5, "households": 30},
        )
        made += 1
    return made
