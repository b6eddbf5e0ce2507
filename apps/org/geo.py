"""Point → grid lookup (the map).

``locate(lat, lng)`` answers which grid a point is in, or the nearest grid within
``settings.GRID_SNAP_DISTANCE_M`` (``snap_m``), or None ("outside our jurisdiction").

How the index answers fast (every report, every benchmark, ≥100,000 lookups/s on one core):

1. The bounding box of all grids is cut into a uniform lattice of square cells, about a quarter
   of a typical grid wide. Each cell is classified once, with shapely, when the index is built:
   - *pure*: exactly one grid touches the closed cell and covers it — the answer is stored in
     the cell, so a lookup is two multiplications and a list index;
   - *mixed*: several grids (or one grid's edge) cross the cell — the cell keeps the few
     candidate grids, and a lookup tests the point against their prepared geometries, the grid
     with the biggest share of the cell first;
   - *empty*: no grid touches the cell — the point is outside every grid.
2. A point outside every grid is measured against the grids near it (an STRtree query over a
   box of ``snap_m``), and belongs to the nearest one if it is at most ``snap_m`` metres away.
3. A point on a boundary shared by several grids belongs to the grid with the lowest id, so the
   same point always gets the same answer, whatever the cell lattice.

The index lives in memory per process and is rebuilt when the grids change: ``invalidate()``
(called by imports, the admin and the demo generator) drops it here and bumps a version number
in the shared cache, which other processes (web workers, Celery) notice within
``GRID_INDEX_RECHECK_S`` seconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops
from django.conf import settings
from shapely.geometry import shape

from apps.core.versions import SharedVersion

VERSION_KEY = "org:grid-index-version"
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = 111_320.0
# Aim for this many cells across a typical grid's side; more cells → more pure cells but more memory.
CELLS_PER_GRID_SIDE = 6
MAX_CELLS = 3_000_000

# The raw ufunc skips shapely's Python-level argument handling (≈3× faster per call); the
# public function is the fallback should a future shapely stop exporting it.
_intersects_xy = getattr(shapely.lib, "intersects_xy", shapely.intersects_xy)
_contains_xy = getattr(shapely.lib, "contains_xy", shapely.contains_xy)

_lock = threading.Lock()
_index: GridIndex | None = None


@dataclass(frozen=True, slots=True)
class GridMatch:
    grid_id: int
    village_id: int
    distance_m: float  # 0 when the point is inside (or on the boundary of) the grid

    @property
    def inside(self) -> bool:
        return self.distance_m == 0


@dataclass(frozen=True, slots=True)
class GridPlace:
    """Where a grid sits in the organisation, kept with the index so that taking a report needs
    no query for its village, town and county (a report is filed under all three)."""

    name: str
    village_id: int
    town_id: int | None
    county_id: int | None


class GridIndex:
    """An immutable lookup structure over a list of (grid id, village id, GeoJSON geometry)."""

    def __init__(
        self, rows: Iterable[tuple[int, int, dict]], version: int = 0, *, margin_m: float = 500.0
    ):
        self.version = version
        self.margin_m = margin_m
        # Sorting by id makes "lowest id wins on a shared boundary" the natural scan order.
        rows = sorted(rows, key=lambda row: row[0])
        self.ids = [row[0] for row in rows]
        self.villages = [row[1] for row in rows]
        self.geoms = [shape(row[2]) for row in rows]
        self.geom_array = np.array(self.geoms, dtype=object)
        shapely.prepare(self.geom_array)
        self.inside = [GridMatch(gid, vid, 0.0) for gid, vid in zip(self.ids, self.villages)]
        self.places: dict[int, GridPlace] = {}
        self.tree = shapely.STRtree(self.geoms)
        self._build_cells()

    def __len__(self) -> int:
        return len(self.ids)

    def _build_cells(self) -> None:
        self.nx = self.ny = 0
        self.cells: list = []
        self.x0 = self.y0 = 0.0
        self.inv_cell = 1.0
        self.pure_cells = self.mixed_cells = 0
        if not self.geoms:
            return
        bounds = shapely.bounds(self.geom_array)
        # The lattice reaches margin_m beyond the grids, so points just outside the county find
        # an empty cell that knows how far the nearest grid is at least.
        max_abs_lat = float(np.abs(bounds[:, [1, 3]]).max())
        self.cos_max_lat = max(math.cos(math.radians(min(max_abs_lat, 89.0))), 0.01)
        margin = self.margin_m / (METRES_PER_DEGREE * self.cos_max_lat)
        x0, y0 = float(bounds[:, 0].min()) - margin, float(bounds[:, 1].min()) - margin
        x1, y1 = float(bounds[:, 2].max()) + margin, float(bounds[:, 3].max()) + margin
        typical_side = float(
            np.median(np.sqrt((bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])))
        )
        cell = max(typical_side / CELLS_PER_GRID_SIDE, 1e-7)
        # Keep memory bounded when grids are tiny compared with the area they spread over.
        while math.ceil((x1 - x0) / cell + 1) * math.ceil((y1 - y0) / cell + 1) > MAX_CELLS:
            cell *= 1.5
        nx = int(math.floor((x1 - x0) / cell)) + 1
        ny = int(math.floor((y1 - y0) / cell)) + 1
        self.x0, self.y0, self.nx, self.ny, self.cell = x0, y0, nx, ny, cell
        self.inv_cell = 1.0 / cell

        # Cell (ix, iy) is the box [x0 + ix·c, x0 + (ix+1)·c] × [y0 + iy·c, …], index iy·nx + ix.
        # Classification boxes are a hair larger than the cells, so rounding in the lookup's
        # arithmetic can never send a point to a cell that was classified without it.
        iy_all, ix_all = np.divmod(np.arange(nx * ny), nx)
        eps = cell * 1e-6
        boxes = shapely.box(
            x0 + ix_all * cell - eps,
            y0 + iy_all * cell - eps,
            x0 + (ix_all + 1) * cell + eps,
            y0 + (iy_all + 1) * cell + eps,
        )
        cell_idx, geom_idx = self.tree.query(boxes, predicate="intersects")
        order = np.lexsort((geom_idx, cell_idx))  # by cell, then by grid position (= by id)
        cell_idx, geom_idx = cell_idx[order], geom_idx[order]
        counts = np.bincount(cell_idx, minlength=nx * ny)
        starts = np.concatenate(([0], np.cumsum(counts)))

        # One grid touching the cell: pure if that grid covers the whole (closed) cell.
        single = np.flatnonzero(counts == 1)
        single_geom = geom_idx[starts[single]]
        covered = shapely.covers(self.geom_array[single_geom], boxes[single])

        # Empty cells hold a lower bound of the distance (m) from any of their points to a grid:
        # a lookup asked to snap less than that answers "outside" without measuring.
        empty = np.flatnonzero(counts == 0)
        _, nearest_deg = self.tree.query_nearest(
            boxes[empty], return_distance=True, all_matches=False
        )
        lower_bound_m = (
            np.maximum(nearest_deg - 2 * eps, 0) * METRES_PER_DEGREE * self.cos_max_lat * 0.99
        )

        # Mixed cells try their candidates biggest share of the cell first (most points are
        # strictly inside it: one test), then, for points on an edge or in no grid, by id.
        shares = shapely.area(shapely.intersection(self.geom_array[geom_idx], boxes[cell_idx]))
        cells: list = [None] * (nx * ny)
        for c, bound in zip(empty.tolist(), lower_bound_m.tolist()):
            cells[c] = bound
        geom_list, share_list, start_list = geom_idx.tolist(), shares.tolist(), starts.tolist()
        for c in np.flatnonzero(counts).tolist():
            lo, hi = start_list[c], start_list[c + 1]
            by_id = tuple(geom_list[lo:hi])
            shares_here: list[float] = share_list[lo:hi]
            by_share = tuple(sorted(by_id, key=lambda g: -shares_here[by_id.index(g)]))
            cells[c] = (by_share, by_id)
        for c, g, is_covered in zip(single.tolist(), single_geom.tolist(), covered.tolist()):
            if is_covered:
                cells[c] = self.inside[g]
        self.cells = cells
        self.pure_cells = int(covered.sum())
        self.mixed_cells = int((counts > 0).sum()) - self.pure_cells

    def locate(self, lat: float, lng: float, snap_m: float) -> GridMatch | None:
        fx = (lng - self.x0) * self.inv_cell
        fy = (lat - self.y0) * self.inv_cell
        if fx >= 0 and fy >= 0 and fx < self.nx and fy < self.ny:
            found = self.cells[int(fy) * self.nx + int(fx)]
            kind = found.__class__
            if kind is GridMatch:  # pure cell
                return found
            if kind is tuple:  # mixed cell
                geoms = self.geoms
                by_share, by_id = found
                for j in by_share:  # strictly inside: grids do not overlap, so the answer
                    if _contains_xy(geoms[j], lng, lat):
                        return self.inside[j]
                for j in by_id:  # on an edge: the lowest id of the grids it touches
                    if _intersects_xy(geoms[j], lng, lat):
                        return self.inside[j]
            elif snap_m < found:  # empty cell, every grid farther than snap_m
                return None
        elif snap_m <= self.margin_m:  # beyond the lattice: more than margin_m from any grid
            return None
        if snap_m <= 0 or not self.geoms:
            return None
        return self.nearest(lat, lng, snap_m)

    def nearest(self, lat: float, lng: float, snap_m: float) -> GridMatch | None:
        """The grid nearest to a point outside every grid, if it is at most ``snap_m`` away
        (ties: the lowest id)."""
        point = shapely.Point(lng, lat)
        # Degrees of longitude shrink with latitude; search a box of snap_m, then measure.
        dlat = snap_m / METRES_PER_DEGREE
        dlng = snap_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        candidates = np.sort(
            self.tree.query(shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat))
        )
        if not len(candidates):
            return None
        # The closest point of each candidate, then the true distance on the sphere.
        lines = shapely.shortest_line(self.geom_array[candidates], point)
        ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)[:, 0, :]
        distances = _haversine_np(lat, lng, ends[:, 1], ends[:, 0])
        best = int(np.argmin(distances))  # first minimum: the lowest id among equals
        if distances[best] > snap_m:
            return None
        j = int(candidates[best])
        return GridMatch(self.ids[j], self.villages[j], float(distances[best]))


def _haversine_np(lat: float, lng: float, lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lngs - lng)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


GRID_VERSION = SharedVersion(VERSION_KEY, "GRID_INDEX_RECHECK_S")


def _current_version() -> int:
    return GRID_VERSION.current(recheck=True)


def get_index() -> GridIndex:
    """This process's index, rebuilt from the Grid rows when another process changed them."""
    global _index
    version = GRID_VERSION.current()
    index = _index
    if index is not None and index.version == version:
        return index
    with _lock:
        if _index is None or _index.version != version:
            from apps.org.models import Grid

            rows = list(
                Grid.objects.values_list(
                    "pk",
                    "village_id",
                    "boundary",
                    "name",
                    "village__parent_id",
                    "village__parent__parent_id",
                )
            )
            index = GridIndex(
                [row[:3] for row in rows],
                version,
                margin_m=max(500.0, settings.GRID_SNAP_DISTANCE_M),
            )
            index.places = {
                pk: GridPlace(name, village_id, town_id, county_id)
                for pk, village_id, _boundary, name, town_id, county_id in rows
            }
            _index = index
        return _index


def place_of(grid_id: int) -> GridPlace | None:
    """The grid's name, village, town and county as the index has them (None: not indexed)."""
    return get_index().places.get(grid_id)


def _forget_index() -> None:
    global _index
    _index = None


def invalidate() -> None:
    """Call when grids are created, changed or deleted (import, admin, demo generator), inside
    the transaction that changes them: every process rebuilds its index from the new rows."""
    GRID_VERSION.changed(_forget_index)


def locate(lat: float, lng: float, *, snap_m: float | None = None) -> GridMatch | None:
    """The grid at (lat, lng); else the nearest grid within ``snap_m`` metres (default
    ``settings.GRID_SNAP_DISTANCE_M``); else None — outside our jurisdiction. Coordinates that
    are not finite numbers within ±90/±180 also answer None."""
    try:
        lat, lng = float(lat), float(lng)
    except (TypeError, ValueError):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):  # also rejects NaN
        return None
    return get_index().locate(
        lat, lng, settings.GRID_SNAP_DISTANCE_M if snap_m is None else float(snap_m)
    )
