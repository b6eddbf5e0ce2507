"""One Redis connection pool per process for Django's cache.

Django keeps its cache objects per request context (``django.core.cache.caches`` is an asgiref
``Local``), and each new ``RedisCache`` builds a connection pool of its own. Under ASGI every
request runs in a context of its own, so every request opened a fresh TCP connection to Redis
(connect, ``CLIENT SETINFO``, then its one or two commands) and dropped it again: about a tenth
of a report's time at the intake. Handing every cache object the same pool per address keeps
a few warm connections per process instead. redis-py's pool notices a fork (Celery's prefork
children) and starts over in the child, so sharing it at module level is safe there too.
"""

from __future__ import annotations

import threading

import redis

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (cls, url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = super().from_url(url, **kwargs)
        return pool
