"""The channel layer: channels-redis, with a connection pool that waits instead of failing,
a read timeout longer than its blocking reads, and a receive that stops when it is cancelled.

redis-py's asyncio pool raises ``MaxConnectionsError`` once 100 connections are in use. A web
process holding hundreds of sockets meets that at every reconnect storm (all phones coming
back after a restart): each new socket's group_add would fail and close. A blocking pool
queues those commands for a moment instead; a few connections carry the whole process.

redis-py 8 also times out every read after 5 s by default — exactly as long as channels-redis
blocks in BZPOPMIN waiting for messages (``brpop_timeout``). Under load the reply comes a moment
late, the read times out, and every socket of the process is dropped. Reads may take 30 s here.

With a socket timeout set, redis-py wraps every command it writes in ``asyncio.wait_for``, and
Python 3.11's ``wait_for`` swallows a cancellation that arrives just as the write completes
(fixed in 3.12). When a web process stops, Channels cancels each consumer's ``receive`` and waits
for it; the sockets' receives share one BZPOPMIN loop, and the next socket in line takes it over
at exactly that moment. One cancellation swallowed, and that receive loops on BZPOPMIN forever:
uvicorn logged "Waiting for background tasks to complete" and never exited (issue #15).
``receive`` therefore runs in a task of its own that it cancels until it has really stopped.
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from django.conf import settings
from redis import asyncio as aioredis

log = logging.getLogger(__name__)

# How long a cancelled receive may take to stop before it is left behind (logged).
RECEIVE_STOP_TIMEOUT_S = 2.0


class BlockingPoolRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index: int):
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", getattr(settings, "CHANNEL_LAYER_MAX_CONNECTIONS", 50))
        host.setdefault("timeout", 20)  # seconds a command may wait for a free connection
        host.setdefault("socket_timeout", 30)
        return aioredis.BlockingConnectionPool.from_url(address, **host)

    async def receive(self, channel):
        inner = asyncio.ensure_future(super().receive(channel))
        try:
            # shield: our caller's cancellation reaches us at once, whatever the inner task does.
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            await _stop(inner)
            raise


async def _stop(task: asyncio.Task) -> None:
    """Cancel ``task`` again and again until it has finished: each cancel() is one request,
    and a swallowed one (see the module docstring) would leave it running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECEIVE_STOP_TIMEOUT_S
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    if not task.done():
        log.warning(
            "a cancelled channel-layer receive did not stop within %.0f s", RECEIVE_STOP_TIMEOUT_S
        )
    elif not task.cancelled() and task.exception() is not None:
        log.debug("a cancelled channel-layer receive ended with %r", task.exception())
