"""The map: point → grid, through the cell index (apps/org/geo.py)."""

from __future__ import annotations

import math
import random

import pytest

from apps.demo.layout import random_grids
from apps.org import geo
from tests.factories import BASE_LAT, BASE_LNG, SIDE, another_process_bumps, square

M_PER_DEG_LAT = 111_320.0


def test_a_point_inside_a_grid_finds_that_grid_and_its_village(org):
    grid = org.grids["east-v1-g2"]
    match = geo.locate(*org.point_in(grid))
    assert match is not None
    assert (match.grid_id, match.village_id, match.distance_m, match.inside) == (
        grid.pk,
        grid.village_id,
        0.0,
        True,
    )


def test_every_grid_centre_finds_its_own_grid(org):
    for grid in org.grids.values():
        assert geo.locate(*org.point_in(grid)).grid_id == grid.pk


def test_a_point_on_a_shared_edge_belongs_to_the_grid_with_the_lowest_id(org):
    left, right = (
        org.grids["east-v1-g1"],
        org.grids["east-v1-g2"],
    )  # neighbours, left has the lower id
    assert left.pk < right.pk
    edge_lng = BASE_LNG + SIDE
    for lat in (BASE_LAT + 0.001, BASE_LAT + SIDE / 2, BASE_LAT + SIDE - 0.0001):
        assert geo.locate(lat, edge_lng).grid_id == left.pk
    # the corner both share: still the lowest id, every time
    assert {geo.locate(BASE_LAT, edge_lng).grid_id for _ in range(5)} == {left.pk}


def test_a_point_on_an_outer_edge_is_inside_that_grid(org):
    grid = org.grids["east-v1-g1"]
    match = geo.locate(BASE_LAT + SIDE / 2, BASE_LNG)
    assert match.grid_id == grid.pk and match.inside


def test_a_point_just_outside_snaps_to_the_nearest_grid_with_its_distance(org):
    grid = org.grids["east-v1-g2"]
    lat = BASE_LAT - 50 / M_PER_DEG_LAT  # 50 m south of the bottom edge
    match = geo.locate(lat, grid.centroid_lng)
    assert match is not None
    assert match.grid_id == grid.pk
    assert not match.inside
    assert 45 < match.distance_m < 55


def test_a_point_outside_the_snap_distance_is_outside_our_jurisdiction(org):
    lat = BASE_LAT - 400 / M_PER_DEG_LAT
    assert geo.locate(lat, org.grids["east-v1-g2"].centroid_lng) is None
    assert (
        geo.locate(lat, org.grids["east-v1-g2"].centroid_lng, snap_m=500).grid_id
        == org.grids["east-v1-g2"].pk
    )


def test_snapping_can_be_turned_off(org):
    lat = BASE_LAT - 10 / M_PER_DEG_LAT
    assert geo.locate(lat, org.grids["east-v1-g2"].centroid_lng, snap_m=0) is None


def test_a_far_away_point_is_outside_our_jurisdiction(org):
    assert geo.locate(39.9, 116.4) is None  # Beijing
    assert geo.locate(BASE_LAT, BASE_LNG - 1) is None


@pytest.mark.parametrize(
    "lat, lng",
    [
        (91, 121.5),
        (-91, 121.5),
        (29.8, 181),
        (29.8, -181),
        (math.nan, 121.5),
        (29.8, math.inf),
        (None, 121.5),
        ("north", 121.5),
        ("", ""),
    ],
)
def test_invalid_coordinates_answer_none(org, lat, lng):
    assert geo.locate(lat, lng) is None


def test_the_index_follows_a_changed_boundary_after_invalidate(org):
    grid = org.grids["east-v1-g1"]
    far_lng, far_lat = BASE_LNG + 1.0, BASE_LAT + 1.0
    assert geo.locate(far_lat + SIDE / 2, far_lng + SIDE / 2) is None
    grid.boundary = square(far_lng, far_lat)
    grid.save()
    geo.invalidate()
    assert geo.locate(far_lat + SIDE / 2, far_lng + SIDE / 2).grid_id == grid.pk
    assert geo.locate(*org.point_in(org.grids["east-v1-g2"])).grid_id == org.grids["east-v1-g2"].pk


def test_another_process_bumping_the_version_rebuilds_this_index(org, settings):
    settings.GRID_INDEX_RECHECK_S = 0
    first = geo.get_index()
    another_process_bumps(geo.VERSION_KEY)  # what invalidate() does in another process
    assert geo.get_index() is not first


def test_an_empty_map_answers_none(db):
    geo.invalidate()
    assert geo.locate(29.8, 121.5) is None


def test_the_cell_index_agrees_with_plain_polygon_tests_on_irregular_grids():
    """Random points over 400 irregular grids: the cell lattice gives exactly what testing
    every polygon would (inside: the lowest id containing the point)."""
    import shapely
    from shapely.geometry import shape

    polygons = random_grids(400, seed=7)
    index = geo.GridIndex([(i + 1, 1, p) for i, p in enumerate(polygons)])
    shapes = [shape(p) for p in polygons]
    assert index.pure_cells > 0 and index.mixed_cells > 0
    rng = random.Random(3)
    xs = [x for p in polygons for x, _ in p["coordinates"][0]]
    ys = [y for p in polygons for _, y in p["coordinates"][0]]
    # include exact vertices: points that sit on edges shared by up to four grids
    points = [(rng.uniform(min(ys), max(ys)), rng.uniform(min(xs), max(xs))) for _ in range(3000)]
    points += [(y, x) for p in polygons[:100] for x, y in p["coordinates"][0][:2]]
    for lat, lng in points:
        expected = next(
            (i + 1 for i, s in enumerate(shapes) if s.intersects(shapely.Point(lng, lat))), None
        )
        got = index.locate(lat, lng, 0)
        assert (got.grid_id if got else None) == expected, (lat, lng)
