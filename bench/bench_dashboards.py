#!/usr/bin/env python3
"""Evaluation dashboards on 1,000,000 cases: server time of every dashboard page and query.

    createdb -h 127.0.0.1 -U postgres liandong_bench_eval
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/liandong_bench_eval \\
        .venv/bin/python bench/bench_dashboards.py [--cases 1000000] [--days 2000] [--repeat 7]

1. Migrates the bench database and, unless it already holds ``--cases`` cases, loads a county
   (15 towns × 20 villages × 3 grids, 12 departments with a stationed unit in every town, 32
   categories, a grid worker per grid) and ``--cases`` cases spread over ``--days`` days with
   their full history (≈8 events per case) and citizen ratings — written with PostgreSQL COPY
   (plain INSERTs on SQLite), in the shape the workflow service leaves them.
2. Builds the rollups from scratch (``rollups_rebuild``, the same code the beat task runs per
   dirty day) and times it, then times one incremental refresh after a day of new activity.
3. Requests every dashboard page in-process (Django test client: URL routing, scoping, queries,
   templates — the server's whole share of a request) as the county leader, a town dispatcher
   and a village handler, ``--repeat`` times each, and prints median / max milliseconds.

Nothing outside the bench database is touched. Figures are in docs/performance.md (Evaluation pages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LIANDONG_DATA_DIR", "/tmp/liandong-bench")
os.environ.pop("REDIS_URL", None)  # in-process cache and eager tasks: nothing leaves this process
os.environ["DEBUG"] = "0"
os.environ.setdefault("STATIC_MANIFEST", "0")  # no collectstatic needed to render pages

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.cases.models import Case, CaseEvent, Category  # noqa: E402
from apps.evaluation.models import DailyRollup  # noqa: E402
from apps.org.models import Grid, Platform, Profile, Region, Role, Tier, Unit, UnitKind  # noqa: E402
from apps.public.models import Rating  # noqa: E402
from bench.dashboards_data import load_cases  # noqa: E402

SH = timezone.get_default_timezone()
COUNTY_CODE = "330399000000"
TOWNS, VILLAGES, GRIDS = 15, 20, 3
DEPARTMENTS = [
    "城管",
    "市场监管",
    "生态环境",
    "住建",
    "交通",
    "应急",
    "消防",
    "卫健",
    "民政",
    "水利",
    "公安",
    "农业",
]
PASSWORD = "bench-pass-123"


def say(message: str) -> None:
    print(message, flush=True)


# --- the organisation ------------------------------------------------------------------------


def build_org() -> dict:
    county = Region.objects.filter(code=COUNTY_CODE).first()
    if county is None:
        with transaction.atomic():
            county = Region.objects.create(code=COUNTY_CODE, name="基准区", tier=Tier.COUNTY)
            departments = [
                Unit.objects.create(
                    name=f"区{n}局", code=f"bench-d{i}", kind=UnitKind.DEPARTMENT, region=county
                )
                for i, n in enumerate(DEPARTMENTS)
            ]
            grids = []
            for t in range(TOWNS):
                town = Region.objects.create(
                    code=f"330399{101 + t:03d}000",
                    name=f"基准{t + 1}镇",
                    tier=Tier.TOWN,
                    parent=county,
                )
                platform = Platform.objects.create(town=town, code="zhifa", name="综合执法")
                for i, dep in enumerate(departments):
                    Unit.objects.create(
                        name=f"{town.name}{DEPARTMENTS[i]}所",
                        code=f"bench-t{t}-d{i}",
                        kind=UnitKind.STATIONED,
                        region=town,
                        department=dep,
                        platform=platform,
                    )
                for v in range(VILLAGES):
                    village = Region.objects.create(
                        code=f"{town.code[:9]}{201 + v:03d}",
                        name=f"{town.name}{v + 1}村",
                        tier=Tier.VILLAGE,
                        parent=town,
                    )
                    Unit.objects.create(
                        name=f"{village.name}工作站",
                        code=f"bench-t{t}-v{v}",
                        kind=UnitKind.WORKSTATION,
                        region=village,
                    )
                    for g in range(GRIDS):
                        lng = 121.0 + (t * VILLAGES + v) * 0.01
                        lat = 29.5 + g * 0.01
                        ring = [
                            [lng, lat],
                            [lng + 0.01, lat],
                            [lng + 0.01, lat + 0.01],
                            [lng, lat + 0.01],
                            [lng, lat],
                        ]
                        grids.append(
                            Grid(
                                code=f"{village.code}{g + 1:03d}",
                                name=f"{village.name}{g + 1}号网格",
                                village=village,
                                boundary={"type": "Polygon", "coordinates": [ring]},
                                min_lng=lng,
                                max_lng=lng + 0.01,
                                min_lat=lat,
                                max_lat=lat + 0.01,
                                centroid_lng=lng + 0.005,
                                centroid_lat=lat + 0.005,
                            )
                        )
            Grid.objects.bulk_create(grids)
            for p in range(8):
                parent = Category.objects.create(code=f"bench-c{p}", name=f"大类{p + 1}")
                for c in range(4):
                    Category.objects.create(
                        code=f"bench-c{p}-{c}", name=f"大类{p + 1}小类{c + 1}", parent=parent
                    )
            # People: a grid worker per grid, a desk at the county, at town 1 and at its village 1.
            group = {r: Group.objects.get_or_create(name=r)[0] for r in Role.values}
            for grid in Grid.objects.filter(village__parent__parent=county).select_related(
                "village"
            ):
                user = User.objects.create(username=f"bench-gw-{grid.pk}", password="!")
                profile = Profile.objects.create(
                    user=user,
                    role=Role.GRID_WORKER,
                    display_name=f"网格员{grid.pk}",
                    region=grid.village,
                )
                profile.grids.set([grid])
            town1 = Region.objects.get(code="330399101000")
            village1 = Region.objects.get(code="330399101201")
            for username, role, region, unit in [
                ("bench-leader", Role.LEADER, county, None),
                ("bench-td", Role.TOWN_DISPATCHER, town1, None),
                ("bench-vh", Role.VILLAGE_HANDLER, village1, Unit.objects.get(code="bench-t0-v0")),
            ]:
                user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True)
                user.groups.add(group[role])
                Profile.objects.create(
                    user=user, role=role, display_name=username, region=region, unit=unit
                )
    grids = list(
        Grid.objects.filter(village__parent__parent=county)
        .select_related("village__parent")
        .order_by("pk")
    )
    return {
        "county": county,
        "grids": [
            (g.pk, g.village_id, g.village.parent_id, g.centroid_lat, g.centroid_lng) for g in grids
        ],
        "workers": dict(
            Profile.objects.filter(
                role=Role.GRID_WORKER, region__parent__parent=county
            ).values_list("grids__id", "user_id")
        ),
        "stationed": {
            (u.region_id, u.department_id): u.pk
            for u in Unit.objects.filter(kind=UnitKind.STATIONED, region__parent=county)
        },
        "workstations": dict(
            Unit.objects.filter(
                kind=UnitKind.WORKSTATION, region__parent__parent=county
            ).values_list("region_id", "pk")
        ),
        "departments": list(
            Unit.objects.filter(kind=UnitKind.DEPARTMENT, region=county).values_list(
                "pk", flat=True
            )
        ),
        "categories": list(
            Category.objects.filter(code__startswith="bench-c", parent__isnull=False).values_list(
                "pk", flat=True
            )
        ),
    }


# --- cases, history, ratings -------------------------------------------------------------------


# --- timing ----------------------------------------------------------------------------------


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm: first-request imports, template compilation
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the rollups even if present"
    )
    parser.add_argument("--load-only", action="store_true", help="load the cases and stop")
    args = parser.parse_args()

    say(
        f"database: {settings.DATABASES['default']['ENGINE']} {settings.DATABASES['default']['NAME']}"
    )
    if not settings.DATABASE_IS_POSTGRES:
        say("warning: the figures in docs/performance.md are for PostgreSQL (set DATABASE_URL)")
    call_command("migrate", verbosity=0)
    org = build_org()
    have = Case.objects.filter(county=org["county"]).count()
    if have < args.cases:
        say(f"loading {args.cases - have:,} cases over {args.days} days …")
        load_cases(org, args.cases - have, args.days, args.seed + have)
    say(
        f"cases: {Case.objects.count():,}  events: {CaseEvent.objects.count():,}  ratings: {Rating.objects.count():,}"
    )
    if args.load_only:
        return

    from apps.evaluation.services import rollups_rebuild, rollups_refresh

    if args.rebuild or not DailyRollup.objects.exists():
        started = time.perf_counter()
        rows = rollups_rebuild()
        say(f"rollups_rebuild: {rows:,} rows in {time.perf_counter() - started:.0f} s")
    say(f"rollup rows: {DailyRollup.objects.count():,}")
    # One refresh with nothing new (the steady state of the beat task) …
    started = time.perf_counter()
    rollups_refresh()
    say(f"rollups_refresh (nothing new): {(time.perf_counter() - started) * 1000:.0f} ms")
    # … and one after a burst of new history on 200 cases reported over the last week.
    recent = list(
        Case.objects.filter(county=org["county"])
        .order_by("-created_at")
        .values_list("pk", flat=True)[:200]
    )
    moment = timezone.now() - dt.timedelta(minutes=10)
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(case_id=pk, action="urge", created_at=moment, notified_at=moment)
            for pk in recent
        ]
    )
    started = time.perf_counter()
    result = rollups_refresh()
    say(
        f"rollups_refresh (200 cases touched, {result['days']} days recomputed): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )

    setup_test_environment()
    town = Region.objects.get(code="330399101000")
    pages = [
        ("/evaluation/", "总览（本月）"),
        ("/evaluation/?period=365d", "总览（近一年）"),
        ("/evaluation/?period=custom&from=2020-01-01", "总览（全部历史）"),
        ("/evaluation/indicators/?kind=town&period=365d", "指标：乡镇（近一年）"),
        ("/evaluation/indicators/?kind=village&period=365d", "指标：村/社区 300 个（近一年）"),
        ("/evaluation/indicators/?kind=grid&period=month", "指标：网格 900 个（本月）"),
        ("/evaluation/indicators/?kind=stationed&period=365d", "指标：派驻机构 180 个（近一年）"),
        ("/evaluation/indicators/?kind=grid_worker&period=365d", "指标：网格员 900 人（近一年）"),
        ("/evaluation/scores/?kind=town&period=year", "考核：乡镇（本年）"),
        ("/evaluation/scores/?kind=department&period=365d", "考核：县级部门（近一年）"),
        (f"/evaluation/scores/town/{town.pk}/?period=365d", "得分构成：一个乡镇"),
        ("/evaluation/hotspots/?period=365d", "热点（近一年，按月）"),
        ("/evaluation/hotspots/?period=30d&granularity=day", "热点（近 30 天，按日）"),
        (
            "/evaluation/hotspots/?period=custom&from=2020-01-01&granularity=week",
            "热点（全部历史，按周）",
        ),
        ("/evaluation/board/", "分色预警看板"),
        ("/evaluation/board.json", "分色预警 JSON（轮询）"),
        ("/evaluation/indicators/?kind=village&period=365d&export=xlsx", "导出 Excel：村/社区指标"),
        ("/evaluation/hotspots/?period=365d&export=csv&table=cells", "导出 CSV：网格热力"),
    ]
    town_pages = [
        ("/evaluation/?period=365d", "乡镇调度员 总览（近一年）"),
        ("/evaluation/hotspots/?period=365d", "乡镇调度员 热点（近一年）"),
        ("/evaluation/board.json", "乡镇调度员 分色预警 JSON"),
    ]
    village_pages = [("/evaluation/?period=365d", "村工作站 总览（近一年）")]
    worst = 0.0
    say(f"\n{'page':<44} {'median ms':>10} {'max ms':>8}")
    for username, page_list in [
        ("bench-leader", pages),
        ("bench-td", town_pages),
        ("bench-vh", village_pages),
    ]:
        client = Client()
        assert client.login(username=username, password=PASSWORD)
        for url, label in page_list:

            def get(url=url):
                response = client.get(url)
                assert response.status_code == 200, (
                    url,
                    response.status_code,
                    response.content[:300],
                )

            median, peak = timed(get, args.repeat)
            worst = max(worst, median)
            say(f"{label:<44} {median:>10.0f} {peak:>8.0f}")
    say(
        f"\nslowest median: {worst:.0f} ms (budget 500 ms) — {'OK' if worst < 500 else 'OVER BUDGET'}"
    )


if __name__ == "__main__":
    main()
