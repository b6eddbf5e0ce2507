"""大联动公开 (/track/board/) on a large county: the board built from scratch (what happens once
per period every PUBLIC_BOARD_CACHE_S) and the page served from the cache, beside the leaders'
colour board (/evaluation/board.json) in the same run as the baseline.

    # a database of N cases (bench_dashboards.py builds it; 1,000,000 takes ~15 min on PostgreSQL)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/liandong_bench_board \\
        .venv/bin/python bench/bench_dashboards.py --cases 200000 --days 365 --load-only
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/liandong_bench_board \\
        .venv/bin/python bench/bench_board.py [--repeat 7]

Prints the median and maximum server time and the CPU per request of this process (the database's
own CPU is not in it: PostgreSQL runs beside).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LIANDONG_DATA_DIR", "/tmp/liandong-bench")
os.environ.pop("REDIS_URL", None)  # the process's own cache: nothing else shares it
os.environ["DEBUG"] = "0"
os.environ.setdefault("STATIC_MANIFEST", "0")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from apps.cases.models import Case  # noqa: E402
from apps.evaluation.models import DailyRollup  # noqa: E402
from apps.evaluation.services import rollups_rebuild  # noqa: E402
from apps.public.board import PERIODS, build_board  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float, float]:
    """(median ms, max ms, CPU ms per call)."""
    walls, cpu_start = [], time.process_time()
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_start) * 1000 / repeat
    return statistics.median(walls), max(walls), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    setup_test_environment()
    print(f"cases: {Case.objects.count():,}", flush=True)
    if not DailyRollup.objects.exists():
        started = time.perf_counter()
        rows = rollups_rebuild()
        print(f"rollups rebuilt: {rows:,} rows in {time.perf_counter() - started:.0f} s")
    leader = (
        User.objects.filter(profile__role="leader").first()
        or User.objects.filter(is_superuser=True).first()
    )
    desk = Client()
    desk.force_login(leader)
    public = Client()
    print(f"{'what':<44} {'median ms':>10} {'max ms':>8} {'CPU ms':>8}")

    def row(label: str, fn) -> None:
        fn()  # warm: imports, the map index, first queries
        median, worst, cpu = timed(fn, args.repeat)
        print(f"{label:<44} {median:>10.0f} {worst:>8.0f} {cpu:>8.0f}", flush=True)

    row("baseline: /evaluation/board.json (leader)", lambda: desk.get("/evaluation/board.json"))
    for period, label in PERIODS.items():
        row(f"board built from scratch, {label}", lambda p=period: build_board(p))

    def cached_page() -> None:
        response = public.get("/track/board/")
        assert response.status_code == 200

    cache.clear()
    row("/track/board/ page, from the cache", cached_page)


if __name__ == "__main__":
    main()
