"""A version number shared by every process through the database, for data each process keeps
a copy of (the map index, the category tree and time limits, the work calendar, API callers).

A process reads the number at most once every ``<recheck setting>`` seconds — one indexed
primary-key read — and whoever changes the data bumps it **in the same transaction** as the
change (``changed``). So:

- no process can see the new version before it can see the new rows (they commit together):
  a copy rebuilt under a version never holds rows older than that version;
- the number survives a Redis restart or outage: nothing a request needs comes from the cache;
- the process that made the change drops its copy at once, the others within a couple of
  seconds, for one small read per process every few seconds instead of one per use.

A version is a random 62-bit number, compared for equality only: a bump that is rolled back
leaves the old number, and the number it had set is never set again — so a copy built inside a
transaction that was rolled back can never pass for current.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

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

    def current(self, *, recheck: bool = False) -> int:
        """The shared version; ``recheck`` reads it now, whatever the last reading's age."""
        now = time.monotonic()
        seen = self._seen
        if (
            seen is not None
            and not recheck
            and now - seen[0] < getattr(settings, self.recheck_setting, self.default_recheck_s)
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

    def bump(self) -> None:
        """Move the version on (to a number never used before). Inside a transaction it becomes visible with the transaction's
        other changes; this process reads it again next time."""
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
        autocommit): drop this process's copy, bump the version with the change, and drop the
        copy again once committed — a request of this process may have rebuilt it meanwhile
        from the rows as they were before the commit."""
        forget_local()
        self.bump()

        def after_commit() -> None:
            self.forget()
            forget_local()

        transaction.on_commit(after_commit)
