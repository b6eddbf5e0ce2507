#!/usr/bin/env python3
"""Places import benchmark: 100,000 places of one kind from one CSV file, all or nothing
(target: under 2 minutes), then the same file again with the codes it was given (idempotent:
nothing changes).

    .venv/bin/python bench/bench_places_import.py [--places 100000] [--grids 2000] [--db PATH]

Builds a fresh SQLite database (default /tmp/liandong-bench/places.sqlite3; DATABASE_URL wins if
set, e.g. a PostgreSQL database made for the run), migrates it, builds the demo county with
``--grids`` grids and a building kind with three declared attributes, writes a CSV of random
points inside the county (each row a name, address, position, risk, contact and attributes),
and times ``apps.places.services.places_import`` as the county dispatcher would run it from the
desk. Prints rows per second and the wall and CPU time of each phase.
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
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "0"
DEFAULT_DB = "/tmp/liandong-bench/places.sqlite3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=100_000)
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="print where the import spends its CPU"
    )
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{args.db}"

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command

    settings.PLACES_IMPORT_MAX_ROWS = max(settings.PLACES_IMPORT_MAX_ROWS, args.places)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    from apps.demo.county import build_demo_county
    from apps.org import geo
    from apps.org.models import Grid
    from apps.places.models import Place, PlaceEvent, PlaceKind
    from apps.places.services import places_import

    build_demo_county(grids=args.grids, with_places=False)
    print(
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"{Grid.objects.count():,} grids, set up in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    kind, _ = PlaceKind.objects.get_or_create(
        code="bench-building",
        defaults={
            "name": "楼栋",
            "attribute_schema": [
                {"key": "floors", "label": "层数", "type": "int", "required": True},
                {"key": "households", "label": "户数", "type": "int"},
                {
                    "key": "structure",
                    "label": "结构",
                    "type": "choice",
                    "choices": ["砖混", "框架", "钢结构"],
                },
            ],
        },
    )
    county = User.objects.get(username="county")

    # Random points inside the county's grids (kept only where the map places them).
    rng = random.Random(args.seed)
    index = geo.get_index()
    bounds = Grid.objects.values_list("min_lng", "min_lat", "max_lng", "max_lat")
    x0 = min(b[0] for b in bounds)
    y0 = min(b[1] for b in bounds)
    x1 = max(b[2] for b in bounds)
    y1 = max(b[3] for b in bounds)
    lines = ["name,address,lat,lng,risk,contact_name,contact_phone,层数,户数,结构"]
    while len(lines) <= args.places:
        lat, lng = rng.uniform(y0, y1), rng.uniform(x0, x1)
        if index.locate(lat, lng, 0) is None:
            continue
        n = len(lines)
        lines.append(
            f"楼栋 {n},幸福路 {n} 号,{lat:.6f},{lng:.6f},{rng.choice('ABC')},张{n % 100},"
            f"138{n:08d},{rng.randint(1, 33)},{rng.randint(0, 200)},{rng.choice(['砖混', '框架', '钢结构'])}"
        )
    data = ("\n".join(lines) + "\n").encode()
    print(f"CSV: {args.places:,} rows, {len(data) / 1e6:.1f} MB", flush=True)

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    result = places_import(actor=county, kind=kind, data=data, filename="bench.csv")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(
        f"import:    {result.created:,} created in {wall:.1f} s wall ({cpu:.1f} s CPU) — "
        f"{result.created / wall:,.0f} places/s (target < 120 s: {'met' if wall < 120 else 'MISSED'})",
        flush=True,
    )
    assert Place.objects.count() == args.places
    assert PlaceEvent.objects.count() == args.places

    # The same rows again, now with the codes they were given: nothing may change.
    header, *rows = lines
    codes = dict(Place.objects.values_list("name", "code"))
    again = ["code," + header] + [f"{codes[row.split(',', 1)[0]]},{row}" for row in rows]
    data = ("\n".join(again) + "\n").encode()
    wall, cpu = time.perf_counter(), time.process_time()
    result = places_import(actor=county, kind=kind, data=data, filename="bench-again.csv")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"re-import: {result.unchanged:,} unchanged, {result.updated} updated, {result.created} created "
        f"in {wall:.1f} s wall ({cpu:.1f} s CPU)",
        flush=True,
    )
    assert result.unchanged == args.places and PlaceEvent.objects.count() == args.places


if __name__ == "__main__":
    main()
