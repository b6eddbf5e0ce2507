"""A web process stops within seconds on SIGTERM, even after Redis has restarted under it: its
sockets are closed with 1012 ("service restart"), so clients reconnect to another process and
replay, and a deploy or a supervisor's restart is not held up (issue #15).

The hang was a race (see apps/notify/layers.py): Python 3.11 swallowed the cancellation of one
socket's channel-layer receive. Without the fix about every second stop of a process in this
state hung; three processes make the test fail almost surely when it comes back."""

from __future__ import annotations

import signal
import subprocess
import time
from contextlib import ExitStack

import pytest

import run
from tests.conftest import _worker_env, stop_process, uvicorn_log_path
from tests.notify.sockets import close_code, next_message, open_socket, session_cookie_for
from tests.private_redis import private_redis  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True)]

PROCESSES = 3
SOCKETS = 4


def start_web(env: dict[str, str], log_path) -> tuple[subprocess.Popen, str]:
    """uvicorn on a free port; returns the process and base URL. Without the
    ``--timeout-graceful-shutdown`` of Procfile and run.py: that backstop would cancel a hung
    socket after 3 s and hide whether the sockets stop by themselves."""
    port = run.free_port()
    base = f"http://127.0.0.1:{port}"
    command = run.web_command("127.0.0.1", port, "--log-level", "info", "--no-access-log")
    proc = run.start_logged(command, log_path, env=env)
    try:
        run.wait_until_up(proc, log_path, url=base + "/track/")
    except RuntimeError:
        stop_process(proc)
        raise
    return proc, base


def test_sigterm_closes_the_sockets_with_1012_and_exits_within_5_s_after_a_redis_restart(
    org_tx, private_redis, tmp_path
):
    env = {**_worker_env(), "REDIS_URL": private_redis.url}
    cookies = [session_cookie_for(org_tx.users[name]) for name in ("dh", "td", "vh")]
    for attempt in range(PROCESSES):
        log_path = tmp_path / f"uvicorn-{attempt}.log"
        proc, base = start_web(env, log_path)
        try:
            with ExitStack() as opened:

                def socket(cookie: str | None = None):
                    return opened.enter_context(open_socket(base, cookie=cookie))

                with open_socket(base, cookie=cookies[0]) as gone:  # one that came and went
                    next_message(gone, "hello")
                # Sockets that live through a Redis restart (the server closes them with 1012)...
                before = [socket(cookies[i % 3]) for i in range(SOCKETS)]
                for ws in before:
                    next_message(ws, "hello")
                private_redis.stop()
                assert {close_code(ws, timeout=10) for ws in before} == {1012}
                private_redis.start()
                time.sleep(0.5)  # the phones' reconnect backoff
                # ...and the reconnected ones, plus one not yet logged in.
                sockets = [socket(cookies[i % 3]) for i in range(SOCKETS)]
                for ws in sockets:
                    next_message(ws, "hello")
                sockets.append(socket())

                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                codes = [close_code(ws, timeout=5) for ws in sockets]
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                stopped_in = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = log_path.read_text()
        assert codes == [1012] * (SOCKETS + 1)
        assert stopped_in < 5, f"process {attempt + 1} still ran after 5 s:\n{output[-3000:]}"
        assert "Finished server process" in output
        # Only the restart is a channel-layer failure: no false 1012 warning for the client
        # that hung up, nor for the sockets the server closed on SIGTERM.
        assert output.count("the channel layer failed") == SOCKETS, output[-3000:]


def test_a_client_that_hangs_up_at_once_is_not_logged_as_a_channel_layer_failure(
    org_tx, asgi_server
):
    cookie = session_cookie_for(org_tx.users["dh"])
    for _ in range(5):
        # Gone before the server has sent "hello": its send meets uvicorn's ClientDisconnected.
        with open_socket(asgi_server, cookie=cookie) as gone:
            gone.close_socket()
    with open_socket(asgi_server, cookie=cookie) as still_here:
        next_message(still_here, "hello")  # the server has handled the others by now
    time.sleep(0.5)
    log = uvicorn_log_path(asgi_server).read_text()
    assert "the channel layer failed" not in log
