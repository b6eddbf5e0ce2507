"""The channel layer: channels-redis, with a connection pool that waits instead of failing,
and a read timeout longer than its blocking reads.

redis-py's asyncio pool raises ``MaxConnectionsError`` once 100 connections are in use. A web
process holding hundreds of sockets meets that at every reconnect storm (all phones coming
back after a restart): each new socket's group_add would fail and close. A blocking pool
queues those commands for a moment instead; a few connections carry the whole process.

redis-py 8 also times out every read after 5 s by default — exactly as long as channels-redis
blocks in BZPOPMIN waiting for messages (``brpop_timeout``). Under load the reply comes a moment
late, the read times out, and every socket of the process is dropped. Reads may take 30 s here.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from django.conf import settings
from redis import asyncio as aioredis


class BlockingPoolRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index: int):
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", getattr(settings, "CHANNEL_LAYER_MAX_CONNECTIONS", 50))
        host.setdefault("timeout", 20)  # seconds a command may wait for a free connection
        host.setdefault("socket_timeout", 30)
        return aioredis.BlockingConnectionPool.from_url(address, **host)
