"""Workers killed and brokers restarted under real Celery workers (each test with its own Redis,
tests/ops/conftest.py): the work is done once, whatever dies — checked on the case rows and
their history, not on log lines alone.

- kill -9 of a worker child → its parent hands the message out again at once (acks_late +
  reject_on_worker_lost): routed exactly once;
- kill -9 of the worker parent (run.py's supervisor starts a new one) → the message comes back
  after the visibility timeout and the new worker takes it: routed exactly once, nothing left
  unacknowledged;
- Redis restarted five times under a worker with messages in flight → the worker never exits
  (config/broker.py) and every case is routed exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

import config.celery
import run
from apps.cases.models import Action, Case, CaseEvent
from apps.cases.task_guard import deliveries_so_far
from tests.cases.helpers import report
from tests.conftest import children_of, wait_for
from tests.ops.conftest import alive

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROUTE = "apps.cases.tasks.route_case"


def unrouted_case(org, **kwargs) -> Case:
    """A report whose routing message was never sent (the web process died after its commit)."""
    with transaction.atomic():
        case = report(org, **kwargs)
        connection.run_on_commit.clear()
    return case


def hold(case: Case) -> None:
    """Inside a transaction: make a task that works on this case wait (PostgreSQL: its row lock;
    SQLite: the database's write lock)."""
    Case.objects.select_for_update().get(pk=case.pk)
    if connection.vendor == "sqlite":
        Case.objects.filter(pk=case.pk).update(updated_at=timezone.now())


def routes(case: Case) -> int:
    return CaseEvent.objects.filter(case=case, action=Action.ROUTE).count()


def routed_once(case: Case, timeout: float = 30) -> None:
    wait_for(
        lambda: routes(case) >= 1 and not Case.objects.get(pk=case.pk).pending_work, timeout=timeout
    )
    assert routes(case) == 1


def settled(case: Case) -> None:
    """The case's follow-up (its notifications) is done: nothing else will want the lock ``hold``
    takes — on SQLite the whole database's — so the next task held there is the one under test."""
    wait_for(
        lambda: not CaseEvent.objects.filter(case=case, notified_at__isnull=True).exists(),
        timeout=30,
    )


def nothing_left_in(broker: redis.Redis) -> bool:
    return broker.hlen("unacked") == 0 and broker.llen("celery") == 0


def test_a_task_whose_worker_child_is_killed_is_done_again_exactly_once(org_tx, ops):
    case = unrouted_case(org_tx)
    with ops.process(
        "worker", "child-kill", "--concurrency", "1", "-Q", "celery,sweeps", *run.ALONE
    ) as worker:
        [child] = wait_for(lambda: children_of(worker.pid), timeout=20)
        with transaction.atomic():
            hold(case)
            config.celery.app.send_task(ROUTE, args=[case.pk])
            wait_for(
                lambda: deliveries_so_far(ROUTE, [case.pk]) == 1, timeout=20
            )  # it is running, and waits
            os.kill(child, signal.SIGKILL)
            # The parent sees its child die and puts the message back; a new child takes it.
            wait_for(lambda: deliveries_so_far(ROUTE, [case.pk]) == 2, timeout=30)
        routed_once(case)
        wait_for(
            lambda: deliveries_so_far(ROUTE, [case.pk]) == 0, timeout=10
        )  # success clears the count
        wait_for(
            lambda: nothing_left_in(redis.Redis(unix_socket_path=str(ops.redis.socket))), timeout=10
        )
    assert b"WorkerLostError" in ops.log("child-kill").read_bytes()
    assert routes(case) == 1


def test_a_task_whose_worker_parent_is_killed_comes_back_after_the_visibility_timeout_and_is_done_once(
    org_tx, ops
):
    case = unrouted_case(org_tx)
    supervisor = run.Supervisor(backoff_s=0.5, log=(said := []).append)
    out = open(ops.log("parent-kill"), "ab")
    supervisor.add(
        "worker",
        ops.command(
            "worker", "parent-kill", "--concurrency", "1", "-Q", "celery,sweeps", *run.ALONE
        ),
        env=ops.env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    stopping = threading.Event()
    watcher = threading.Thread(target=supervisor.watch, args=(stopping.is_set,), daemon=True)
    watcher.start()
    orphans: list[int] = []
    try:
        parent = wait_for(lambda: supervisor.pid("worker"), timeout=10)
        wait_for(lambda: b"ready." in ops.log("parent-kill").read_bytes(), timeout=60, interval=0.2)
        orphans += wait_for(lambda: children_of(parent), timeout=20)
        with transaction.atomic():
            hold(case)
            task_id = config.celery.app.send_task(ROUTE, args=[case.pk]).id
            wait_for(lambda: deliveries_so_far(ROUTE, [case.pk]) == 1, timeout=20)
            os.kill(parent, signal.SIGKILL)
            # run.py's supervisor starts a new worker; the old one's message is in Redis, taken
            # and never acknowledged: nobody may run it before the visibility timeout.
            wait_for(lambda: supervisor.pid("worker") not in (None, parent), timeout=20)
        broker = redis.Redis(unix_socket_path=str(ops.redis.socket))
        assert broker.hlen("unacked") == 1
        # The orphaned child (it finishes its task, then exits) may route the case first; either
        # way the message is handed out again and the second run changes nothing.
        wait_for(
            lambda: (
                ops.log("parent-kill")
                .read_bytes()
                .count(f"route_case[{task_id}] received".encode())
                == 2
            ),
            timeout=40,
            interval=0.2,
        )
        routed_once(case)
        wait_for(lambda: nothing_left_in(broker), timeout=20)
        assert routes(case) == 1 and supervisor.starts("worker") == 2
        assert any(line.startswith("worker exited with -9") for line in said)
    finally:
        stopping.set()
        watcher.join(10)
        supervisor.stop()
        out.close()
        for pid in orphans:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_outlives_five_redis_restarts_with_messages_in_flight(org_tx, ops):
    """Production's worker flags (gossip, mingle, heartbeat: more channels to lose) and two
    children; each time, Redis goes away while a routing task is running and unacknowledged."""
    cases: list[Case] = []
    with ops.process("worker", "restarts", "--concurrency", "2", "-Q", "celery,sweeps") as worker:
        for n in range(5):
            # Each report made just before its restart: one waiting beside it would be routed
            # along by the task in flight (a routing batch), and its own message not run.
            case = unrouted_case(org_tx, description=f"第{n}次重启时的上报")
            cases.append(case)
            with transaction.atomic():
                hold(case)
                config.celery.app.send_task(ROUTE, args=[case.pk])
                wait_for(lambda: deliveries_so_far(ROUTE, [case.pk]) >= 1, timeout=20)
                ops.redis.stop()
                ops.redis.start()
            routed_once(case)
            settled(case)
            assert worker.poll() is None, ops.log("restarts").read_text()[-3000:]
        # It still takes new work, and nothing stays unacknowledged (restored after 8 s at most).
        last = unrouted_case(org_tx, description="重启之后的上报")
        config.celery.app.send_task(ROUTE, args=[last.pk])
        routed_once(last)
        wait_for(
            lambda: nothing_left_in(redis.Redis(unix_socket_path=str(ops.redis.socket))), timeout=30
        )
        assert worker.poll() is None
    log = ops.log("restarts").read_text()
    assert "Unrecoverable error" not in log and log.count("Connection to broker lost") >= 5
    assert [routes(case) for case in cases] == [1] * 5
