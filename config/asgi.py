import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run in one worker thread.

    Every view and middleware of ours is synchronous. Left to itself, Django keeps each
    middleware that *can* run async (``MiddlewareMixin`` can) in async mode under ASGI, and so
    hops into the request's worker thread and back for every ``process_request`` and
    ``process_response``, and once more for the view — a dozen thread switches per request,
    several milliseconds of a report's time at the intake on a small machine. Built in sync
    mode, the chain is exactly what runs under WSGI, entered once per request through
    ``sync_to_async`` (thread-sensitive: the request keeps one thread, so its database
    connection and transaction stay put). WebSockets are not affected: they go to Channels.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)


django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.notify.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
