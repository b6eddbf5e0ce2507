"""Place kinds for the tests, on the small test organisation (tests/factories.py)."""

from __future__ import annotations

import itertools

import pytest

from apps.places import services
from apps.places.models import GeometryType, Place, PlaceKind

BUILDING_SCHEMA = [
    {"key": "floors", "label": "层数", "type": "int", "required": True},
    {"key": "households", "label": "户数", "type": "int", "required": False},
    {"key": "built", "label": "建成日期", "type": "date", "required": False},
]
PREMISES_SCHEMA = [
    {"key": "licence", "label": "营业执照号", "type": "text", "required": True},
    {
        "key": "category",
        "label": "类别",
        "type": "choice",
        "choices": ["小商店", "小餐饮", "小作坊"],
    },
    {"key": "extinguisher", "label": "配备灭火器", "type": "bool"},
]


@pytest.fixture
def kinds(org):
    return {
        "building": PlaceKind.objects.create(
            code="building", name="楼栋", attribute_schema=BUILDING_SCHEMA, inspection_days=90
        ),
        "premises": PlaceKind.objects.create(
            code="premises",
            name="三小场所",
            attribute_schema=PREMISES_SCHEMA,
            inspection_days=30,
            supervising_department=org.units["county-sj"],
        ),
        "site": PlaceKind.objects.create(
            code="site", name="建筑工地", geometry_type=GeometryType.POLYGON, inspection_days=14
        ),
    }


def point(org, grid: str, k: int = 0) -> tuple[float, float]:
    """A point inside ``grid``, a little off its centre (k = 0…8)."""
    lat, lng = org.point_in(org.grids[grid])
    return lat + (k % 3 - 1) * 0.002, lng + (k // 3 - 1) * 0.002


_names = itertools.count(1)


def add_building(org, kinds, *, who="gw", grid="east-v1-g1", **kwargs) -> Place:
    lat, lng = point(org, grid)
    values = {
        "name": f"测试楼 {next(_names)}",
        "lat": lat,
        "lng": lng,
        "attributes": {"floors": 6, "households": 24},
        "contact_name": "王五",
        "contact_phone": "13812345678",
        **kwargs,
    }
    place, created = services.place_add(actor=org.users[who], kind=kinds["building"], **values)
    assert created
    return place
