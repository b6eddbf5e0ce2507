"""Sending to channel-layer groups from synchronous code.

Two callers, two loops:

- inside the web server (a sync view or ``database_sync_to_async`` code run for a consumer),
  ``async_to_sync`` hands the coroutine back to the server's own event loop, where the channel
  layer's connections already live;
- in a Celery worker (or a script, or a test) there is no server loop. ``async_to_sync`` would
  make a new loop per call, and channels-redis connections bound to a dead loop end in "Event
  loop is closed". So each process runs one long-lived loop in a thread of its own and every
  push of the process goes through it, reusing its connections; after a failure (Redis
  restarted) the pools are closed so the next push connects afresh. One loop per process, not
  one per calling thread: a thread may already run a loop of its own (Playwright's, in the
  tests), and a loop left behind by a finished thread was closed by the garbage collector at
  any moment — channels-redis then runs code from inside a finaliser.

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


async def _send_all(messages: list[Message]) -> None:
    layer = get_channel_layer()
    for group, payload in messages:
        await layer.group_send(group, {"type": "notify.message", "payload": payload})


def _in_server_thread() -> bool:
    # The same test asgiref's async_to_sync makes to find the server loop (pid guards forks).
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    return loop is not None and pid == os.getpid() and loop.is_running()


_loop_lock = threading.Lock()
_process_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
# A push that takes longer than this is given up (and counted as failed): clients replay.
PUSH_TIMEOUT_S = 10.0


def _own_loop() -> asyncio.AbstractEventLoop:
    """This process's push loop, started on first use (and again in a forked child)."""
    global _process_loop
    current = _process_loop
    if current is not None and current[0] == os.getpid() and not current[1].is_closed():
        return current[1]
    with _loop_lock:
        current = _process_loop
        if current is None or current[0] != os.getpid() or current[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="notify-push", daemon=True).start()
            _process_loop = current = (os.getpid(), loop)
    return current[1]


def send(messages: list[Message]) -> bool:
    """Send ``(group, payload)`` pairs; True if all went out. Never raises."""
    if not messages:
        return True
    if _in_server_thread():
        try:
            async_to_sync(_send_all)(messages)
            return True
        except Exception:  # noqa: BLE001 - best effort, see module docstring
            log.warning(
                "push of %d messages failed; clients will replay", len(messages), exc_info=True
            )
            return False
    loop = _own_loop()
    future = asyncio.run_coroutine_threadsafe(_send_all(messages), loop)
    try:
        future.result(timeout=PUSH_TIMEOUT_S)
        return True
    except Exception:  # noqa: BLE001 - best effort, see module docstring
        future.cancel()
        log.warning("push of %d messages failed; clients will replay", len(messages), exc_info=True)
        try:
            asyncio.run_coroutine_threadsafe(get_channel_layer().close_pools(), loop).result(
                timeout=5
            )
        except Exception:  # noqa: BLE001 - the connections are broken anyway
            pass
        return False
