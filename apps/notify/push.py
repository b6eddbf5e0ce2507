"""Sending to channel-layer groups from synchronous code.

Two callers, two loops:

- inside the web server (a sync view or ``database_sync_to_async`` code run for a consumer),
  ``async_to_sync`` hands the coroutine back to the server's own event loop, where the channel
  layer's connections already live;
- in a Celery worker (or a script, or a test) there is no server loop. ``async_to_sync`` would
  make a new loop per call, and channels-redis connections bound to a dead loop end in "Event
  loop is closed". So each thread owns one long-lived loop and reuses its connections; after a
  failure (Redis restarted) the pools are closed so the next push connects afresh.

A push is best effort by design: the notification rows are already committed, and a client
that missed a push gets them on reconnect (``?since=<last id>``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

Message = tuple[str, dict]
_local = threading.local()


async def _send_all(messages: list[Message]) -> None:
    layer = get_channel_layer()
    for group, payload in messages:
        await layer.group_send(group, {"type": "notify.message", "payload": payload})


def _in_server_thread() -> bool:
    # The same test asgiref's async_to_sync makes to find the server loop (pid guards forks).
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    return loop is not None and pid == os.getpid() and loop.is_running()


def _own_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def send(messages: list[Message]) -> bool:
    """Send ``(group, payload)`` pairs; True if all went out. Never raises."""
    if not messages:
        return True
    if _in_server_thread():
        try:
            async_to_sync(_send_all)(messages)
            return True
        except Exception:  # noqa: BLE001 - best effort, see module docstring
            log.warning("push of %d messages failed; clients will replay", len(messages), exc_info=True)
            return False
    loop = _own_loop()
    try:
        loop.run_until_complete(_send_all(messages))
        return True
    except Exception:  # noqa: BLE001 - best effort, see module docstring
        log.warning("push of %d messages failed; clients will replay", len(messages), exc_info=True)
        try:
            loop.run_until_complete(get_channel_layer().close_pools())
        except Exception:  # noqa: BLE001 - the connections are broken anyway
            pass
        return False
