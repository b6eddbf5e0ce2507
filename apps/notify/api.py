"""REST endpoints under /api/notifications/ — the same data the socket pushes, for clients that
poll or catch up: list (``?cursor=<cursor>&seen=<ids>``, as the socket replays; the old
``?since=<id>``), unread count, mark read (one, all), desk counters — and the ticket that opens
a socket for a client without a session cookie."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.notify import selectors, services, tickets
from apps.notify.serializers import (
    DeskCountsOut,
    MarkAllReadOut,
    MarkReadOut,
    NotificationOut,
    ReplayOut,
    SinceIn,
    TicketOut,
    UnreadOut,
)
from apps.org.api_errors import error_response

REPLAY_LIMIT = 500


class NotificationListApi(ListAPIView):
    """Newest first. Catching up, oldest first:

    - ``?cursor=<cursor>&seen=<id>,<id>…`` (issue #15, the socket's replay rule,
      ``selectors.notifications_replay``): every notification after the cursor except the ids
      listed, as ``{"results": […], "more": …, "cursor": …}``; the client keeps the new cursor
      and the ids above it that it has. A notification committed after a higher one the client
      already has is returned too, never skipped.
    - ``?since=<id>`` (older clients): only those after that id, paginated as the list — a
      notification that commits after a higher id was seen is skipped for good.
    """

    serializer_class = NotificationOut

    @extend_schema(
        parameters=[SinceIn],
        description="不带 cursor：通知列表（分页）；带 cursor：补取，回答为 ReplayOut 的形状。",
    )
    def get(self, request, *args, **kwargs):
        params = SinceIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        if "cursor" in params.validated_data:
            page, more, cursor = selectors.notifications_replay(
                request.user,
                params.validated_data["cursor"],
                params.validated_data["seen"],
                limit=REPLAY_LIMIT,
            )
            if params.validated_data["unread"]:
                page = [n for n in page if n.read_at is None]
            return Response(ReplayOut({"results": page, "more": more, "cursor": cursor}).data)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = SinceIn(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.notifications_for(self.request.user).select_related("case")
        if params.validated_data["unread"]:
            qs = qs.filter(read_at__isnull=True)
        since = params.validated_data.get("since")
        return qs.filter(id__gt=since).order_by("id") if since is not None else qs.order_by("-id")


class UnreadCountApi(APIView):
    @extend_schema(responses=UnreadOut)
    def get(self, request):
        return Response(UnreadOut({"unread": selectors.unread_count(request.user)}).data)


class MarkReadApi(APIView):
    @extend_schema(request=None, responses=MarkReadOut)
    def post(self, request, pk: int):
        notification = services.notification_mark_read(user=request.user, notification_id=pk)
        if notification is None:
            return error_response("没有这条通知，请刷新通知列表。", code=status.HTTP_404_NOT_FOUND)
        data = {
            "id": notification.pk,
            "read_at": notification.read_at,
            "unread": selectors.unread_count(request.user),
        }
        return Response(MarkReadOut(data).data)


class MarkAllReadApi(APIView):
    @extend_schema(request=None, responses=MarkAllReadOut)
    def post(self, request):
        marked = services.notifications_mark_all_read(user=request.user)
        return Response(
            MarkAllReadOut({"marked": marked, "unread": selectors.unread_count(request.user)}).data
        )


class DeskCountsApi(APIView):
    """新到待办 and 超时 for the user's own desk (dispatchers, village handlers, leaders)."""

    @extend_schema(responses=DeskCountsOut)
    def get(self, request):
        region_id = selectors.desk_region_id(request.user)
        if region_id is None:
            return error_response(
                "只有指挥台（调度员、工作站人员、领导）有本级计数；网格员和处置人员请在移动端查看自己的任务。",
                code=status.HTTP_403_FORBIDDEN,
            )
        return Response(DeskCountsOut(selectors.desk_counts(region_id)).data)


class TicketApi(APIView):
    """A WebSocket ticket: single use, valid ``expires_in`` seconds (``WS_TICKET_TTL_S``), bound
    to the caller. Clients that log in with a token call this (``Authorization: Token <key>``)
    and connect to ``/ws/notifications/?ticket=<ticket>``: a token never goes into a socket URL,
    where access logs would keep it. Browsers need no ticket, their session cookie logs the
    socket in. See apps/notify/tickets.py."""

    @extend_schema(
        request=None,
        responses={
            200: TicketOut,
            403: OpenApiResponse(description='未登录或令牌无效：{"detail": "…"}'),
        },
        summary="WebSocket ticket (single use, 60 s)",
    )
    def post(self, request):
        data = {
            "ticket": tickets.ticket_issue(user=request.user),
            "expires_in": tickets.ticket_ttl_s(),
        }
        response = Response(TicketOut(data).data)
        response["Cache-Control"] = "no-store"
        return response
