"""What the benchmarks in the production profile share: a database of their own, recreated; a
Redis database, flushed; Django set up against both; and the figures' percentiles. They start
the product's processes with run.py's helpers (``web_command``, ``celery_command`` …)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse


def recreate_database(url: str) -> None:
    """Drop and create the PostgreSQL database of ``url`` (real names are refused)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not parsed.scheme.startswith("postgres"):
        raise SystemExit("the benchmark runs on the production profile: give a PostgreSQL URL")
    if not name or name in ("postgres", "test", "liandong"):
        raise SystemExit(f"refusing to drop database {name!r}: give the bench its own database")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def setup_django(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    """Point this process at ``--database`` and ``--redis`` and set Django up; returns the
    environment for the servers and workers the bench starts."""
    env = {
        **os.environ,
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "LIANDONG_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "LIANDONG_FAST_PASSWORD_HASHER": "1",  # throw-away bench users never type a password
        "STATIC_MANIFEST": "0",  # no collectstatic in the bench's data directory
        "WHITENOISE_USE_FINDERS": "1",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def prepare(args: argparse.Namespace, name: str) -> tuple[Path, dict[str, str]]:
    """A fresh data directory, the bench database recreated, the Redis database flushed and
    Django set up against them; returns the data directory and the servers' environment."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"liandong-bench-{name}-"))
    print(f"database {args.database} (recreated), Redis {args.redis} (flushed), data {data_dir}")
    recreate_database(args.database)
    flush_redis(args.redis)
    return data_dir, setup_django(args, data_dir)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
