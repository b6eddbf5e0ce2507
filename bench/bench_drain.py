#!/usr/bin/env python3
"""Backlog drain benchmark: how fast one Celery worker routes and notifies a backlog of accepted
reports, beside how fast the web server accepts them — both measured in the same run, on the
same machine, so the ratio holds even when the machine is busy with other work.

    .venv/bin/python bench/bench_drain.py [--reports 3000] [--concurrency 32] [--worker-concurrency 2]
        [--database postgres://postgres@127.0.0.1:5432/liandong_bench_drain]
        [--redis redis://127.0.0.1:6379/11] [--profile OUT.prof]

What it does:

1. (Re)creates the bench database, builds the test organisation with 40 grid workers (each with
   an API token) and their village, town and county desks, and opens a WebSocket-free Redis.
2. Intake: uvicorn (``--workers 2``) takes ``--reports`` reports from 32 keep-alive connections,
   with no Celery worker running, so every report's follow-up waits in Redis and the outbox.
   Prints reports/s and server CPU per report (web processes + PostgreSQL backends).
3. Drain: stops the web server, starts one Celery worker (``--concurrency 2``, the default and
   sweeps queues) and waits until every case is routed and every history row is fanned out
   (``Case.pending_work`` empty, ``CaseEvent.notified_at`` set). From the first case routed to
   the last notification it counts cases/s and CPU per case (the worker's processes +
   PostgreSQL backends). Redis is shared with nothing else here, but its CPU is not counted
   (as in the intake figure).
4. Prints drain ÷ intake: the target is ≥ 0.5 (issue #15: a backlog drains at least half as fast
   as intake accepts reports, ≤ ~12 ms of CPU per case), and the same ratio by CPU (CPU per
   report ÷ CPU per case: the rates with the machine to itself), which holds when other work
   loads the machine unevenly between the two phases.

``--profile OUT.prof`` runs the worker with ``--pool solo`` under cProfile instead (one process;
the figures then describe the profile run, not the target).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_intake  # noqa: E402 - the intake bench's servers, phones and CPU accounting

import run  # noqa: E402 - the product's processes, started as run.py starts them
from bench.common import flush_redis, prepare  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/liandong_bench_drain"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--profile", help="write a cProfile of a solo worker to this file")
    args = parser.parse_args()
    # What bench_intake's helpers read.
    args.with_worker, args.server, args.auth = False, "uvicorn", "token"
    return args


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (a Celery worker's parent and children)."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += bench_intake.process_cpu_seconds(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def db_cpu_seconds(database: str) -> float:
    return bench_intake.server_cpu_seconds(os.getpid(), database)[1]


def backlog() -> tuple[int, int]:
    """(cases still to route, history rows still to fan out)."""
    from apps.cases.models import Case, CaseEvent

    return Case.objects.exclude(pending_work=[]).count(), CaseEvent.objects.filter(
        notified_at__isnull=True
    ).count()


def start_worker(env: dict[str, str], args: argparse.Namespace, data_dir: Path) -> subprocess.Popen:
    from django.conf import settings

    queues = ",".join(sorted({"celery", getattr(settings, "SWEEPS_QUEUE", "celery")}))
    command = run.celery_command(
        "worker",
        "-Q",
        queues,
        *run.ALONE,
        "-n",
        f"bench-drain-{os.getpid()}@%h",
        loglevel="WARNING",
    )
    if args.profile:
        command = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            args.profile,
            *command[1:],
            "--pool",
            "solo",
        ]
    else:
        command += ["--concurrency", str(args.worker_concurrency)]
    # Keep each child's database connection for the whole drain: a backend that exits takes
    # its CPU time with it, and the PostgreSQL figure would miss it (CONN_MAX_AGE is 60 s, and
    # a drain on a busy machine takes longer).
    env = {**env, "CELERY_DB_REUSE_MAX": "1000000", "DB_CONN_MAX_AGE": "1000000"}
    return run.start_logged(command, data_dir / "celery.log", env=env)


def main() -> None:
    args = parse_args()
    data_dir, env = prepare(args, "drain")
    phones, category = bench_intake.build_data("token")
    from apps.cases.models import Case, CaseEvent
    from apps.notify.models import Notification

    web = worker = None
    try:
        # --- intake -------------------------------------------------------------------------
        port, web, _ = bench_intake.start_servers(env, args, data_dir)

        async def intake():
            await bench_intake.run_phase(
                port, phones, category, 200, args.concurrency, None
            )  # warm-up
            before = bench_intake.server_cpu_seconds(web.pid, args.database)
            seconds, latencies, errors = await bench_intake.run_phase(
                port, phones, category, args.reports, args.concurrency, None
            )
            after = bench_intake.server_cpu_seconds(web.pid, args.database)
            return seconds, latencies, errors, (after[0] - before[0]) + (after[1] - before[1])

        seconds, latencies, errors, intake_cpu = asyncio.run(intake())
        web.terminate()
        web.wait(timeout=30)
        accepted = len(latencies)
        intake_rate = accepted / seconds
        intake_ms = intake_cpu / max(accepted, 1) * 1000
        waiting_cases, waiting_events = backlog()
        print(
            f"intake: {accepted} reports in {seconds:.1f} s = {intake_rate:.0f} reports/s, "
            f"{intake_ms:.1f} ms server CPU per report, {len(errors)} errors, "
            f"load average {os.getloadavg()[0]:.1f}; "
            f"backlog {waiting_cases} cases to route, {waiting_events} history rows to fan out"
        )

        # --- drain --------------------------------------------------------------------------
        worker = start_worker(env, args, data_dir)
        deadline = time.time() + 60
        while backlog()[0] == waiting_cases:  # the worker's start-up is not part of the drain
            if worker.poll() is not None or time.time() > deadline:
                raise SystemExit(
                    f"the worker did not start: {(data_dir / 'celery.log').read_text()[-3000:]}"
                )
            time.sleep(0.05)
        started, cpu_worker, cpu_db = (
            time.perf_counter(),
            tree_cpu_seconds(worker.pid),
            db_cpu_seconds(args.database),
        )
        cpu_parent = bench_intake.process_cpu_seconds(worker.pid)
        first_left = backlog()[0]
        progress, last_progress = None, time.time()
        while True:
            cases_left, events_left = backlog()
            if not cases_left and not events_left:
                break
            if (cases_left, events_left) != progress:
                progress, last_progress = (cases_left, events_left), time.time()
            if worker.poll() is not None or time.time() - last_progress > 60:  # stalled: say so
                raise SystemExit(
                    f"the drain stopped with {cases_left} cases and {events_left} events left: "
                    f"{(data_dir / 'celery.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        drain_seconds = time.perf_counter() - started
        worker_cpu = tree_cpu_seconds(worker.pid) - cpu_worker
        parent_cpu = bench_intake.process_cpu_seconds(worker.pid) - cpu_parent
        database_cpu = db_cpu_seconds(args.database) - cpu_db
    finally:
        run.stop_processes(web, worker, timeout_s=30)
        flush_redis(args.redis)

    drained = first_left
    drain_rate = drained / drain_seconds
    worker_ms, db_ms = worker_cpu / drained * 1000, database_cpu / drained * 1000
    print(
        f"drain: {drained} cases routed and notified in {drain_seconds:.1f} s = {drain_rate:.0f} cases/s; "
        f"CPU per case {worker_ms + db_ms:.1f} ms (worker {worker_ms:.1f} — of which its parent process "
        f"{parent_cpu / drained * 1000:.1f} —, PostgreSQL {db_ms:.1f})"
        f"{' [profiled solo worker]' if args.profile else ''}"
    )
    ratio = drain_rate / intake_rate
    print(
        f"drain ÷ intake = {ratio:.2f} (target ≥ 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"CPU per case ÷ CPU per report = {(worker_ms + db_ms) / intake_ms:.1f}"
    )
    # What the rates would be with the machine to themselves: both sides can use every core, so
    # the capacity ratio is CPU per report ÷ CPU per case — the figure to trust when other work
    # shared the machine unevenly between the two phases (the load average says how busy it was).
    print(
        f"by CPU (machine to itself): intake {os.cpu_count() * 1000 / intake_ms:.0f} reports/s, "
        f"drain {os.cpu_count() * 1000 / (worker_ms + db_ms):.0f} cases/s, "
        f"ratio {intake_ms / (worker_ms + db_ms):.2f}"
    )
    print(
        f"check: {Case.objects.count()} cases, {Case.objects.exclude(pending_work=[]).count()} unrouted, "
        f"{CaseEvent.objects.filter(notified_at__isnull=True).count()} events not fanned out, "
        f"{Notification.objects.count()} notifications; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
