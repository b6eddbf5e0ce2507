"""A version number shared by every process through the database, for data each process keeps
a copy of (the map index, the category tree and time limits, the work calendar, API callers).

A process reads the number at most once every ``<recheck setting>`` seconds — one indexed
primary-key read — before it reads the rows, and keeps its copy under the number it read.
Whoever changes the data calls ``changed``: this process drops its copy at once, and the shared
number moves only **once the change is committed** (``transaction.on_commit``). So:

- a process that reads the new number reads it after the new rows were committed: a copy kept
  under a number never holds rows older than that number. A copy rebuilt while the change is
  pending holds the old rows under the old number, and is rebuilt once the number moves;
- a change that is rolled back moves nothing. Inside its transaction the changing thread reads
  the number combined with a salt of its own, so a copy it builds from its uncommitted rows is
  never current for anyone once that transaction ended, committed or not;
- the number survives a Redis restart or outage: nothing a request needs comes from the cache;
- the process that made the change drops its copy at once, the others within a couple of
  seconds, for one small read per process every few seconds instead of one per use.

A version is a random 62-bit number, compared for equality only, and never set twice.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction

from apps.core.models import SharedVersionRow


def _fresh() -> int:
    return secrets.randbits(62)


class SharedVersion:
    def __init__(self, key: str, recheck_setting: str, default_recheck_s: float = 2.0) -> None:
        self.key = key
        self.recheck_setting = recheck_setting
        self.default_recheck_s = default_recheck_s
        self._seen: tuple[float, int] | None = None  # (read at, version)
        # This thread's change waiting for its transaction: (salt, the on-commit callback).
        self._pending = threading.local()
        self._settled = threading.local()

    @contextmanager
    def as_seen(self) -> Iterator[None]:
        """Inside, the last reading stands however old it is (it is read if there is none).

        For the answer after a commit: the request already read the version (and built its
        copy) before committing, and a read now could fail with the database and turn a
        committed write into an error answer."""
        self._settled.on = True
        try:
            yield
        finally:
            self._settled.on = False

    def current(self, *, recheck: bool = False) -> int:
        """The shared version (salted while this thread's change waits for its commit);
        ``recheck`` reads it now, whatever the last reading's age."""
        version = self._shared(recheck)
        salt = self._pending_salt()
        return version ^ salt if salt else version

    def _shared(self, recheck: bool) -> int:
        now = time.monotonic()
        seen = self._seen
        if (
            seen is not None
            and not recheck
            and (
                getattr(self._settled, "on", False)
                or now - seen[0] < getattr(settings, self.recheck_setting, self.default_recheck_s)
            )
        ):
            return seen[1]
        version = self._read()
        self._seen = (now, version)
        return version

    def _read(self) -> int:
        version = (
            SharedVersionRow.objects.filter(key=self.key).values_list("version", flat=True).first()
        )
        if version is None:
            SharedVersionRow.objects.bulk_create(
                [SharedVersionRow(key=self.key, version=_fresh())], ignore_conflicts=True
            )
            version = (
                SharedVersionRow.objects.filter(key=self.key)
                .values_list("version", flat=True)
                .get()
            )
        return version

    def _pending_salt(self) -> int:
        pending = getattr(self._pending, "change", None)
        if pending is None:
            return 0
        salt, after_commit = pending
        connection = transaction.get_connection()
        if connection.in_atomic_block and any(
            entry[1] is after_commit for entry in connection.run_on_commit
        ):
            return salt
        # The transaction ended: committed (the callback ran and bumped) or rolled back (the
        # callback was dropped with it, and nothing moved).
        self._pending.change = None
        return 0

    def bump(self) -> None:
        """Move the version on now (to a number never used before); this process reads it
        again next time. Inside a transaction it becomes visible with the commit: changes to
        the data go through ``changed``, which bumps once they are committed."""
        version = _fresh()
        if not SharedVersionRow.objects.filter(key=self.key).update(version=version):
            SharedVersionRow.objects.bulk_create(
                [SharedVersionRow(key=self.key, version=version)], ignore_conflicts=True
            )
        self._seen = None

    def forget(self) -> None:
        """Read the version again next time (this process's reading may be stale)."""
        self._seen = None

    def changed(self, forget_local: Callable[[], None]) -> None:
        """The data is being changed in the current transaction (or was just changed, in
        autocommit): drop this process's copy now and move the shared version once the change
        is committed — never before, or another process could read the new version and then
        the rows as they were, and keep the old rows under the new version until the next
        change. After the commit this process drops its copy again: another of its requests
        may have rebuilt it meanwhile from the rows as they were before."""
        forget_local()
        connection = transaction.get_connection()
        if not connection.in_atomic_block:
            self.bump()  # autocommit: the change is committed already
            return
        # A new salt with each change: a copy this thread built since the last one is stale.
        salt = _fresh() or 1
        if self._pending_salt():  # this transaction bumps on commit already: once is enough
            self._pending.change = (salt, self._pending.change[1])
            return

        def after_commit() -> None:
            self._pending.change = None
            self.bump()
            forget_local()

        self._pending.change = (salt, after_commit)
        transaction.on_commit(after_commit)
