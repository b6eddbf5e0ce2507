"""The shared cache, used where losing it costs only speed.

Redis can vanish for seconds (a restart, a failover). For a copy that can be rebuilt from the
database, a cache error is a miss: these helpers answer the default, log one warning per minute
and let the request go on. Anything that must not fail open (single-use tickets, lockouts)
calls the cache directly and decides for itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)
_WARN_EVERY_S = 60.0
_last_warning = 0.0


def cache_unavailable(exc: BaseException) -> None:
    """Log that the cache is unreachable, at most once a minute per process."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY_S:
        _last_warning = now
        logger.warning("cache unavailable, going on without it: %s: %s", type(exc).__name__, exc)


def _or_miss(miss: Any, method: Callable[..., Any], *args: Any) -> Any:
    """``method(*args)``, or ``miss`` (logged) when the cache cannot be reached."""
    try:
        return method(*args)
    except CACHE_ERRORS as exc:
        cache_unavailable(exc)
        return miss


def cache_get(key: str, default: Any = None) -> Any:
    return _or_miss(default, cache.get, key, default)


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    _or_miss(None, cache.set, key, value, timeout)


class SharedRedisCache(RedisCache):
    """Django's Redis cache with one client object per process (config/redis_pool.py)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        from config.redis_pool import SharedClientCacheClient

        self._class = SharedClientCacheClient


def redis_client(alias: str = "default"):
    """The ``redis.Redis`` client behind a cache alias, for what Django's cache API cannot say
    in one round trip (a counter with its expiry). Keys must go through
    ``caches[alias].make_and_validate_key`` to share the cache's prefix."""
    from django.core.cache import caches

    # RedisCache's client, not part of BaseCache (nor of the stubs).
    return caches[alias]._cache.get_client(write=True)  # type: ignore[attr-defined]


class SoftRedisCache(SharedRedisCache):
    """Django's Redis cache for copies of database rows (the sessions' cache): while Redis is
    unreachable every read is a miss and every write is skipped, so the database answers.
    Used as ``SESSION_CACHE_ALIAS``: a signed-in phone keeps working through a Redis restart."""

    def get(self, key, default=None, version=None):
        return _or_miss(default, super().get, key, default, version)

    def has_key(self, key, version=None):
        return _or_miss(False, super().has_key, key, version)

    def get_many(self, keys, version=None):
        return _or_miss({}, super().get_many, keys, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        _or_miss(None, super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return _or_miss(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        # A delete that cannot reach Redis would leave a stale copy behind (a session that was
        # ended still valid from the cache): say so loudly, the key expires with its timeout.
        try:
            return super().delete(key, version)
        except CACHE_ERRORS as exc:
            logger.error(
                "cache unavailable: could not delete a cached copy (it expires on its own): %s",
                type(exc).__name__,
            )
            return False
