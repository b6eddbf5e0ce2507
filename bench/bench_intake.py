#!/usr/bin/env python3
"""Report intake benchmark: reports per second and latency with concurrent phones, in the
production profile (uvicorn workers on PostgreSQL + Redis), with and without a photo.

    .venv/bin/python bench/bench_intake.py [--reports 3000] [--photo-reports 800] [--concurrency 32]
        [--web-workers 2] [--database postgres://postgres@127.0.0.1:5432/liandong_bench_intake]
        [--redis redis://127.0.0.1:6379/10] [--with-worker]

What it does:

1. (Re)creates the bench database (dropped first: give it its own), migrates it, builds the
   test organisation plus 40 grid workers on its eight east-town grids, each with an API token
   (``--auth token``) or signed in with a session as the field app is (``--auth session``).
2. Starts uvicorn (``config.asgi``, ``--workers 2``) against that database and Redis, as
   ``run.py`` does in production. The Celery worker is *not* started unless ``--with-worker``:
   intake is what is measured; the follow-up work (routing, thumbnails, notifications) is
   committed with each report in its outbox and queued in Redis, and done afterwards.
3. From this one process, ``--concurrency`` keep-alive HTTP/1.1 connections (asyncio streams,
   token or session auth, one grid worker per connection) send reports as fast as the server answers:
   - *without a photo*: one JSON ``POST /api/reports/`` per report;
   - *with a photo*: what the field app does — ``POST /api/reports/`` then
     ``POST /api/reports/{id}/photos/`` (multipart) with one 1-megapixel JPEG (~0.2 MB),
     timed together as one report.
   A short warm-up runs first and is not counted.
4. Checks every answer (201, and afterwards the number of rows and stored originals) and prints
   reports per second, p50/p95/p99 latency, and the targets (≥ 300/s without, ≥ 60/s with a photo).

The Redis database given is flushed at the start and at the end; do not point it at one that
holds anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run  # noqa: E402 - the product's processes, started as run.py starts them
from bench.common import flush_redis, percentile, prepare  # noqa: E402

WORKERS_PER_GRID = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000, help="reports without a photo")
    parser.add_argument("--photo-reports", type=int, default=800, help="reports with one photo")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/liandong_bench_intake"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--with-worker", action="store_true", help="also run a Celery worker during the run"
    )
    parser.add_argument(
        "--auth",
        choices=["token", "session"],
        default="token",
        help="token: Authorization: Token (scripts, integrations); session: the session cookie "
        "and CSRF token the field app sends after its log-in",
    )
    parser.add_argument(
        "--server",
        choices=["uvicorn", "gunicorn"],
        default="uvicorn",
        help="uvicorn: the ASGI app as run.py serves it; gunicorn: the same Django app as WSGI "
        "(gthread workers) for comparison",
    )
    return parser.parse_args()


# --- set-up --------------------------------------------------------------------------------


def build_data(auth: str) -> tuple[list[tuple[bytes, float, float]], int]:
    """Grid workers, each signed in (the request headers that say who they are) and with a point
    inside one of their grids; and a category."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from apps.org.models import Role
    from tests.factories import build_test_org, make_person

    call_command("migrate", verbosity=0)
    org = build_test_org()
    phones = []
    east_grids = [g for key, g in org.grids.items() if key.startswith("east-")]
    for grid in east_grids:
        for n in range(WORKERS_PER_GRID):
            person = make_person(
                f"bench-{grid.code}-{n}", Role.GRID_WORKER, region=grid.village, grids=[grid]
            )
            lat, lng = org.point_in(grid)
            if auth == "token":
                headers = f"Authorization: Token {Token.objects.create(user=person).key}\r\n"
            else:  # as the field app after /field/login/: the session cookie, and the CSRF pair
                client = Client()
                client.force_login(person)
                session, csrf = client.cookies[settings.SESSION_COOKIE_NAME].value, uuid.uuid4().hex
                headers = (
                    f"Cookie: {settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}\r\n"
                    f"X-CSRFToken: {csrf}\r\n"
                )
            phones.append((headers.encode(), lat, lng))
    return phones, org.categories["rubbish"].pk


def megapixel_photo() -> bytes:
    """A 1-megapixel (1155×866) photo-like JPEG: smooth shading with fine grain, ~0.2 MB."""
    from PIL import Image, ImageFilter

    rng = random.Random(3)
    noise = Image.effect_noise((1155, 866), 40).filter(ImageFilter.GaussianBlur(0.6))
    base = Image.linear_gradient("L").resize((1155, 866))
    image = Image.merge(
        "RGB",
        (Image.blend(base, noise, 0.35), noise, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    )
    for _ in range(40):  # a few "objects"
        x, y = rng.randrange(1100), rng.randrange(800)
        image.paste(
            (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
            (x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 120)),
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def start_servers(env: dict[str, str], args: argparse.Namespace, data_dir: Path):
    port = run.free_port()
    if args.server == "uvicorn":
        command = run.web_command(
            "127.0.0.1",
            port,
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(args.web_workers),
        )
    else:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "django.core.wsgi:get_wsgi_application()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
    web = run.start_logged(command, data_dir / "web.log", env=env)
    worker = None
    if args.with_worker:
        worker = run.start_logged(
            run.celery_command(
                "worker",
                "--concurrency",
                "1",
                *run.ALONE,
                "-n",
                f"bench-intake-{os.getpid()}@%h",
                loglevel="WARNING",
            ),
            data_dir / "celery.log",
            env=env,
        )
    run.wait_until_up(web, data_dir / "web.log", url=f"http://127.0.0.1:{port}/track/")
    return port, web, worker


# --- the phones ----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: just enough of a client to keep its own CPU low."""

    def __init__(self, port: int, auth_headers: bytes):
        self.port = port
        self.auth_headers = auth_headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nAccept: application/json\r\n"
        ).encode()
        self.writer.write(head + self.auth_headers + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def report_body(category: int, lat: float, lng: float, n: int) -> tuple[str, bytes]:
    report_id = str(uuid.uuid4())
    payload = {
        "id": report_id,
        "category": category,
        "description": f"基准测试上报 {n}：路边堆放垃圾",
        "severity": 3,
        "lat": lat,
        "lng": lng,
        "accuracy_m": 8.0,
        "position_source": "gps",
        "address": "基准测试路 1 号",
    }
    return report_id, json.dumps(payload, ensure_ascii=False).encode()


def multipart(fields: dict[str, str], file_field: str, photo: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="photo.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def photo_body(photo: bytes) -> tuple[str, bytes]:
    return multipart({"id": str(uuid.uuid4()), "kind": "report"}, "photo", photo)


def inline_report_body(
    category: int, lat: float, lng: float, n: int, photo: bytes
) -> tuple[str, bytes]:
    fields = {
        "id": str(uuid.uuid4()),
        "category": str(category),
        "description": f"基准测试上报 {n}：路边堆放垃圾",
        "severity": "3",
        "lat": repr(lat),
        "lng": repr(lng),
        "accuracy_m": "8",
        "position_source": "gps",
        "address": "基准测试路 1 号",
    }
    return multipart(fields, "photos", photo)


async def run_phase(
    port: int,
    phones,
    category: int,
    total: int,
    concurrency: int,
    photo: bytes | None,
    inline: bool = False,
):
    """Send ``total`` reports over ``concurrency`` connections; returns (seconds, latencies, errors)."""
    counter = iter(range(total))
    latencies: list[float] = []
    errors: list[str] = []

    async def phone(index: int) -> None:
        auth_headers, lat, lng = phones[index % len(phones)]
        conn = Connection(port, auth_headers)
        await conn.open()
        try:
            for n in counter:
                started = time.perf_counter()
                if inline:  # one multipart request: the report with its photo
                    content_type, body = inline_report_body(category, lat, lng, n, photo)
                    status, answer = await conn.post("/api/reports/", body, content_type)
                    if status != 201:
                        errors.append(f"report+photo {status}: {answer[:200]!r}")
                    else:
                        latencies.append((time.perf_counter() - started) * 1000)
                    continue
                report_id, body = report_body(category, lat, lng, n)
                status, answer = await conn.post("/api/reports/", body, "application/json")
                if status != 201:
                    errors.append(f"report {status}: {answer[:200]!r}")
                    continue
                if photo is not None:
                    content_type, body = photo_body(photo)
                    status, answer = await conn.post(
                        f"/api/reports/{report_id}/photos/", body, content_type
                    )
                    if status != 201:
                        errors.append(f"photo {status}: {answer[:200]!r}")
                        continue
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(phone(i) for i in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(web_pid: int, database: str) -> tuple[float, float]:
    """CPU time used so far by the web server's processes, and by the bench database's backends.

    Throughput on a machine shared with other work swings with their load; the CPU the server
    side spends per report does not, and ``2 cores / CPU per report`` is what this box could do
    with nothing else running (the load generator excluded)."""

    def children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    web_pids = {web_pid, *children(web_pid)}
    db_pids = set()
    name = urlparse(database).path.lstrip("/")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    f" {name} ".encode()
                    in (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" "
                ):
                    db_pids.add(int(entry.name))
            except OSError:
                pass
    return (
        sum(process_cpu_seconds(pid) for pid in web_pids),
        sum(process_cpu_seconds(pid) for pid in db_pids - web_pids),
    )


def summary(
    label: str,
    seconds: float,
    latencies: list[float],
    errors: list[str],
    cpu: tuple[float, float, float],
    target: float,
) -> float:
    rate = len(latencies) / seconds
    web_ms, db_ms, client_ms = (part / max(len(latencies), 1) * 1000 for part in cpu)
    per_report = web_ms + db_ms
    print(
        f"{label}:\n   {len(latencies)} reports in {seconds:.1f} s = {rate:.0f} reports/s   "
        f"latency p50 {statistics.median(latencies):.0f} ms  p95 {percentile(latencies, 95):.0f} ms  "
        f"p99 {percentile(latencies, 99):.0f} ms   errors {len(errors)}   "
        f"target ≥ {target:.0f}/s: {'met' if rate >= target and not errors else 'NOT met'}\n"
        f"   server CPU {per_report:.1f} ms per report (web workers {web_ms:.1f}, PostgreSQL {db_ms:.1f}) "
        f"→ at most {2000 / per_report:.0f} reports/s on 2 idle cores\n"
        f"   this bench's own phones took {client_ms:.1f} ms of the same 2 cores per report"
    )
    for error in errors[:5]:
        print("   ", error)
    return rate


def main() -> None:
    args = parse_args()
    data_dir, env = prepare(args, "intake")
    phones, category = build_data(args.auth)
    photo = megapixel_photo()
    print(
        f"{len(phones)} grid workers signed in by {args.auth}; photo {len(photo) / 1024:.0f} KB (1155×866); "
        f"{args.concurrency} connections; {args.server} --workers {args.web_workers}"
        f"{' + Celery worker' if args.with_worker else ' (no Celery worker: follow-up work waits in the outbox)'}"
    )
    web = worker = None
    try:
        port, web, worker = start_servers(env, args, data_dir)

        async def measured(*phase_args, **phase_kwargs):
            before, client_before = server_cpu_seconds(web.pid, args.database), time.process_time()
            seconds, latencies, errors = await run_phase(*phase_args, **phase_kwargs)
            after, client_after = server_cpu_seconds(web.pid, args.database), time.process_time()
            return (
                seconds,
                latencies,
                errors,
                (after[0] - before[0], after[1] - before[1], client_after - client_before),
            )

        async def phases():
            await run_phase(port, phones, category, 300, args.concurrency, None)  # warm-up
            await run_phase(port, phones, category, 60, args.concurrency, photo)
            plain = await measured(port, phones, category, args.reports, args.concurrency, None)
            with_photo = await measured(
                port, phones, category, args.photo_reports, args.concurrency, photo
            )
            inline = await measured(
                port, phones, category, args.photo_reports, args.concurrency, photo, inline=True
            )
            return plain, with_photo, inline

        (plain, with_photo, inline) = asyncio.run(phases())
    finally:
        run.stop_processes(web, worker, timeout_s=30)
        flush_redis(args.redis)

    from apps.cases.models import Case, CasePhoto

    print(
        f"\nload average at the end (1/5/15 min): {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
        f"(the machine's other work competes for the same 2 cores)"
    )
    summary("without photo", *plain, target=300)
    summary("with 1 photo, as the field app sends it (report, then photo)", *with_photo, target=60)
    summary("with 1 photo, in one multipart request", *inline, target=60)
    originals = [p for p in (data_dir / "private" / "originals").rglob("*") if p.is_file()]
    expected_photos = 60 + len(with_photo[1]) + len(inline[1])
    expected_cases = 300 + len(plain[1]) + expected_photos
    print(
        f"check: {Case.objects.count()} cases (expected {expected_cases}), {CasePhoto.objects.count()} photo rows, "
        f"{len(originals)} originals stored (expected {expected_photos})"
    )


if __name__ == "__main__":
    main()
