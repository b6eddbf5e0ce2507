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


class SinceIn(serializers.Serializer):
    since = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        error_messages={"invalid": "since 必须是通知编号（非负整数）。"},
    )
    unread = serializers.BooleanField(required=False, default=False)


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
