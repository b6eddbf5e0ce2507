"""A version number shared by every process through the cache, for data each process keeps a
copy of (the map index, the category tree and time limits, the work calendar).

A process reads the number at most once every ``<recheck setting>`` seconds; whoever changes
the data bumps it (and this process forgets its own reading at once). So a change reaches this
process immediately and the others within a couple of seconds, for one cache read per process
every few seconds instead of one per use.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


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
