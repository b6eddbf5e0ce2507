"""One Redis connection pool per process for Django's cache.

Django keeps its cache objects per request context (``django.core.cache.caches`` is an asgiref
``Local``), and each new ``RedisCache`` builds a connection pool of its own. Under ASGI every
request runs in a context of its own, so every request opened a fresh TCP connection to Redis
(connect, ``CLIENT SETINFO``, then its one or two commands) and dropped it again: about a tenth
of a report's time at the intake. Handing every cache object the same pool per address keeps
a few warm connections per process instead. redis-py's pool notices a fork (Celery's prefork
children) and starts over in the child, so sharing it at module level is safe there too.

Django also builds a new ``redis.Redis`` client object for every cache call, and each one
fills a table of ~200 response callbacks: a tenth of a millisecond per call, a dozen calls
per routed report in the worker. A client is thread-safe and only borrows connections from
its pool, so one per pool is kept as well (``SharedClientCacheClient``, used by the cache
backends in ``apps/core/cache.py``).
"""

from __future__ import annotations

import threading
from typing import Any, Self, cast

import redis
from django.core.cache.backends.redis import RedisCacheClient

# (pool class, url, options) → the one pool of that class for them
_pools: dict[tuple[Any, ...], redis.ConnectionPool] = {}
_clients: dict[int, redis.Redis] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        key = (cls, url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = super().from_url(url, **kwargs)
        return cast(Self, pool)  # the key holds the class: the pool is one of ours


class SharedClientCacheClient(RedisCacheClient):
    """Django's Redis cache client with one ``redis.Redis`` per (process-wide) pool."""

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))  # pools live as long as the process: ids stay theirs
        if client is None:
            client = _clients[id(pool)] = self._client(connection_pool=pool)
        return client
