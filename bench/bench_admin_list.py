#!/usr/bin/env python3
"""Command-desk benchmark: the admin case list (and the dashboard) over 100,000 cases.

    .venv/bin/python bench/bench_admin_list.py [--cases 100000] [--runs 15] [--check]

Uses its own database: SQLite under /tmp/liandong-bench-admin (or LIANDONG_BENCH_DIR), or
PostgreSQL if DATABASE_URL is set (point it at a scratch database). On first run it migrates,
builds the test organisation (tests/factories.py: a county, two towns, four villages, eight
grids, a dozen people) and bulk-creates the cases — spread over two years, every status and
colour, a third with a photo row — so later runs start at once. Then it requests each page
with Django's test client in this process, so the time measured is the server's time to
answer (URL routing, session, scoping, filters, queries, template rendering), and prints the
median and 95th percentile per page with the number of SQL queries.

The town dispatcher's desk covers half of all cases (50,000): harder than a real town, which
holds a fifteenth of its county. ``--check`` exits non-zero if the case list's median is not
under the 300 ms budget.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BENCH_DIR = os.environ.get("LIANDONG_BENCH_DIR", "/tmp/liandong-bench-admin")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["LIANDONG_DATA_DIR"] = BENCH_DIR
os.environ.pop("REDIS_URL", None)  # in-process cache; nothing here needs the broker
os.environ.setdefault("LIANDONG_FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("STATIC_MANIFEST", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.cases.models import (  # noqa: E402
    Case,
    CaseEvent,
    CasePhoto,
    Category,
    Colour,
    PositionSource,
    Status,
    Step,
)
from apps.org.models import Grid, Region, Tier, Unit  # noqa: E402

BUDGET_MS = 300.0
# Recent cases are in every state; cases older than a month are nearly all finished.
RECENT_WEIGHTS = [
    (Status.CLOSED, 40),
    (Status.SIGNED, 14),
    (Status.DISPATCHED, 10),
    (Status.ACCEPTED, 9),
    (Status.REPORTED, 9),
    (Status.HANDLED, 6),
    (Status.VERIFIED, 4),
    (Status.REJECTED, 4),
    (Status.MERGED, 2),
    (Status.DEFERRED, 2),
]
OLD_WEIGHTS = [
    (Status.CLOSED, 90),
    (Status.REJECTED, 4),
    (Status.MERGED, 2),
    (Status.SIGNED, 2),
    (Status.DEFERRED, 2),
]
SPAN = dt.timedelta(days=2 * 365)
STEP = {
    Status.REPORTED: Step.ACCEPT,
    Status.ACCEPTED: Step.DISPATCH,
    Status.DISPATCHED: Step.SIGN,
    Status.SIGNED: Step.HANDLE,
    Status.HANDLED: Step.VERIFY,
    Status.VERIFIED: Step.CLOSE,
}


def ensure_data(total: int, seed: int) -> None:
    from tests.factories import build_test_org

    call_command("migrate", verbosity=0, interactive=False)
    if not Region.objects.exists():
        build_test_org()
    have = Case.objects.count()
    if have >= total:
        return
    rng = random.Random(seed + have)
    grids = list(Grid.objects.select_related("village__parent__parent"))
    leaves = list(Category.objects.filter(parent__isnull=False))
    units_by_town = {
        town.pk: list(Unit.objects.filter(region=town))
        for town in Region.objects.filter(tier=Tier.TOWN)
    }
    recent, old = list(zip(*RECENT_WEIGHTS)), list(zip(*OLD_WEIGHTS))
    now = timezone.now()
    started = time.perf_counter()
    batch: list[Case] = []
    for i in range(have, total):
        grid = rng.choice(grids)
        village, town = grid.village, grid.village.parent
        # Reports arrive in id order over two years (as in production: ids follow time).
        created = now - SPAN + SPAN * (i / total) - dt.timedelta(minutes=rng.randrange(0, 60))
        statuses, weights = recent if now - created < dt.timedelta(days=30) else old
        status = rng.choices(statuses, weights)[0]
        open_ = status not in (Status.CLOSED, Status.REJECTED, Status.MERGED)
        deadline = (
            created + dt.timedelta(hours=rng.choice([2, 8, 40]))
            if open_ and status != Status.DEFERRED
            else None
        )
        if status == Status.DEFERRED:
            colour = Colour.GREY
        elif not open_:
            colour = Colour.GREEN
        else:
            colour = Colour.RED if deadline and deadline < now else Colour.BLUE
        tier = (
            rng.choice([Tier.VILLAGE, Tier.TOWN, Tier.TOWN, Tier.COUNTY])
            if status != Status.REPORTED
            else Tier.VILLAGE
        )
        holder = {Tier.VILLAGE: village, Tier.TOWN: town, Tier.COUNTY: town.parent}[tier]
        dispatched = status in (
            Status.DISPATCHED,
            Status.SIGNED,
            Status.HANDLED,
            Status.VERIFIED,
            Status.CLOSED,
        )
        batch.append(
            Case(
                tracking_number=f"B{i:012d}",
                category=rng.choice(leaves),
                severity=rng.choice([2, 3, 3, 3]),
                description=rng.choice(
                    ["路边堆放垃圾", "违章搭建彩钢棚", "楼道堆放杂物", "井盖缺失", "占道经营"]
                )
                + f" #{i}",
                address=f"人民路 {rng.randrange(1, 400)} 号",
                lat=grid.centroid_lat + rng.uniform(-0.004, 0.004),
                lng=grid.centroid_lng + rng.uniform(-0.004, 0.004),
                position_source=PositionSource.DEVICE_GPS,
                grid=grid,
                village=village,
                town=town,
                county=town.parent,
                status=status,
                tier=tier,
                holder=holder,
                colour=colour,
                lead_unit=rng.choice(units_by_town[town.pk]) if dispatched else None,
                step=STEP.get(status, Step.CLOSE),
                step_deadline=deadline,
                created_at=created,
                closed_at=created + dt.timedelta(days=2) if not open_ else None,
            )
        )
        if len(batch) == 5000:
            _flush(batch, rng)
            batch = []
            print(f"  {i + 1:,} cases …", flush=True)
    if batch:
        _flush(batch, rng)
    print(
        f"  generated {total - have:,} cases in {time.perf_counter() - started:.1f} s", flush=True
    )
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case")


def _flush(batch: list[Case], rng: random.Random) -> None:
    with transaction.atomic():
        created = Case.objects.bulk_create(batch)
        # auto_now_add overwrote created_at: put the spread-out report times back.
        for case, wanted in zip(created, batch):
            case.created_at = wanted.created_at
        Case.objects.bulk_update(created, ["created_at"], batch_size=1000)
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(case=c, action="report", actor_label="bench", to_status=c.status)
                for c in created
            ]
        )
        CasePhoto.objects.bulk_create(
            [
                CasePhoto(
                    case=c,
                    kind="report",
                    original=f"originals/bench/{c.pk}.jpg",
                    web=f"web/bench/{c.pk}.jpg",
                    thumb=f"thumbs/bench/{c.pk}.jpg",
                    sha256="0" * 64,
                    width=640,
                    height=480,
                )
                for c in created
                if rng.random() < 0.33
            ]
        )


def measure(client: Client, url: str, runs: int) -> tuple[float, float, int]:
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    times.sort()
    return (
        statistics.median(times),
        times[max(0, int(len(times) * 0.95) - 1)],
        len(ctx.captured_queries),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the case list misses the budget"
    )
    args = parser.parse_args()

    print(f"database: {connection.vendor} ({settings.DATABASES['default']['NAME']})")
    ensure_data(args.cases, args.seed)
    total = Case.objects.count()
    from django.contrib.auth.models import User

    from tests.factories import PASSWORD

    sample = (
        Case.objects.filter(town__name="东镇")
        .order_by("-created_at")
        .values_list("pk", "tracking_number")[10:11]
        .get()
    )
    pages = [
        ("case list (default)", "/admin/cases/case/"),
        ("case list, red", "/admin/cases/case/?colour__exact=red"),
        ("case list, overdue", "/admin/cases/case/?overdue=yes"),
        (
            "case list, open + category",
            f"/admin/cases/case/?state=open&cat={Category.objects.filter(parent__isnull=False).first().pk}",
        ),
        ("case list, page 200", "/admin/cases/case/?p=200"),
        ("case list, tracking no.", f"/admin/cases/case/?q={sample[1]}"),
        ("case list, text search", "/admin/cases/case/?q=%E4%BA%95%E7%9B%96"),
        ("case page", f"/admin/cases/case/{sample[0]}/change/"),
        ("dashboard", "/admin/"),
        ("dashboard stats.json", "/admin/desk/stats.json"),
    ]
    print(
        f"{total:,} cases; {args.runs} timed requests per page (after 2 warm-ups); server time in ms\n"
    )
    failed = False
    for username, label in (
        ("td", "town dispatcher (50 % of cases)"),
        ("cd", "county dispatcher (100 %)"),
    ):
        client = Client()
        assert client.login(username=username, password=PASSWORD), username
        visible = Case.objects.filter(town__name="东镇").count() if username == "td" else total
        print(
            f"{label}: {User.objects.get(username=username).profile.region.name}, {visible:,} cases in scope"
        )
        print(f"  {'page':30} {'median':>8} {'p95':>8} {'queries':>8}")
        for name, url in pages:
            median, p95, queries = measure(client, url, args.runs)
            flag = ""
            if name == "case list (default)" and median >= BUDGET_MS:
                flag, failed = "  ✗ over budget", True
            print(f"  {name:30} {median:8.1f} {p95:8.1f} {queries:8d}{flag}")
        print()
    print(f"budget: case list median < {BUDGET_MS:.0f} ms — {'MISSED' if failed else 'met'}")
    return 1 if (failed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
