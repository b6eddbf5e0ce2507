"""The WebSocket endpoint ``/ws/notifications/``.

Protocol (JSON text frames):

    connect   /ws/notifications/?since=<cursor>&seen=<id>,<id>…   (session cookie: browsers)
              /ws/notifications/?ticket=<ticket>&since=…&seen=… (clients with a token: first
              POST /api/notifications/ticket/ with it, see apps/notify/tickets.py)
              or, unauthenticated, a first message {"type": "auth", "ticket": "<ticket>"}
              A long-lived token is never accepted on the socket: ?token= in the URL, or
              {"type": "auth", "token": …}, is refused with an error message and 4401 —
              URLs land in access logs, and a ticket there is spent and expires in 60 s.
    server →  {"type": "hello", "user": 7, "unread": 3, "last_id": 120, "may_subscribe": [...]}
              then, with ?since, every notification after it except those in ``seen``
              ({"type": "notification", …, "replayed": true}), oldest first, and
              {"type": "replay.done", "count": n, "more": false, "cursor": 117}
    client →  {"type": "subscribe", "group": "unit.4"}    own unit/region only, else close 4403
              {"type": "mark_read", "id": 120} / {"type": "mark_read", "all": true}
              {"type": "replay", "since": 117, "seen": [118, 120]}   (a catch-up, any time)
              {"type": "counts"}   {"type": "ping"}
    server →  {"type": "notification", …, "unread": 4}   {"type": "unread", "count": 0}
              {"type": "tasks.changed", "case": 9, "action": "sign"}  (unit groups; a batch
              of routed reports sends one per unit, with "cases": [9, 12, …])
              {"type": "desk.counts", "region": 2, "new": 5, "overdue": 1}  (region groups)
              {"type": "error", "detail": "…"}

The cursor (issue #15). Remembering the highest id seen and asking for what follows skips a
notification for good: ids are taken before commit, so id 11 can be pushed and seen before id
10 commits, and a push can fail (Redis restarting) while later ones arrive live. So a client
keeps two things: ``cursor``, which only the server advances (``replay.done``), and ``seen``,
the ids above it it has shown. The server advances the cursor over notifications older than
``NOTIFY_SETTLE_S`` (60 s): no transaction that could still commit a lower id runs that long
(the fan-out inserts a notification in one short statement, apps/notify/services.py), and every row at or below the new cursor was committed and is either in this replay or in
``seen``. Younger rows stay above the cursor and come again in the next replay unless listed
in ``seen``; one socket never sends an id twice. A client replays on every (re)connect and now
and then on an open socket (a push lost while it stayed open). We chose this over a sequence
assigned at commit, which needs a lock every fan-out would queue on, and over per-device
acknowledgements, which need server state per phone. A first connection starts at ``last_id``;
an old client's ``?since=<highest id seen>`` works as before (with the old gap).

Close codes: 4401 not authenticated (anonymous, a used, expired or forged ticket, a token
instead of a ticket, no auth message in time),
4403 a subscription to a group that is not the user's own, 4400 a frame too large,
1012 "service restart": the channel layer (Redis) went away, or this web process is stopping —
reconnect (to any process) with ``?since=<cursor>&seen=…``.
The socket joins its user group at once; unit and region groups on request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

import redis.exceptions
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from apps.notify import selectors, services, tickets
from apps.notify.serializers import notification_payload

try:
    from uvicorn.protocols.utils import ClientDisconnected
except ImportError:  # another ASGI server: it does not raise uvicorn's exception

    class ClientDisconnected(Exception):  # type: ignore[no-redef]  # noqa: N818 - uvicorn's name
        pass


log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10.0
MAX_FRAME_CHARS = 4096
REPLAY_LIMIT = 500
MAX_SEEN = 500  # ids a client may list in ``seen``; it keeps far fewer (see live.js)
# channels-redis forgets group members after a day; a long-lived phone socket re-joins on pings.
REJOIN_EVERY_S = 3600.0

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_FRAME = 4400
CLOSE_SERVICE_RESTART = 1012


def _load_user(user_id: int):
    return (
        get_user_model()
        .objects.select_related("profile__region")
        .filter(pk=user_id, is_active=True)
        .first()
    )


def _user_for_ticket(ticket) -> object | None:
    user_id = tickets.ticket_redeem(ticket)
    return _load_user(user_id) if user_id is not None else None


TOKEN_REFUSED = (
    "连接地址和消息里不能带长期令牌（token），它会被写进日志。请先用令牌调用 "
    "POST /api/notifications/ticket/ 换取一次性票据，再用 ?ticket=<票据> 连接。"
)
TICKET_REFUSED = (
    "票据无效、已用过或已过期（签发后 {ttl} 秒内有效，只能用一次）。请重新获取票据后再连接。"
)


def _hello(user) -> dict:
    return {
        "type": "hello",
        "user": user.pk,
        "unread": selectors.unread_count(user),
        "last_id": selectors.last_id(user),
        "may_subscribe": sorted(selectors.groups_for(user)),
    }


def _replay(user, since: int, skip: set[int]) -> tuple[list[dict], bool, int]:
    """The notifications after ``since`` not in ``skip``, whether more follow, and the new
    cursor (``selectors.notifications_replay``, the rule REST's ``?cursor=`` shares)."""
    page, more, cursor = selectors.notifications_replay(user, since, skip, limit=REPLAY_LIMIT)
    return [{**notification_payload(n), "replayed": True} for n in page], more, cursor


def _parse_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _parse_ids(value) -> set[int] | None:
    """``seen``: a list of ids, or (in a URL) ids separated by commas; None if malformed."""
    if value is None or value == "":
        return set()
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list) or len(parts) > MAX_SEEN:
        return None
    ids: set[int] = set()
    for part in parts:
        parsed = _parse_id(part)
        if parsed is None:
            return None
        ids.add(parsed)
    return ids


SINCE_REFUSED = "since 必须是通知编号（非负整数）。"
SEEN_REFUSED = f"seen 必须是通知编号的列表（最多 {MAX_SEEN} 个）。"


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnected:
            # The client hung up while we were sending (uvicorn's ClientDisconnected is an
            # OSError): nothing failed, and there is nobody left to tell.
            return
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("socket closed with 1012, the channel layer failed: %r", exc)
            # The channel layer went away (Redis restarted): the groups this socket joined are
            # forgotten, so it would listen to nothing. Say "service restart" (1012) and let the
            # client reconnect and replay from its last id.
            try:
                await send({"type": "websocket.close", "code": CLOSE_SERVICE_RESTART})
            except Exception:  # noqa: BLE001 - the client may be gone too
                pass

    async def connect(self) -> None:
        self.user = None
        self.joined: set[str] = set()
        # Notification ids sent on this socket, live or replayed: none is sent twice.
        self.sent: set[int] = set()
        self.joined_at = 0.0
        self.auth_timer: asyncio.Task | None = None
        # Accept first: a custom close code (4401, 4403) is only possible on an open socket.
        await self.accept()
        params = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.since_param = params.get("since", [None])[0]
        self.seen_param = params.get("seen", [None])[0]
        if "token" in params:
            await self._refuse(CLOSE_UNAUTHENTICATED, TOKEN_REFUSED)
            return
        if "ticket" in params:
            await self._authenticate_ticket(params["ticket"][0])
            return
        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated:
            await self._authenticate(await database_sync_to_async(_load_user)(session_user.pk))
            return
        self.auth_timer = asyncio.ensure_future(self._close_if_still_anonymous())

    async def _close_if_still_anonymous(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_S)
        if self.user is None:
            await self._refuse(CLOSE_UNAUTHENTICATED, "请先登录。")

    async def _refuse(self, code: int, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})
        await self.close(code=code)

    async def _authenticate_ticket(self, ticket) -> None:
        user = await database_sync_to_async(_user_for_ticket)(ticket)
        await self._authenticate(user, refusal=TICKET_REFUSED.format(ttl=tickets.ticket_ttl_s()))

    async def _authenticate(self, user, *, refusal: str = "登录已失效，请重新登录。") -> None:
        if user is None:
            await self._refuse(CLOSE_UNAUTHENTICATED, refusal)
            return
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.user = user
        # Join before reading the replay, so nothing created in between is missed (a row that
        # arrives both ways is sent once: see ``notify_message``).
        await self._join(selectors.user_group(user.pk))
        await self.send_json(await database_sync_to_async(_hello)(user))
        if self.since_param is not None:
            await self._on_replay({"since": self.since_param, "seen": self.seen_param})

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)
        self.joined_at = time.monotonic()

    async def _replay(self, since: int, seen: set[int]) -> None:
        messages, more, cursor = await database_sync_to_async(_replay)(
            self.user, since, seen | self.sent
        )
        for message in messages:
            self.sent.add(message["id"])
            await self.send_json(message)
        await self.send_json(
            {"type": "replay.done", "count": len(messages), "more": more, "cursor": cursor}
        )

    async def disconnect(self, code) -> None:
        auth_timer = getattr(self, "auth_timer", None)  # unset if the socket never connected
        if auth_timer is not None:
            auth_timer.cancel()
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- client → server ----------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._refuse(CLOSE_BAD_FRAME, "只接受 4 KB 以内的 JSON 文本消息。")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_json({"type": "error", "detail": "消息不是有效的 JSON。"})
            return
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "detail": "消息必须是 JSON 对象。"})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        if self.user is None:
            if kind == "auth" and "ticket" in content:
                await self._authenticate_ticket(content.get("ticket"))
            elif kind == "auth" and "token" in content:
                await self._refuse(CLOSE_UNAUTHENTICATED, TOKEN_REFUSED)
            else:
                await self._refuse(
                    CLOSE_UNAUTHENTICATED,
                    '请先登录，或发送一次性票据：{"type": "auth", "ticket": "…"}。',
                )
            return
        handler = {
            "subscribe": self._on_subscribe,
            "mark_read": self._on_mark_read,
            "replay": self._on_replay,
            "counts": self._on_counts,
            "ping": self._on_ping,
            "auth": self._on_ping,  # already authenticated: harmless
        }.get(kind)
        if handler is None:
            await self.send_json({"type": "error", "detail": f"未知的消息类型：{str(kind)[:40]}"})
            return
        await handler(content)

    async def _on_subscribe(self, content: dict) -> None:
        group = content.get("group")
        if not isinstance(group, str) or not await database_sync_to_async(selectors.may_join)(
            self.user, group
        ):
            await self._refuse(CLOSE_FORBIDDEN, "只能订阅本人、本单位或本级指挥台的消息。")
            return
        await self._join(group)
        reply: dict = {"type": "subscribed", "group": group}
        await self.send_json(reply)
        if group.startswith("region."):
            await self._send_counts(int(group.split(".", 1)[1]))

    async def _send_counts(self, region_id: int) -> None:
        counts = await database_sync_to_async(selectors.desk_counts)(region_id)
        await self.send_json({"type": "desk.counts", **counts})

    async def _on_counts(self, content: dict) -> None:
        regions = [g for g in self.joined if g.startswith("region.")]
        if not regions:
            await self.send_json(
                {"type": "error", "detail": "请先订阅本级指挥台（region.<编号>）。"}
            )
        for group in regions:
            await self._send_counts(int(group.split(".", 1)[1]))

    async def _on_mark_read(self, content: dict) -> None:
        if content.get("all") is True:
            await database_sync_to_async(services.notifications_mark_all_read)(user=self.user)
        else:
            pk = _parse_id(content.get("id"))
            found = pk is not None and await database_sync_to_async(
                services.notification_mark_read
            )(user=self.user, notification_id=pk)
            if not found:
                await self.send_json({"type": "error", "detail": "没有这条通知。"})
                return
        # The service pushed the new count to the user group (every device of the user).

    async def _on_replay(self, content: dict) -> None:
        since, seen = _parse_id(content.get("since")), _parse_ids(content.get("seen"))
        if since is None or seen is None:
            await self.send_json(
                {"type": "error", "detail": SINCE_REFUSED if since is None else SEEN_REFUSED}
            )
            return
        await self._replay(since, seen)

    async def _on_ping(self, content: dict) -> None:
        if time.monotonic() - self.joined_at > REJOIN_EVERY_S:
            for group in list(self.joined):
                await self._join(group)
        await self.send_json({"type": "pong"})

    # --- channel layer → client -------------------------------------------------------

    async def notify_message(self, event: dict) -> None:
        payload = event["payload"]
        if payload.get("type") == "notification":
            if payload.get("id") in self.sent:
                return  # replayed already, or a push sent again after a failure
            self.sent.add(payload.get("id"))
        await self.send_json(payload)
