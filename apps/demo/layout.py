"""Cutting a county's area into non-overlapping grid polygons, deterministically.

The county is a jittered lattice: a regular grid of vertices, each moved by a random amount of
less than a quarter of the spacing, so every lattice cell becomes an irregular quadrilateral.
Neighbouring cells share their vertices exactly, so the polygons tile the area with no gaps and
no overlaps, and no quadrilateral can self-intersect (opposite edges stay at least half a
spacing apart). Towns are rectangular blocks of cells (a small treemap); inside a town, cells
are taken in snake order, so each village's grids form one connected run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# A plausible spot in eastern Zhejiang, and the county's rough size in degrees (≈ 25 km × 18 km).
ORIGIN_LNG, ORIGIN_LAT = 121.43, 29.72
EXTENT_LNG, EXTENT_LAT = 0.26, 0.17
JITTER = 0.22  # of the spacing; must stay below 0.25 for the quadrilaterals to remain simple
DECIMALS = 6  # ≈ 0.1 m; shared vertices round identically, so neighbours still share edges


@dataclass(frozen=True)
class Block:
    """A rectangle of lattice cells: columns [c0, c0 + w), rows [r0, r0 + h)."""

    c0: int
    r0: int
    w: int
    h: int

    @property
    def size(self) -> int:
        return self.w * self.h


def lattice_shape(n_cells: int) -> tuple[int, int]:
    """Columns and rows for about ``n_cells`` cells in the county's aspect ratio (cols·rows ≥ n)."""
    aspect = EXTENT_LNG * math.cos(math.radians(ORIGIN_LAT)) / EXTENT_LAT
    cols = max(1, round(math.sqrt(n_cells * aspect)))
    rows = max(1, math.ceil(n_cells / cols))
    return cols, rows


def jittered_vertices(rng: random.Random, cols: int, rows: int) -> list[list[tuple[float, float]]]:
    """(lng, lat) of every lattice vertex, ``[row][col]``, with cols+1 × rows+1 vertices."""
    dx, dy = EXTENT_LNG / cols, EXTENT_LAT / rows
    vertices = []
    for r in range(rows + 1):
        row = []
        for c in range(cols + 1):
            x = ORIGIN_LNG + (c + rng.uniform(-JITTER, JITTER)) * dx
            y = ORIGIN_LAT + (r + rng.uniform(-JITTER, JITTER)) * dy
            row.append((round(x, DECIMALS), round(y, DECIMALS)))
        vertices.append(row)
    return vertices


def cell_polygon(vertices: list[list[tuple[float, float]]], col: int, row: int) -> dict:
    """The GeoJSON Polygon of lattice cell (col, row), counter-clockwise, closed."""
    ring = [
        vertices[row][col],
        vertices[row][col + 1],
        vertices[row + 1][col + 1],
        vertices[row + 1][col],
    ]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def treemap(block: Block, weights: list[float]) -> list[Block]:
    """Split a block into one rectangle per weight, sizes roughly proportional to the weights."""
    if len(weights) == 1:
        return [block]
    total = sum(weights)
    half, k = 0.0, 0
    while k < len(weights) - 1 and half + weights[k] <= total / 2:
        half += weights[k]
        k += 1
    k = max(k, 1)
    share = sum(weights[:k]) / total
    if block.w >= block.h:
        cut = min(max(round(block.w * share), 1), block.w - 1)
        first, second = (
            Block(block.c0, block.r0, cut, block.h),
            Block(block.c0 + cut, block.r0, block.w - cut, block.h),
        )
    else:
        cut = min(max(round(block.h * share), 1), block.h - 1)
        first, second = (
            Block(block.c0, block.r0, block.w, cut),
            Block(block.c0, block.r0 + cut, block.w, block.h - cut),
        )
    return treemap(first, weights[:k]) + treemap(second, weights[k:])


def snake(block: Block) -> list[tuple[int, int]]:
    """The block's cells (col, row) column by column, alternating direction, so any run of
    consecutive cells is connected."""
    cells = []
    for i, c in enumerate(range(block.c0, block.c0 + block.w)):
        rows = range(block.r0, block.r0 + block.h)
        cells.extend((c, r) for r in (rows if i % 2 == 0 else reversed(rows)))
    return cells


def split_counts(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` positive integers that vary around the mean."""
    parts = max(1, min(parts, total))
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


def county_layout(
    rng: random.Random, *, n_grids: int, villages_per_town: list[int]
) -> list[list[list[dict]]]:
    """Grid polygons for a county: ``[town][village][grid] -> GeoJSON Polygon``.

    Exactly ``n_grids`` polygons. Villages are dropped from a town that has fewer cells than
    villages (only when asked for very few grids).
    """
    n_towns = len(villages_per_town)
    if n_grids < n_towns * 2:
        raise ValueError(f"need at least {n_towns * 2} grids for {n_towns} towns")
    cols, rows = lattice_shape(n_grids)
    while cols * rows < n_grids:
        rows += 1
    vertices = jittered_vertices(rng, cols, rows)
    town_weights = [v * rng.uniform(0.8, 1.2) for v in villages_per_town]
    blocks = treemap(Block(0, 0, cols, rows), town_weights)
    # Cells beyond n_grids are left out at the end of the largest town's snake.
    surplus = cols * rows - n_grids
    largest = max(range(len(blocks)), key=lambda t: blocks[t].size)
    towns = []
    for t, block in enumerate(blocks):
        cells = snake(block)
        if t == largest and surplus:
            cells = cells[:-surplus]
        counts = split_counts(rng, len(cells), villages_per_town[t])
        villages, i = [], 0
        for count in counts:
            villages.append([cell_polygon(vertices, c, r) for c, r in cells[i : i + count]])
            i += count
        towns.append(villages)
    return towns


def random_grids(n_grids: int, seed: int = 1) -> list[dict]:
    """Just the polygons (for benchmarks): ``n_grids`` non-overlapping grids over the county."""
    rng = random.Random(seed)
    towns = county_layout(rng, n_grids=n_grids, villages_per_town=[8] * 8)
    return [grid for town in towns for village in town for grid in village]
