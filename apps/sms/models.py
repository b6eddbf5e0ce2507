from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SmsKind(models.TextChoices):
    TRACKING = "tracking", _("受理告知（查询链接）")
    RATING = "rating", _("办结回访（评价链接）")


class SmsStatus(models.TextChoices):
    QUEUED = "queued", _("待发送")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    LIMITED = "limited", _("超出每日上限，未发送")


def mask_phone(phone: str) -> str:
    """138****8000: what a screen or a log line may show of a number."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


class SmsMessage(models.Model):
    """One message to a citizen, at most one of each kind per case; the delivery log."""

    case = models.ForeignKey(
        "cases.Case", verbose_name=_("事件"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=SmsKind.choices)
    phone = models.CharField(_("手机号"), max_length=20)
    text = models.CharField(_("内容"), max_length=300)
    status = models.CharField(
        _("状态"), max_length=10, choices=SmsStatus.choices, default=SmsStatus.QUEUED
    )
    backend = models.CharField(_("通道"), max_length=20, blank=True)
    provider_id = models.CharField(_("回执编号"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    # When the next attempt may start: an attempt in progress holds it in the future (a worker
    # that dies mid-send leaves it to expire), a retryable failure backs it off.
    next_try_at = models.DateTimeField(_("下次尝试"), null=True, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("群众短信")
        verbose_name_plural = _("群众短信")
        ordering = ["-id"]
        constraints = [
            # The sweep may see an event twice (a redelivery, a second beat): one message only.
            models.UniqueConstraint(fields=["case", "kind"], name="sms_once_per_case_kind")
        ]
        indexes = [
            # The daily limit per number.
            models.Index(fields=["phone", "created_at"], name="sms_phone_day_idx"),
            # The send sweep: messages still waiting.
            models.Index(
                fields=["next_try_at"],
                name="sms_queued_idx",
                condition=models.Q(status="queued"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {mask_phone(self.phone)}"


class SmsCursor(models.Model):
    """How far the sweep has read the case history (append-only, by id)."""

    name = models.CharField(max_length=40, primary_key=True)
    event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.event_id}"
