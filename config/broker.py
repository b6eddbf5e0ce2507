"""The Redis broker transport, with kombu's "restore after the connection is gone" crash fixed.

The failure (issue #15: the worker exited in 3 of 15 Redis restarts)::

    Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")

When the worker loses Redis, Celery collects its broker connection and then releases it
(``Consumer.on_connection_error_after_connected``). Collecting closes the channel that delivered
the worker's tasks, which first puts back the messages the worker took and has not acknowledged
— but Redis is gone, that close fails half-way, the failure is ignored, and kombu cuts the
transport loose anyway (``Connection._do_close_transport`` sets ``transport.client = None``)
while the channel is still open. Releasing the connection closes that channel again and tries
the restore again: ``restore_unacked`` → ``conn_or_acquire`` → a new connection pool →
``Channel._connparams`` reads ``self.connection.client.hostname`` — and ``client`` is ``None``.
The ``AttributeError`` is not a connection error, so it escapes the consumer's restart and stops
the worker ("Restoring 1 unacknowledged message(s)", then the error). It takes a task that is
running, unacknowledged (acks_late), when Redis goes away: tests/ops/test_worker_faults.py shows
it on the first restart with kombu's transport and never with ours. Acks, rejects and
publishes on such a channel take the same path.
Upstream: celery/kombu#970 ("Error on Restarting Celery", the same traceback through
``restore_unacked``) and #582 (the same ``conninfo.hostname`` on a channel closed after its
connection); kombu 5.7.0, the newest release, still reads ``client`` unguarded.

The fix is narrow: this transport keeps the connection settings it was created with, so a
channel that outlives its connection can still reach Redis (the messages are restored, or the
command fails with an ordinary connection error that the worker already handles). Nothing else
changes. ``install()`` makes every ``redis://``, ``rediss://`` and ``redis+socket://`` broker
URL use it (the ``redis+socket`` prefix picks kombu's transport by alias, so an explicit
``broker_transport`` setting would not reach the embedded default).
"""

from __future__ import annotations

from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis


class Transport(kombu_redis.Transport):
    """kombu's Redis transport whose ``client`` (the kombu Connection, where the host, port and
    credentials live) survives the connection's close for the channels that outlive it."""

    @property
    def client(self):
        return self.__dict__.get("_client") or self.__dict__.get("_last_client")

    @client.setter
    def client(self, value) -> None:
        # kombu sets None to drop the reference when the connection closes; the channels that
        # were not closed yet still need the settings, so the last real one is kept for them.
        self.__dict__["_client"] = value
        if value is not None:
            self.__dict__["_last_client"] = value


TRANSPORT = f"{__name__}:Transport"


def install() -> None:
    """Use this transport for every Redis broker URL of this process (before it connects)."""
    for alias in ("redis", "rediss"):
        kombu_transports.TRANSPORT_ALIASES[alias] = TRANSPORT
        # kombu's cache of resolved aliases (private, not in the stubs): forget the old one.
        kombu_transports._transport_cache.pop(alias, None)  # type: ignore[attr-defined]
