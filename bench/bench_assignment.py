#!/usr/bin/env python3
"""Assignment benchmark: a report's commit → its ROUTE event (分流, the case assigned to its
village workstation) by an idle real Celery worker, in the production profile (PostgreSQL + Redis).

    .venv/bin/python bench/bench_assignment.py [--reports 200]
        [--database postgres://postgres@127.0.0.1:5432/liandong_bench_assign]
        [--redis redis://127.0.0.1:6379/11] [--celery-concurrency 2] [--gap-ms 100]

What it does:

1. (Re)creates the bench database (a separate one: it is dropped first; real names are refused),
   migrates it and builds the test organisation (tests/factories.py). Flushes the given Redis
   database (do not point it at one that holds anything else).
2. Starts a Celery worker exactly as ``run.py`` does (prefork, ``--celery-concurrency`` children,
   acks_late, prefetch 1) against that database and Redis, and waits until it is ready.
3. Files ``--reports`` reports one after another through ``services.case_report`` (grid worker,
   random points over the grids). The clock starts in the first ``on_commit`` callback — the
   moment the report is committed, before its messages are sent — and stops when this process
   sees the committed ROUTE event (polled every millisecond). Between two reports it waits
   ``--gap-ms`` so that each report meets an idle worker.
4. Prints p50/p95/p99/max; the target is p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run  # noqa: E402 - the product's processes, started as run.py starts them
from bench.common import percentile, recreate_database  # noqa: E402

POLL_S = float(os.environ.get("BENCH_POLL_S", "0.005"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/liandong_bench_assign"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--gap-ms", type=float, default=100.0, help="pause between two reports")
    return parser.parse_args()


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen:
    options = ["--concurrency", str(concurrency), *run.ALONE, "-n", f"bench-{os.getpid()}@%h"]
    proc = run.start_logged(run.celery_command("worker", *options), log_path)
    try:
        run.wait_until_up(proc, log_path, interval_s=0.1)
    except RuntimeError:
        run.stop_processes(proc)
        raise
    return proc


def main() -> None:
    args = parse_args()
    recreate_database(args.database)
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    os.environ.update(
        DATABASE_URL=args.database,
        REDIS_URL=args.redis,
        LIANDONG_FAST_PASSWORD_HASHER="1",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.setdefault("LIANDONG_DATA_DIR", tempfile.mkdtemp(prefix="liandong-bench-assign-"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from apps.cases import services
    from apps.cases.models import Action, CaseEvent
    from tests.factories import build_test_org

    call_command("migrate", verbosity=0)
    org = build_test_org()
    reporter = org.users["gw"]
    category = org.categories["rubbish"]
    grids = list(org.grids.values())
    rng = random.Random(1)

    log_path = Path(os.environ["LIANDONG_DATA_DIR"]) / "bench-worker.log"
    worker = start_worker(args.celery_concurrency, log_path)
    latencies: list[float] = []
    try:

        def one_report(index: int) -> float:
            grid = rng.choice(grids)
            lat = grid.min_lat + rng.random() * (grid.max_lat - grid.min_lat)
            lng = grid.min_lng + rng.random() * (grid.max_lng - grid.min_lng)
            committed: list[float] = []
            with transaction.atomic():
                transaction.on_commit(lambda: committed.append(time.perf_counter()))
                case, _created = services.case_report(
                    reporter=reporter,
                    category=category,
                    description=f"基准上报 {index}",
                    lat=lat,
                    lng=lng,
                    accuracy_m=5,
                )
            routed = CaseEvent.objects.filter(case_id=case.pk, action=Action.ROUTE)
            deadline = time.perf_counter() + 10
            while not routed.exists():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"report {case.pk} was not routed within 10 s; see {log_path}")
                time.sleep(POLL_S)
            return (time.perf_counter() - committed[0]) * 1000

        for i in range(10):  # warm-up: worker children import everything, connections open
            one_report(-i)
            time.sleep(args.gap_ms / 1000)
        for i in range(args.reports):
            latencies.append(one_report(i))
            time.sleep(args.gap_ms / 1000)
    finally:
        run.stop_processes(worker)
        redis.Redis.from_url(args.redis).flushdb()

    p95 = percentile(latencies, 95)
    print(
        f"database: PostgreSQL {urlparse(args.database).path.lstrip('/')}; broker: Redis {args.redis}; "
        f"worker: prefork × {args.celery_concurrency}"
    )
    print(
        f"reports: {len(latencies)}; commit → ROUTE event visible (ms): "
        f"p50 {percentile(latencies, 50):.1f}  p95 {p95:.1f}  p99 {percentile(latencies, 99):.1f}  "
        f"max {max(latencies):.1f}  mean {statistics.mean(latencies):.1f}"
    )
    verdict = "OK" if p95 < 100 else "SLOWER THAN THE 100 ms TARGET"
    print(
        f"result: p95 {p95:.1f} ms — {verdict}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
