import asyncio
import contextvars
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import cast

import django
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

# The server (uvicorn) configured its loggers before importing this module; django.setup() has
# just put the secret filter on their handlers (LOGGING_CONFIG). Once more, explicitly: its
# handshake and access lines carry full URLs (config/log_redaction.py).
from config.log_redaction import install as _redact_logs  # noqa: E402

_redact_logs()


class ThreadPoolASGIHandler(ASGIHandler):
    """Django's ASGI handler for a site whose views and middleware are all synchronous: each
    request runs, start to finish, in one call on a long-lived thread of a fixed pool.

    Django's own handler keeps async-capable middleware in async mode and hops into the
    request's thread and back for each of them, for the request signals and for closing the
    response; and it gives every request a thread of its own (``ThreadSensitiveContext``), so
    a new OS thread is started for each request and another one joins it afterwards. On a
    2-core machine taking a few hundred reports a second, those hops and threads cost more CPU
    than the report itself. Here the request's synchronous work — ``request_started``, the
    middleware chain and view built exactly as under WSGI, ``response.close()`` with
    ``request_finished`` — is one call on one of ``WEB_THREADS`` threads, so the request's
    database connection and transaction stay on one thread, as Django requires. Only the
    socket I/O (reading the body, sending the answer) stays on the event loop.

    Streaming responses (photo files, exports) are sent from the same thread, chunk by chunk,
    each chunk waiting for the loop to take it (back-pressure); they stop when the client hangs
    up. Code that calls ``async_to_sync`` from a view (channel-layer pushes) finds the server's
    loop as it does from asgiref's own threads. WebSockets are not affected: they go to Channels.
    """

    def __init__(self, threads: int):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="django-request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        # A copy of the server's context per request, as asgiref gives each sync call: nothing a
        # request sets in a context variable (language, URLconf, cache handles) leaks into the next.
        context = contextvars.copy_context()
        gone = threading.Event()  # the client hung up: a streamed answer stops at the next chunk
        watcher = asyncio.create_task(self._watch_disconnect(receive, gone))
        try:
            messages = await loop.run_in_executor(
                self._pool, context.run, self._serve, scope, body_file, loop, send, gone
            )
        finally:
            watcher.cancel()
            body_file.close()
        for message in messages:
            await send(message)

    @staticmethod
    async def _watch_disconnect(receive, gone: threading.Event) -> None:
        if (await receive())["type"] == "http.disconnect":
            gone.set()

    # --- on the request's thread ----------------------------------------------------------

    def _serve(self, scope, body_file, loop, send, gone: threading.Event) -> list[dict]:
        # What asgiref sets on its own threads: async_to_sync() called from here runs the
        # coroutine on the server's loop (apps/notify/push.py relies on it).
        SyncToAsync.threadlocal.main_event_loop = loop
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            # As Django's ASGIHandler does (not in the stubs).
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        # create_request gives a request, or else the error response that answers instead.
        assert response is not None
        try:
            start = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": self._headers(response),
            }
            if not response.streaming:
                return [
                    start,
                    *(
                        {"type": "http.response.body", "body": chunk, "more_body": not last}
                        # A response that does not stream is an HttpResponse.
                        for chunk, last in self.chunk_bytes(cast(HttpResponse, response).content)
                    ),
                ]

            def send_now(message):
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            send_now(start)
            stream = cast(StreamingHttpResponse, response)
            if stream.is_async:
                asyncio.run_coroutine_threadsafe(
                    self._send_async_stream(stream, send), loop
                ).result()
            else:
                # Not async: a plain iterator.
                for part in cast(Iterator[bytes], stream.streaming_content):
                    if gone.is_set():
                        return []  # nobody is reading: stop producing (the export's query ends on close)
                    for chunk, _ in self.chunk_bytes(part):
                        send_now({"type": "http.response.body", "body": chunk, "more_body": True})
                send_now({"type": "http.response.body", "body": b""})
            return []
        finally:
            response.close()  # request_finished: the database connection goes back to the pool

    @staticmethod
    def _headers(response) -> list[tuple[bytes, bytes]]:
        # As Django's send_response: header case kept (some clients need Content-Type), cookies last.
        headers = [
            (
                header.encode("ascii") if isinstance(header, str) else bytes(header),
                value.encode("latin1") if isinstance(value, str) else bytes(value),
            )
            for header, value in response.items()
        ]
        headers += [
            (b"Set-Cookie", c.output(header="").encode("ascii").strip())
            for c in response.cookies.values()
        ]
        return headers

    async def _send_async_stream(self, response, send):
        async with aclosing(aiter(response)) as content:
            async for part in content:
                for chunk, _ in self.chunk_bytes(part):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


django_asgi_app = ThreadPoolASGIHandler(threads=settings.WEB_THREADS)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.notify.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
