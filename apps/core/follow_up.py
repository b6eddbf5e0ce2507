"""Follow-up work of a committed change: Celery tasks sent after the commit, or run right here.

Every write that leaves work for later (route a report, fan out a history row, process photos)
records that work in its own rows first — ``Case.pending_work``, ``CaseEvent.notified_at`` —
so a message that never reaches the broker is re-sent by the outbox sweep. The message itself
is only the fast path, sent once the transaction has committed (a task that ran before the
commit would not see the rows).

A task that already runs in a worker may take its follow-up along instead of queueing it
behind the backlog: inside ``run_here()`` the messages are collected, and run in this process
once the block ends. The routing task does that with the report's notifications, so a report
costs one message, not three (issue #15: a backlog drains at least half as fast as intake).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)

_local = threading.local()


def send(task_name: str, *args) -> bool:
    """Send one task message now; False (logged) if the broker did not take it."""
    from config.celery import app

    try:
        app.send_task(task_name, args=list(args))
        return True
    except Exception:  # noqa: BLE001 - any broker failure; the outbox sweep re-sends the work
        log.warning(
            "could not enqueue %s%r now; the outbox sweep will", task_name, args, exc_info=True
        )
        return False


def send_on_commit(task_name: str, *args, in_memory: dict | None = None) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (at once outside one).

    ``in_memory``: keyword arguments the task body gets when it runs here (``run_here``) — the
    rows just written, so it need not read them back; a message carries ``args`` only."""

    def after_commit() -> None:
        collected = getattr(_local, "collected", None)
        if collected is not None:
            collected.append((task_name, args, in_memory or {}))
        else:
            send(task_name, *args)

    transaction.on_commit(after_commit)


@contextmanager
def run_here() -> Iterator[None]:
    """Run the follow-up committed inside this block in this process, after the block.

    A failure of that work is logged, not raised: the change it follows is committed, and its
    outbox row brings the work back through the sweep."""
    from config.celery import app

    outer = getattr(_local, "collected", None)
    collected: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    _local.collected = collected
    try:
        yield
    finally:
        _local.collected = outer
    for task_name, args, in_memory in collected:
        try:
            app.tasks[task_name].run(*args, **in_memory)
        except Exception:  # noqa: BLE001 - see the docstring: the outbox sweep retries
            log.warning(
                "follow-up %s%r failed here; the outbox sweep will retry it",
                task_name,
                args,
                exc_info=True,
            )
