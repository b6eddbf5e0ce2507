#!/usr/bin/env python3
"""Live notification benchmark: assignment commit → arrival on the assignee's socket, with
500 connected WebSocket clients, in the production profile (PostgreSQL + Redis).

    .venv/bin/python bench/bench_notify.py [--clients 500] [--dispatches 200]
        [--database postgres://postgres@127.0.0.1:5432/liandong_bench_notify]
        [--redis redis://127.0.0.1:6379/9] [--web-workers 1] [--celery-concurrency 1]

What it does:

1. (Re)creates the bench database (it must be a separate one: it is dropped first), migrates
   it, builds the test organisation plus ``clients / 5`` stationed units in one town with five
   department handlers each (one API token per person), and ``dispatches`` cases waiting at
   the town desk — all through the workflow service.
2. Starts uvicorn (``config.asgi``) and a Celery worker against that database and Redis, exactly
   as ``run.py`` does in production, and waits until the worker has fanned out every event.
3. Opens one WebSocket per handler from this one process (asyncio + ``websockets``), each with
   a single-use ticket its token fetched from ``POST /api/notifications/ticket/``.
4. Dispatches the cases one after another (the town dispatcher, ``case_dispatch``), each to the
   next unit. The clock starts in the first ``on_commit`` callback — the moment the assignment
   is committed — and stops when the ``dispatch`` notification reaches each of the unit's five
   sockets.
5. Prints p50/p95/p99/max of those latencies, and the connections each web worker process
   holds with its resident memory.

The Redis database given is flushed at the start and at the end; do not point it at one that
holds anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run  # noqa: E402 - the product's processes, started as run.py starts them
from bench.common import flush_redis, percentile, prepare  # noqa: E402

MEMBERS_PER_UNIT = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--dispatches", type=int, default=200)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/liandong_bench_notify"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--web-workers", type=int, default=1)
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause between two dispatches")
    return parser.parse_args()


def build_data(clients: int, dispatches: int):
    """The organisation, ``clients`` handlers in units of five, and cases at the town desk."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from apps.cases import services as workflow
    from apps.org.models import Role, Unit, UnitKind
    from tests.factories import build_test_org, make_person

    call_command("migrate", verbosity=0)
    org = build_test_org()
    town = org.towns["east"]
    units, tokens = [], {}
    for u in range(clients // MEMBERS_PER_UNIT):
        unit = Unit.objects.create(
            name=f"东镇第{u + 1}中队", code=f"bench-{u}", kind=UnitKind.STATIONED, region=town
        )
        units.append(unit)
        for m in range(MEMBERS_PER_UNIT):
            person = make_person(f"bench-{u}-{m}", Role.DEPARTMENT_HANDLER, unit=unit)
            tokens[person.pk] = Token.objects.create(user=person).key
    cases = []
    for i in range(dispatches):
        lat, lng = org.point_in(org.grids[["east-v1-g1", "east-v1-g2"][i % 2]])
        case, _ = workflow.case_report(
            reporter=org.users["gw"],
            category=org.categories["rubbish"],
            description=f"基准测试事件 {i}",
            lat=lat,
            lng=lng,
            accuracy_m=5,
        )
        workflow.case_route(case_id=case.pk)
        workflow.case_accept(case=case, actor=org.users["vh"])
        workflow.case_escalate(case=case, actor=org.users["vh"], reason="基准测试")
        cases.append(case)
    return org, units, tokens, cases


def start_servers(env: dict[str, str], args: argparse.Namespace, data_dir: Path, procs: list):
    """Start uvicorn and a Celery worker; both are appended to ``procs`` at once, so the caller
    stops them even when the start fails half-way."""
    port = run.free_port()
    web_log = data_dir / "uvicorn.log"
    web_options = ["--no-access-log", "--log-level", "warning", "--workers", str(args.web_workers)]
    web = run.start_logged(run.web_command("127.0.0.1", port, *web_options), web_log, env=env)
    procs.append(web)
    worker_options = ["--concurrency", str(args.celery_concurrency), *run.ALONE]
    worker = run.start_logged(
        run.celery_command(
            "worker", *worker_options, "-n", f"bench-{os.getpid()}@%h", loglevel="WARNING"
        ),
        data_dir / "celery.log",
        env=env,
    )
    procs.append(worker)
    base = f"http://127.0.0.1:{port}"
    run.wait_until_up(web, web_log, url=base + "/track/")
    return base, port, web


def wait_until_fanned_out(timeout: float = 600.0) -> None:
    from apps.cases.models import CaseEvent

    deadline = time.time() + timeout
    while CaseEvent.objects.filter(notified_at__isnull=True).exists():
        if time.time() > deadline:
            raise SystemExit("the worker did not fan out the set-up events in time")
        time.sleep(0.5)


def worker_pids(web_pid: int, workers: int) -> list[int]:
    if workers <= 1:
        return [web_pid]
    children = [
        int(pid) for pid in Path(f"/proc/{web_pid}/task/{web_pid}/children").read_text().split()
    ]
    # uvicorn's supervisor also starts multiprocessing's resource tracker: not a web worker.
    return [
        pid
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def established_sockets(pid: int, port: int) -> int:
    """TCP connections in state ESTABLISHED on ``port`` whose socket this process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Clients:
    """All sockets in one asyncio loop; arrival times of dispatch notifications by case."""

    def __init__(self, base: str, tokens: dict[int, str]):
        self.base = base
        self.tokens = tokens
        self.sockets = []
        self.arrivals: dict[int, list[float]] = {}
        self.waiters: dict[int, asyncio.Future] = {}
        self.expected: dict[int, int] = {}
        self.listeners: list[asyncio.Task] = []  # held, so no listening task is collected

    async def connect_all(self, batch: int = 50) -> None:
        from websockets.asyncio.client import connect

        url = self.base.replace("http://", "ws://") + "/ws/notifications/"

        def ticket_for(token: str) -> str:
            # As every token client does: trade the token for a single-use ticket (a token never
            # goes into a socket URL, where access logs would keep it).
            request = urllib.request.Request(
                self.base + "/api/notifications/ticket/",
                method="POST",
                headers={"Authorization": f"Token {token}"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["ticket"]

        async def one(token: str):
            ticket = await asyncio.to_thread(ticket_for, token)
            ws = await connect(
                f"{url}?{urlencode({'ticket': ticket})}",
                origin=self.base,
                open_timeout=30,
                ping_interval=None,
            )
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello", hello
            self.sockets.append(ws)
            self.listeners.append(asyncio.ensure_future(self.listen(ws)))

        tokens = list(self.tokens.values())
        for start in range(0, len(tokens), batch):
            await asyncio.gather(*(one(t) for t in tokens[start : start + batch]))

    async def listen(self, ws) -> None:
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message.get("type") != "notification" or message.get("kind") != "dispatch":
                continue
            case_id = message["case"]
            written = datetime.datetime.fromisoformat(message["created_at"]).timestamp()
            self.arrivals.setdefault(case_id, []).append((written, received))
            waiter = self.waiters.get(case_id)
            if (
                waiter
                and not waiter.done()
                and len(self.arrivals[case_id]) >= self.expected[case_id]
            ):
                waiter.set_result(True)

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def dispatch(case_id: int, unit, dispatcher) -> float:
    """Assign one case; returns the time right after the commit. (Wall-clock time, like the
    notification's ``created_at``: one machine, one clock.)"""
    from django.db import connection, transaction

    from apps.cases import services as workflow
    from apps.cases.models import Case

    committed: list[float] = []
    case = Case.objects.get(pk=case_id)
    with transaction.atomic():
        # Registered before the workflow's own callback (which queues the notification task),
        # so this runs first, right after COMMIT returns.
        transaction.on_commit(lambda: committed.append(time.time()))
        workflow.case_dispatch(case=case, actor=dispatcher, lead_unit=unit)
    connection.close()  # this runs in a short-lived thread
    return committed[0]


async def measure(
    clients: Clients, cases, units, dispatcher, gap_s: float
) -> list[tuple[float, float]]:
    """(commit → socket, commit → notification row written) in ms, per arrival."""
    latencies: list[tuple[float, float]] = []
    lost = 0
    for i, case in enumerate(cases):
        unit = units[i % len(units)]
        loop = asyncio.get_running_loop()
        clients.expected[case.pk] = MEMBERS_PER_UNIT
        clients.waiters[case.pk] = loop.create_future()
        committed = await asyncio.to_thread(dispatch, case.pk, unit, dispatcher)
        try:
            await asyncio.wait_for(clients.waiters[case.pk], timeout=10)
        except TimeoutError:
            lost += 1
            print(
                f"   case {case.pk}: {len(clients.arrivals.get(case.pk, []))} of {MEMBERS_PER_UNIT} arrived in 10 s"
            )
        latencies += [
            ((arrived - committed) * 1000, (written - committed) * 1000)
            for written, arrived in clients.arrivals.get(case.pk, [])
        ]
        await asyncio.sleep(gap_s)
    if lost:
        print(f"!! {lost} dispatches did not reach all {MEMBERS_PER_UNIT} sockets within 10 s")
    return latencies


def main() -> None:
    args = parse_args()
    if args.clients % MEMBERS_PER_UNIT:
        raise SystemExit(f"--clients must be a multiple of {MEMBERS_PER_UNIT}")
    data_dir, env = prepare(args, "notify")
    procs: list[subprocess.Popen] = []
    try:
        # The servers start first: the set-up's own events are fanned out while it runs.
        base, port, web = start_servers(env, args, data_dir, procs)
        started = time.perf_counter()
        org, units, tokens, cases = build_data(args.clients, args.dispatches)
        wait_until_fanned_out()
        print(
            f"set-up: {len(tokens)} handlers in {len(units)} units, {len(cases)} cases at the town desk "
            f"({time.perf_counter() - started:.0f} s)"
        )
        pids = worker_pids(web.pid, args.web_workers)
        rss_before = {pid: rss_kb(pid) for pid in pids}

        async def measure_connected() -> tuple[list[float], dict[int, int], dict[int, int]]:
            clients = Clients(base, tokens)
            t0 = time.perf_counter()
            await clients.connect_all()
            print(
                f"connected {len(clients.sockets)} WebSocket clients in {time.perf_counter() - t0:.1f} s"
            )
            await asyncio.sleep(1)
            held = {pid: established_sockets(pid, port) for pid in pids}
            rss = {pid: rss_kb(pid) for pid in pids}
            latencies = await measure(clients, cases, units, org.users["td"], args.gap_ms / 1000)
            await clients.close()
            return latencies, held, rss

        measured, held, rss_after = asyncio.run(measure_connected())
    finally:
        run.stop_processes(*procs)
        flush_redis(args.redis)

    latencies = [total for total, _ in measured]
    written = [row for _, row in measured]
    print()
    print(
        f"commit → socket latency over {len(latencies)} arrivals "
        f"({args.dispatches} assignments × {MEMBERS_PER_UNIT} unit members, {args.clients} clients connected):"
    )
    print(
        f"  p50 {statistics.median(latencies):6.1f} ms   p95 {percentile(latencies, 95):6.1f} ms   "
        f"p99 {percentile(latencies, 99):6.1f} ms   max {max(latencies):6.1f} ms   "
        f"mean {statistics.mean(latencies):6.1f} ms"
    )
    print(
        f"  of which commit → notification row written (queue, worker, recipients): "
        f"p50 {statistics.median(written):.1f} ms, p95 {percentile(written, 95):.1f} ms"
    )
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for pid in held:
        extra = rss_after[pid] - rss_before[pid]
        print(
            f"  web worker pid {pid}: {held[pid]} connections held, RSS {rss_after[pid] / 1024:.0f} MB "
            f"(+{extra / 1024:.1f} MB for the sockets, {extra / max(held[pid], 1):.0f} KB each)"
        )
    print(f"  target p95 < 150 ms: {'met' if percentile(latencies, 95) < 150 else 'NOT met'}")


if __name__ == "__main__":
    # A terminated bench still stops the servers it started (the ``finally`` in main).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
