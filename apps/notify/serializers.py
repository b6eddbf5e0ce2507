"""The one shape of a notification, for the REST API and the WebSocket alike."""

from __future__ import annotations

from rest_framework import serializers

from apps.cases.tracking import display
from apps.notify.models import Notification


class NotificationOut(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    tracking_number = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "kind_label",
            "title",
            "body",
            "case",
            "tracking_number",
            "created_at",
            "read_at",
            "read",
        ]

    def get_tracking_number(self, obj: Notification) -> str:
        return display(obj.case.tracking_number)  # as people read it: 7K3M-Q9XD-2HTB-P

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


_timestamp = serializers.DateTimeField()


def notification_payload(notification: Notification) -> dict:
    """A WebSocket message (``type: notification``): ``NotificationOut``'s fields, built directly —
    the fan-out makes one per person, and a serializer instance per message cost more than the
    rest of the message (tests/notify compare the two shapes). Load ``case`` with the
    notification."""
    return {
        "type": "notification",
        "id": notification.pk,
        "kind": notification.kind,
        "kind_label": notification.get_kind_display(),
        "title": notification.title,
        "body": notification.body,
        "case": notification.case_id,
        "tracking_number": display(notification.case.tracking_number),
        "created_at": _timestamp.to_representation(notification.created_at),
        "read_at": _timestamp.to_representation(notification.read_at)
        if notification.read_at
        else None,
        "read": notification.read_at is not None,
    }


class UnreadOut(serializers.Serializer):
    unread = serializers.IntegerField()


MAX_SEEN = 500  # ids a client may list in ``seen`` (as on the socket)


def _position(help_text: str, invalid: str) -> serializers.IntegerField:
    """An optional place in the notification sequence (an id or a cursor): a non-negative
    integer that fits the table's id column."""
    return serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        help_text=help_text,
        error_messages={"invalid": invalid},
    )


class SinceIn(serializers.Serializer):
    since = _position(
        "旧方式：只要编号大于它的通知（之前提交得晚、编号更小的会漏掉）。",
        "since 必须是通知编号（非负整数）。",
    )
    cursor = _position(
        "补取游标：上一次回答里的 cursor（第一次用 0）。回答给出它之后、seen 之外的通知。",
        "cursor 必须是上次回答给出的游标（非负整数）。",
    )
    seen = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=MAX_SEEN * 20,
        help_text="游标之后客户端已有的通知编号，用逗号分隔（最多 500 个）。",
    )
    unread = serializers.BooleanField(required=False, default=False)

    def validate_seen(self, value: str) -> set[int]:
        parts = [p for p in value.split(",") if p.strip()] if value else []
        if len(parts) > MAX_SEEN or not all(
            p.strip().isdigit() and len(p.strip()) < 19 for p in parts
        ):
            raise serializers.ValidationError(
                f"seen 必须是逗号分隔的通知编号（最多 {MAX_SEEN} 个）。"
            )
        return {int(p) for p in parts}

    def validate(self, attrs: dict) -> dict:
        if "cursor" in attrs and "since" in attrs:
            raise serializers.ValidationError("since 和 cursor 只能用一个：新客户端请用 cursor。")
        return attrs


class ReplayOut(serializers.Serializer):
    """A catch-up by cursor: what the socket's replay sends, in one answer."""

    results = NotificationOut(many=True)
    more = serializers.BooleanField(help_text="还有下一页：用新的 cursor 再取。")
    cursor = serializers.IntegerField(help_text="下次补取时带上的游标（只由服务器推进）。")


class MarkReadOut(serializers.Serializer):
    id = serializers.IntegerField()
    read_at = serializers.DateTimeField()
    unread = serializers.IntegerField()


class MarkAllReadOut(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class DeskCountsOut(serializers.Serializer):
    region = serializers.IntegerField()
    new = serializers.IntegerField()
    overdue = serializers.IntegerField()


class TicketOut(serializers.Serializer):
    ticket = serializers.CharField(
        help_text='Opens one WebSocket: ?ticket=<ticket> or {"type": "auth", "ticket": …}.'
    )
    expires_in = serializers.IntegerField(
        help_text="Seconds the ticket stays valid (WS_TICKET_TTL_S)."
    )
