"""Point → grid lookup.

``locate(lat, lng)`` answers which grid a point is in, or the nearest grid within
``settings.GRID_SNAP_DISTANCE_M``, or None ("outside our jurisdiction").

The index is built in memory from the Grid rows with shapely's STRtree and rebuilt when the
grids change (a version number kept in the cache, bumped by ``invalidate``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import shapely
import shapely.ops
from django.conf import settings
from django.core.cache import cache
from shapely.geometry import shape

VERSION_KEY = "org:grid-index-version"
_lock = threading.Lock()
_index: _GridIndex | None = None
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class GridMatch:
    grid_id: int
    village_id: int
    distance_m: float  # 0 when the point is inside (or on the boundary of) the grid

    @property
    def inside(self) -> bool:
        return self.distance_m == 0


class _GridIndex:
    def __init__(self, rows: list[tuple[int, int, dict]], version: int):
        self.version = version
        self.ids = [row[0] for row in rows]
        self.villages = [row[1] for row in rows]
        self.geoms = [shape(row[2]) for row in rows]
        for geom in self.geoms:
            shapely.prepare(geom)
        self.tree = shapely.STRtree(self.geoms)

    def locate(self, lat: float, lng: float, snap_m: float) -> GridMatch | None:
        point = shapely.Point(lng, lat)
        hits = self.tree.query(point, predicate="intersects")
        if len(hits):
            i = int(min(hits, key=lambda j: self.ids[j]))  # shared edge: lowest id, deterministic
            return GridMatch(self.ids[i], self.villages[i], 0.0)
        if snap_m <= 0 or not self.geoms:
            return None
        # Degrees of longitude shrink with latitude; search a box of snap_m, then measure.
        dlat = snap_m / 111_320.0
        dlng = snap_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
        box = shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat)
        best: GridMatch | None = None
        for j in self.tree.query(box):
            nearest = shapely.ops.nearest_points(self.geoms[j], point)[0]
            d = haversine_m(lat, lng, nearest.y, nearest.x)
            if d <= snap_m and (best is None or d < best.distance_m):
                best = GridMatch(self.ids[j], self.villages[j], d)
        return best


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _current_version() -> int:
    return cache.get_or_set(VERSION_KEY, 1, timeout=None)


def get_index() -> _GridIndex:
    global _index
    version = _current_version()
    if _index is not None and _index.version == version:
        return _index
    with _lock:
        if _index is None or _index.version != version:
            from apps.org.models import Grid

            rows = list(Grid.objects.values_list("pk", "village_id", "boundary"))
            _index = _GridIndex(rows, version)
    return _index


def invalidate() -> None:
    """Call after grids are created, changed or deleted (import, admin)."""
    global _index
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 2, timeout=None)
    _index = None


def locate(lat: float, lng: float, *, snap_m: float | None = None) -> GridMatch | None:
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or math.isnan(lat) or math.isnan(lng):
        return None
    return get_index().locate(lat, lng, settings.GRID_SNAP_DISTANCE_M if snap_m is None else snap_m)
