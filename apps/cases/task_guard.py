"""Crash safety for background tasks: count deliveries, quarantine a poison task.

The settings make every task late-acknowledged and re-queued when its worker process dies
(``acks_late``, ``reject_on_worker_lost``), so a worker killed half-way (OOM, deploy, kill -9)
means the task runs again. Alone, that loops forever on a task that itself kills the worker
(a decompression-bomb photo, a crash in a C extension): every redelivery dies again. So:

1. Every delivery is counted in Redis *before* the task body runs (a killed process cannot
   "forget" to count); success clears the count.
2. A delivery beyond ``TASK_MAX_DELIVERIES`` does not run: the task is quarantined — logged,
   recorded as a ``QuarantinedTask`` (the admin shows them), acknowledged, and left alone until
   someone releases it (``quarantined_task_release``).
3. The count is keyed by task name + arguments, not by the task id, so the outbox sweep's
   re-sends of the same work count too, and the sweep skips quarantined work. Tasks without a
   payload (the beat sweeps) key by task id instead (``poison_key = "id"``): one bad minute
   must not quarantine every future sweep.

Every task of the project gets this base class (``config/celery.py``: ``task_cls``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from celery import Task
from django.conf import settings

log = logging.getLogger(__name__)

COUNTER_TTL = 7 * 24 * 3600
DEFAULT_MAX_DELIVERIES = 5


def max_deliveries() -> int:
    return int(getattr(settings, "TASK_MAX_DELIVERIES", DEFAULT_MAX_DELIVERIES))


def poison_key(
    task_name: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None
) -> str:
    """The identity of one piece of work: the same task with the same arguments."""
    payload = json.dumps([task_name, list(args or ()), kwargs or {}], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _counter(key: str) -> str:
    return f"task-deliveries:{key}"


def deliveries_so_far(
    task_name: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None
) -> int:
    from django.core.cache import cache

    return int(cache.get(_counter(poison_key(task_name, args, kwargs))) or 0)


def quarantined_keys(keys: Iterable[str]) -> set[str]:
    """Which of these work keys are quarantined (and not released)."""
    from apps.cases.models import QuarantinedTask

    keys = list(keys)
    if not keys:
        return set()
    return set(
        QuarantinedTask.objects.filter(key__in=keys, released_at__isnull=True).values_list(
            "key", flat=True
        )
    )


def _count_delivery(counter: str) -> int:
    """INCR and EXPIRE in one round trip (the cache API needs four: add, exists, incr)."""
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache

    from apps.core.cache import redis_client

    if not isinstance(cache, RedisCache):  # no Redis configured: tasks run eagerly in-process
        cache.add(counter, 0, COUNTER_TTL)
        return int(cache.incr(counter))
    key = cache.make_and_validate_key(counter)
    with redis_client().pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, COUNTER_TTL)
        deliveries, _ttl_set = pipe.execute()
    return int(deliveries)


class GuardedTask(Task):
    """Celery task base: counts deliveries and quarantines work that keeps dying."""

    #: "args": the work is the task name + arguments; "id": each sent message is its own work.
    poison_key = "args"
    #: Optional cheap check ``(*args, **kwargs) -> bool`` that the work is done already (another
    #: task did it: a routing batch took the case along). Such a delivery is neither counted
    #: nor run — it cannot be poison, it reads one row — and a backlog's moot messages cost
    #: a read, not two Redis round trips more. If the check fails, the delivery runs guarded.
    done_already = None

    def _work_key(self, args: tuple, kwargs: dict) -> str:
        if self.poison_key == "id":
            return poison_key(self.name, [getattr(self.request, "id", None) or ""])
        return poison_key(self.name, args, kwargs)

    def __call__(self, *args, **kwargs):
        from django.core.cache import cache

        if self.done_already is not None:
            try:
                if self.done_already(*args, **kwargs):
                    return None
            except Exception:  # noqa: BLE001 - only a shortcut: the guarded run decides
                log.warning("%s%r: the done-already check failed", self.name, args, exc_info=True)
        key = self._work_key(args, kwargs)
        counter = _counter(key)
        try:
            deliveries = _count_delivery(counter)
        except Exception:  # noqa: BLE001 - without Redis no message arrives anyway; do not block work
            log.warning("could not count the delivery of %s%r", self.name, args, exc_info=True)
            deliveries = 0
        if deliveries > max_deliveries():
            _quarantine(
                self, key, args, kwargs, deliveries - 1, cache.get(counter + ":error") or ""
            )
            return None
        if deliveries > 1:
            log.warning(
                "%s%r: delivery %d (an earlier one died or failed)", self.name, args, deliveries
            )
        try:
            result = super().__call__(*args, **kwargs)
        except Exception as exc:
            try:
                cache.set(counter + ":error", f"{type(exc).__name__}: {exc}"[:2000], COUNTER_TTL)
            except Exception:  # noqa: BLE001
                pass
            raise
        try:
            cache.delete_many([counter, counter + ":error"])
        except Exception:  # noqa: BLE001
            log.warning(
                "could not clear the delivery count of %s%r", self.name, args, exc_info=True
            )
        return result


def _quarantine(
    task: Task, key: str, args: tuple, kwargs: dict, deliveries: int, error: str
) -> None:
    from apps.cases.models import QuarantinedTask

    error = error or "工作进程在执行时终止（被杀或崩溃）"
    log.error(
        "quarantined %s%r after %d deliveries without success: %s",
        task.name,
        args,
        deliveries,
        error,
    )
    row, created = QuarantinedTask.objects.get_or_create(
        key=key,
        released_at=None,
        defaults={
            "task_name": task.name,
            "args": list(args),
            "kwargs": dict(kwargs),
            "deliveries": deliveries,
            "task_id": getattr(task.request, "id", None) or "",
            "last_error": error,
        },
    )
    if not created:
        QuarantinedTask.objects.filter(pk=row.pk).update(deliveries=max(row.deliveries, deliveries))


def quarantined_task_release(*, quarantined, actor=None, resend: bool = True) -> None:
    """Let quarantined work run again (after the cause was fixed): clear its delivery count and,
    unless ``resend`` is False, send it once more."""
    from django.core.cache import cache
    from django.db import transaction
    from django.utils import timezone

    from apps.cases.models import QuarantinedTask

    updated = QuarantinedTask.objects.filter(pk=quarantined.pk, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=actor
    )
    if not updated:
        return
    cache.delete_many([_counter(quarantined.key), _counter(quarantined.key) + ":error"])
    if resend:

        def send() -> None:
            from config.celery import app

            app.send_task(quarantined.task_name, args=quarantined.args, kwargs=quarantined.kwargs)

        transaction.on_commit(send)
