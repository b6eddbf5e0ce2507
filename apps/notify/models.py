"""Persisted notifications: one row per (case event, person who must act or know).

The row is the truth; the WebSocket push is only a fast path. A phone that was offline, or a
socket that was cut when Redis restarted, asks for everything after the last id it saw.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    """Why a person is told; derived from the case event's action (see ``recipients``)."""

    NEW_REPORT = "new_report", _("新上报待受理")
    DISPATCH = "dispatch", _("新派遣")
    JOINT_RESPONSE = "joint_response", _("闪电集结")
    ESCALATION = "escalation", _("上报上级")
    RETURN = "return", _("退单")
    EXTENSION_REQUEST = "extension_request", _("延期申请")
    EXTENSION_DECISION = "extension_decision", _("延期审批结果")
    VERIFY_REQUEST = "verify_request", _("待核查")
    REWORK = "rework", _("返工")
    READY_TO_CLOSE = "ready_to_close", _("待结案")
    REOPEN = "reopen", _("重新打开")
    URGE = "urge", _("督办")
    CLOSED = "closed", _("已结案")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已合并")


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收人"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    case = models.ForeignKey(
        "cases.Case", verbose_name=_("事件"), on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(
        "cases.CaseEvent", verbose_name=_("处置记录"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("标题"), max_length=120)
    body = models.CharField(_("内容"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-id"]
        constraints = [
            # A re-delivered fan-out task (acks_late) or the outbox sweep must not tell anyone twice.
            models.UniqueConstraint(
                fields=["event", "recipient"], name="notification_once_per_event_recipient"
            ),
        ]
        indexes = [
            # "Everything since id N" for one person (replay on reconnect, the REST list).
            models.Index(fields=["recipient", "id"], name="notification_since_idx"),
            # Unread badge: only unread rows are indexed, so the count stays small and cheap.
            models.Index(
                fields=["recipient"],
                name="notification_unread_idx",
                condition=Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} {self.title}"
