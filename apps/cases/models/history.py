"""What happens to a case: its append-only history, photos, extension requests, and quarantined tasks."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models import Q
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _

from apps.cases.models.case import Case, Status
from apps.org.models import Tier, Unit


class Action(models.TextChoices):
    """Every kind of history entry — the verbs of DOMAIN.md §4."""

    REPORT = "report", _("上报")
    ROUTE = "route", _("分流")
    ACCEPT = "accept", _("受理立案")
    REJECT = "reject", _("不予立案")
    MERGE = "merge", _("合并")
    DISPATCH = "dispatch", _("派遣")
    SIGN = "sign", _("签收")
    RETURN = "return", _("退单")
    EXTENSION_REQUEST = "extension_request", _("申请延期")
    EXTENSION_APPROVE = "extension_approve", _("批准延期")
    EXTENSION_DENY = "extension_deny", _("驳回延期")
    ESCALATE = "escalate", _("上报上级")
    JOINT_RESPONSE = "joint_response", _("闪电集结")
    HANDLE = "handle", _("处置反馈")
    SELF_RESOLVE = "self_resolve", _("当场处置")
    VERIFY_PASS = "verify_pass", _("核查通过")
    VERIFY_FAIL = "verify_fail", _("核查不通过（返工）")
    CLOSE = "close", _("结案")
    REOPEN = "reopen", _("重新打开")
    URGE = "urge", _("督办")
    DEFER = "defer", _("挂账")
    RESUME = "resume", _("恢复办理")
    COLOUR = "colour", _("预警变色")
    RATE = "rate", _("评价")
    NOTE = "note", _("备注")


class CaseEvent(models.Model):
    """Append-only history of a case: who, when, from, to, note, photos.

    Also the outbox for notifications: ``notified_at`` stays empty until the notify task has
    fanned the event out, and a sweep re-sends anything left behind.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("动作"), max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(_("操作方"), max_length=100, blank=True)
    from_status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    from_tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    to_tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("内部备注"), blank=True)
    public_note = models.CharField(_("公开说明"), max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("处置记录")
        verbose_name_plural = _("处置记录")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="event_case_idx"),
            models.Index(fields=["action", "created_at"], name="event_action_idx"),
            models.Index(
                fields=["notified_at"],
                name="event_unnotified_idx",
                condition=Q(notified_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        # History is append-only: an existing row may only gain its notified_at stamp.
        if self.pk and kwargs.get("update_fields") != ["notified_at"]:
            raise ValidationError("CaseEvent rows are append-only.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("CaseEvent rows are append-only.")


class PhotoKind(models.TextChoices):
    REPORT = "report", _("上报照片")
    BEFORE = "before", _("处置前")
    AFTER = "after", _("处置后")
    VERIFY = "verify", _("核查照片")


def _photo_path(prefix: str, instance: CasePhoto, filename: str) -> str:
    return f"{prefix}/{instance.case_id % 1000:03d}/{instance.case_id}/{uuid.uuid4().hex}.jpg"


def original_path(instance, filename):
    ext = (filename.rsplit(".", 1)[-1] if "." in filename else "bin").lower()[:5]
    return f"originals/{instance.case_id % 1000:03d}/{instance.case_id}/{uuid.uuid4().hex}.{ext}"


def web_path(instance, filename):
    return _photo_path("web", instance, filename)


def thumb_path(instance, filename):
    return _photo_path("thumbs", instance, filename)


class _PhotoStorage(LazyObject):
    """``storages["photos"]`` (settings: PHOTO_STORAGE), looked up when first used. The model's
    file fields hold this one object from import on, so a change of ``STORAGES`` (a test that
    switches to S3) must reach them too: it is looked up again after one."""

    def _setup(self):
        self._wrapped = storages["photos"]


_photo_storage = _PhotoStorage()


@receiver(setting_changed)
def _photo_storage_changed(*, setting, **kwargs):
    if setting == "STORAGES":
        _photo_storage._wrapped = empty


def private_storage():
    """The storage of photo originals and their served copies: the local disk or a private
    bucket, never a public address. Every file goes through the storage API (save, open,
    delete, listdir), never a local path, so web and worker processes may be on other hosts.
    A callable because the migrations name it."""
    return _photo_storage


class CasePhoto(models.Model):
    """A photo of a case. The original stays in private storage; only re-encoded, metadata-free
    copies (web, thumb) are ever served, through a view that checks the viewer may see the case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    event = models.ForeignKey(
        CaseEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos"
    )
    kind = models.CharField(
        _("类型"), max_length=10, choices=PhotoKind.choices, default=PhotoKind.REPORT
    )
    client_id = models.CharField(max_length=64, blank=True)
    original = models.FileField(storage=private_storage, upload_to=original_path, max_length=200)
    web = models.FileField(storage=private_storage, upload_to=web_path, max_length=200, blank=True)
    thumb = models.FileField(
        storage=private_storage, upload_to=thumb_path, max_length=200, blank=True
    )
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField(_("公开"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("照片")
        verbose_name_plural = _("照片")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "client_id"],
                name="photo_unique_client_id",
                condition=~Q(client_id=""),
            ),
        ]


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已批准")
    DENIED = "denied", _("已驳回")


class ExtensionRequest(models.Model):
    """延期申请 by the handling unit, decided by the dispatcher of the case's tier."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="extension_requests")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    hours = models.FloatField(_("延长（小时）"))
    reason = models.TextField(_("理由"))
    status = models.CharField(
        max_length=10, choices=ExtensionStatus.choices, default=ExtensionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status="pending"),
                name="extension_one_pending_per_case",
            )
        ]


class QuarantinedTask(models.Model):
    """A background task that kept dying — its worker killed while running it, or failing — and
    is no longer retried (see ``apps.cases.task_guard``). Releasing it lets the outbox sweep
    send it again."""

    task_name = models.CharField(_("任务"), max_length=200)
    key = models.CharField(max_length=64, db_index=True, editable=False)
    args = models.JSONField(_("参数"), default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    deliveries = models.PositiveIntegerField(_("投递次数"))
    last_error = models.TextField(_("最后错误"), blank=True)
    quarantined_at = models.DateTimeField(_("隔离时间"), auto_now_add=True)
    released_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("隔离任务")
        verbose_name_plural = _("隔离任务（反复失败的后台任务）")
        ordering = ["-quarantined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(released_at__isnull=True),
                name="quarantine_one_open_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"
