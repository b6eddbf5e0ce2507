"""A version number shared by every process through the cache, for data each process keeps a
copy of (the map index, the category tree and time limits, the work calendar).

A process reads the number at most once every ``<recheck setting>`` seconds; whoever changes
the data bumps it (and this process forgets its own reading at once). So a change reaches this
process immediately and the others within a couple of seconds, for one cache read per process
every few seconds instead of one per use.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction


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
        if (seen is not None and not recheck
                and now - seen[0] < getattr(settings, self.recheck_setting, self.default_recheck_s)):
            return seen[1]
        version = cache.get_or_set(self.key, 1, timeout=None)
        self._seen = (now, version)
        return version

    def bump(self) -> None:
        """Tell every process the data changed (call once the change is visible to them)."""
        try:
            cache.incr(self.key)
        except ValueError:  # the key was evicted or never set
            cache.set(self.key, 2, timeout=None)
        self._seen = None

    def forget(self) -> None:
        """Read the version again next time (this process's reading may be stale)."""
        self._seen = None

    def changed_on_commit(self, forget_local: Callable[[], None]) -> None:
        """The data is being changed in the current transaction: drop this process's copy now
        (``forget_local``) and, once the change is committed, bump the version — so the other
        processes reload rows that show it — and drop the copy again (a request may have read the
        old rows in the meantime)."""
        forget_local()

        def bump() -> None:
            self.bump()
            forget_local()

        transaction.on_commit(bump)
