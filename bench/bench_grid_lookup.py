#!/usr/bin/env python3
"""Grid lookup benchmark: point → grid over 10,000 grids, single-point lookups on one core.

    .venv/bin/python bench/bench_grid_lookup.py [--grids 10000] [--points 200000] [--seed 1]

Builds the grids in memory with the demo county's layout (irregular, non-overlapping
quadrilaterals), builds the index exactly as the product does (apps.org.geo.GridIndex), then
times ``geo.locate(lat, lng)`` — the function every report calls — one point at a time for
random points over the county's bounding box plus a margin (so some points fall outside every
grid and take the snap path). Prints the figures; nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LIANDONG_DATA_DIR", "/tmp/liandong-bench")
os.environ.pop("REDIS_URL", None)  # the version check then uses the in-process cache

import django  # noqa: E402

django.setup()

from apps.demo.layout import random_grids  # noqa: E402
from apps.org import geo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    polygons = random_grids(args.grids, seed=args.seed)
    rows = [(i + 1, (i // 50) + 1, polygon) for i, polygon in enumerate(polygons)]
    started = time.perf_counter()
    index = geo.GridIndex(rows, version=geo._current_version())
    build_s = time.perf_counter() - started
    geo._index = index  # what get_index() would have built from the Grid rows

    xs = [x for p in polygons for x, _ in p["coordinates"][0]]
    ys = [y for p in polygons for _, y in p["coordinates"][0]]
    margin_x, margin_y = (max(xs) - min(xs)) * 0.02, (max(ys) - min(ys)) * 0.02
    rng = random.Random(args.seed)
    points = [
        (
            rng.uniform(min(ys) - margin_y, max(ys) + margin_y),
            rng.uniform(min(xs) - margin_x, max(xs) + margin_x),
        )
        for _ in range(args.points)
    ]

    locate = geo.locate
    geo.locate(*points[0])  # warm up (the version check)
    started = time.perf_counter()
    results = [locate(lat, lng) for lat, lng in points]
    elapsed = time.perf_counter() - started

    inside = sum(1 for r in results if r is not None and r.inside)
    snapped = sum(1 for r in results if r is not None and not r.inside)
    outside = sum(1 for r in results if r is None)
    print(
        f"grids: {len(index):,}; index build: {build_s:.2f} s; cells: {index.nx}×{index.ny} "
        f"({index.pure_cells:,} pure, {index.mixed_cells:,} mixed)"
    )
    print(f"points: {len(points):,} (inside {inside:,}, snapped {snapped:,}, outside {outside:,})")
    print(
        f"single-point lookups: {len(points) / elapsed:,.0f} per second on one core "
        f"({elapsed / len(points) * 1e6:.2f} µs each)"
    )


if __name__ == "__main__":
    main()
