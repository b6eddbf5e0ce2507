"""kombu's crash when a channel outlives its broker connection (config/broker.py), reproduced
on a private Redis with kombu's own Redis transport and shown fixed by ours: the unacknowledged
message is put back on its queue instead of stopping the worker with an AttributeError."""

from __future__ import annotations

import time

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu import transport as kombu_transports
from kombu.transport import redis as kombu_redis

from config.broker import Transport
from config.env import celery_broker_url
from tests.private_redis import PrivateRedis


@pytest.fixture
def private_redis():
    server = PrivateRedis(persistent=True)  # production's Redis keeps its queues across a restart
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


def use_transport(monkeypatch, target: str) -> None:
    """The transport a ``redis+socket://`` URL gets (kombu picks it by the URL's prefix)."""
    monkeypatch.setitem(kombu_transports.TRANSPORT_ALIASES, "redis", target)
    monkeypatch.setattr(kombu_transports, "_transport_cache", {})


def a_channel_left_open_by_a_failed_close(server: PrivateRedis):
    """The state a worker's broker connection is in after Redis went away: a message delivered
    and not yet acknowledged on one channel; closing the connection failed on a later channel
    (a broadcast queue, like the worker's remote control, cannot be deleted while Redis is
    down), so the delivering channel is still open, and kombu has cut the transport loose."""
    conn = Connection(celery_broker_url(server.url))
    tasks = Queue("tasks", Exchange("tasks"), "tasks")
    producer_channel = conn.channel()
    conn.Producer(producer_channel).publish(
        {"case": 1}, exchange=tasks.exchange, routing_key="tasks", declare=[tasks]
    )
    consuming = conn.channel()
    delivered = []
    conn.Consumer(
        tasks, channel=consuming, callbacks=[lambda body, message: delivered.append(message)]
    ).consume()
    broadcast = conn.channel()
    conn.Consumer(
        Queue("control", Exchange("control", type="fanout"), auto_delete=True),
        channel=broadcast,
        no_ack=True,
    ).consume()
    deadline = time.monotonic() + 10
    while not delivered and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=1)  # the broadcast channel's subscription may answer first
        except TimeoutError:
            pass
    assert len(delivered) == 1

    server.stop()
    conn.collect()  # what the worker does on a connection error; the broadcast channel's close fails
    assert not consuming.closed and conn._transport is None
    server.start()
    return consuming


def test_kombus_own_transport_crashes_restoring_the_message_of_a_channel_that_outlived_its_connection(
    private_redis, monkeypatch
):
    use_transport(monkeypatch, "kombu.transport.redis:Transport")
    consuming = a_channel_left_open_by_a_failed_close(private_redis)
    assert type(consuming.connection) is kombu_redis.Transport
    with pytest.raises(AttributeError, match="hostname"):
        consuming.close()  # restores the unacknowledged message: the worker's "Unrecoverable error"


def test_ours_puts_the_message_back_on_its_queue(private_redis, monkeypatch):
    use_transport(monkeypatch, "config.broker:Transport")
    consuming = a_channel_left_open_by_a_failed_close(private_redis)
    assert type(consuming.connection) is Transport
    consuming.close()
    r = redis.Redis(unix_socket_path=str(private_redis.socket))
    assert r.llen("tasks") == 1 and r.hlen("unacked") == 0


def test_every_redis_broker_url_of_the_product_uses_ours():
    # config/celery.py installs it before the app connects.
    import config.celery  # noqa: F401

    for url in (
        "redis://127.0.0.1:6379/0",
        "rediss://127.0.0.1:6380/0",
        "redis+socket:///tmp/liandong.sock",
    ):
        assert Connection(url).transport_cls in ("redis", "rediss")
        assert type(Connection(url).transport) is Transport
