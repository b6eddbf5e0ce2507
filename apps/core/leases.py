"""At most one run of a periodic job per interval, whoever sends it.

Beat sends each sweep every interval. A second beat (started by mistake beside the first, or
left running on another host during a deploy), a message redelivered after its worker died, or
a sweep that waited in a queue and arrives together with the next one would each make the sweep
run again within the same interval. So a job first takes the interval's lease:

1. The interval is a slot of wall-clock time, ``⌊now / interval⌋``, the same on every host.
2. The job's row is created once (``INSERT … ON CONFLICT DO NOTHING``).
3. One conditional UPDATE takes the slot: ``SET slot = this WHERE name = job AND slot < this``.
   It changes one row for the first taker and none for any other — in the same slot or an
   older one arriving late — on SQLite and PostgreSQL alike (no lock is held while the job runs).

A run that is lost after taking its slot (its worker killed) is not repeated in that slot: the
sweeps are idempotent and catch up on their next run, one interval later.
"""

from __future__ import annotations

import os
import socket
import time

from django.db.models import F
from django.utils import timezone

from apps.core.models import Lease


def current_slot(every_s: float, now: float | None = None) -> int:
    return int((time.time() if now is None else now) // every_s)


def lease_take(*, name: str, every_s: float, now: float | None = None) -> bool:
    """Take this interval's turn of job ``name``; False if it was taken already."""
    slot = current_slot(every_s, now)
    Lease.objects.bulk_create([Lease(name=name)], ignore_conflicts=True)
    return bool(
        Lease.objects.filter(name=name, slot__lt=slot).update(
            slot=slot,
            holder=f"{socket.gethostname()}:{os.getpid()}",
            taken_at=timezone.now(),
            taken=F("taken") + 1,
        )
    )
