"""run.py's supervisor: a process of the product that exits is started again, after a pause
that grows while it keeps failing, and the others keep running (real processes throughout; a
killed Celery worker under the supervisor is in test_worker_faults.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager

import run
from tests.conftest import wait_for
from tests.ops.conftest import alive

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


@contextmanager
def supervising(supervisor: run.Supervisor):
    stopping = threading.Event()
    watcher = threading.Thread(target=supervisor.watch, args=(stopping.is_set, 0.05), daemon=True)
    watcher.start()
    try:
        yield supervisor
    finally:
        stopping.set()
        watcher.join(10)
        supervisor.stop()


def test_a_killed_process_is_started_again_and_the_others_keep_running():
    said: list[str] = []
    supervisor = run.Supervisor(backoff_s=0.2, log=said.append)
    for name in ("redis", "web", "worker", "beat"):
        supervisor.add(name, SLEEPER)
    with supervising(supervisor):
        pids = {
            name: wait_for(lambda name=name: supervisor.pid(name), timeout=10)
            for name in supervisor.programs
        }
        os.kill(pids["worker"], signal.SIGKILL)
        wait_for(lambda: supervisor.pid("worker") not in (None, pids["worker"]), timeout=10)
        assert said == ["worker exited with -9; starting it again in 0.2 s"]
        assert {name: supervisor.pid(name) for name in ("redis", "web", "beat")} == {
            name: pids[name] for name in ("redis", "web", "beat")
        }
        assert supervisor.starts("worker") == 2 and supervisor.starts("web") == 1
        running = [supervisor.pid(name) for name in supervisor.programs]
    assert not any(alive(pid) for pid in running)  # stopping stops them all


def test_a_process_that_keeps_failing_is_started_again_less_and_less_often():
    said: list[str] = []
    supervisor = run.Supervisor(backoff_s=0.1, max_backoff_s=0.4, stable_s=60, log=said.append)
    supervisor.add("worker", CRASHER, stdout=subprocess.DEVNULL)
    with supervising(supervisor):
        wait_for(lambda: len(said) >= 5, timeout=20)
    delays = [line.rsplit(" in ", 1)[1] for line in said[:5]]
    assert delays == ["0.1 s", "0.2 s", "0.4 s", "0.4 s", "0.4 s"]
    assert said[0].startswith("worker exited with 3;")


def test_the_pause_starts_over_once_a_process_had_stayed_up():
    said: list[str] = []
    supervisor = run.Supervisor(backoff_s=0.1, max_backoff_s=5, stable_s=0.3, log=said.append)
    # Up for 0.5 s (longer than stable_s), then down: each exit is the first of a series.
    supervisor.add(
        "web", [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(1)"]
    )
    with supervising(supervisor):
        wait_for(lambda: len(said) >= 3, timeout=20)
    assert [line.rsplit(" in ", 1)[1] for line in said[:3]] == ["0.1 s"] * 3


def test_serve_supervises_the_web_server_the_worker_on_both_queues_and_beat():
    commands = run.product_commands("127.0.0.1", "8000")
    assert set(commands) == {"web", "worker", "beat"}
    worker = commands["worker"]
    assert worker[worker.index("-Q") + 1] == "celery,sweeps"


def test_the_embedded_redis_comes_back_on_its_socket_with_its_queues(monkeypatch):
    import redis

    monkeypatch.delenv("REDIS_URL")
    start = run.start_embedded_redis()
    socket_path = os.environ["REDIS_URL"][len("unix://") :]
    supervisor = run.Supervisor(backoff_s=0.2, log=lambda line: None)
    supervisor.add("redis", start)
    with supervising(supervisor):
        first = wait_for(lambda: supervisor.pid("redis"), timeout=10)
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2)
        client.rpush("celery", "a queued task")
        os.kill(first, signal.SIGTERM)  # stopped (it writes its append-only file), not crashed
        wait_for(lambda: supervisor.pid("redis") not in (None, first), timeout=10)
        second = supervisor.pid("redis")
        os.kill(second, signal.SIGKILL)  # crashed: it comes back all the same
        wait_for(lambda: supervisor.pid("redis") not in (None, second), timeout=10)

        def answers() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=10)
        assert client.lrange("celery", 0, -1) == [b"a queued task"]
