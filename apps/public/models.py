"""Citizens: ratings (评价) of closed cases, the review items a poor rating opens for the town
dispatcher, and the API keys of Open311 clients.

No personal data is stored here beyond what a citizen typed into a rating comment: the phone
that proves who may rate stays on the case (``Case.reporter_phone``), never copied.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.cases.models import Case
from apps.org.models import Region


class Stars(models.IntegerChoices):
    """The five levels of DOMAIN.md §4 (回访/评价), as 1–5 stars."""

    VERY_POOR = 1, _("差")
    POOR = 2, _("较差")
    FAIR = 3, _("一般")
    GOOD = 4, _("较满意")
    VERY_GOOD = 5, _("满意")


# A rating at or below this opens a review item for the town dispatcher.
LOW_RATING_MAX = 2


class Rating(models.Model):
    """One citizen rating of one case (回访评价): once per case — the case has one reporter and
    one phone, so "once per case and phone" is one row per case. Evaluation reads
    ``case``, ``stars`` and ``created_at``."""

    case = models.OneToOneField(
        Case, verbose_name=_("事件"), on_delete=models.CASCADE, related_name="rating"
    )
    stars = models.PositiveSmallIntegerField(
        _("评价"), choices=Stars.choices, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(_("意见"), max_length=500, blank=True)
    # How the rater proved they are the reporter: the link token or the phone's last four digits.
    via = models.CharField(
        _("验证方式"), max_length=10, choices=[("token", _("链接")), ("phone", _("手机尾号"))]
    )
    created_at = models.DateTimeField(_("评价时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("市民评价")
        verbose_name_plural = _("市民评价")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stars", "created_at"], name="rating_stars_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(stars__gte=1, stars__lte=5), name="rating_stars_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.case.tracking_number} {self.get_stars_display()}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("待复核")
    DONE = "done", _("已复核")


class ReviewItem(models.Model):
    """A poor rating (1–2 stars) waiting for the town dispatcher to look into (差评复核).
    ``town`` is copied from the case so the desk's list is one indexed filter."""

    case = models.ForeignKey(
        Case, verbose_name=_("事件"), on_delete=models.CASCADE, related_name="review_items"
    )
    rating = models.OneToOneField(
        Rating, verbose_name=_("评价"), on_delete=models.CASCADE, related_name="review"
    )
    town = models.ForeignKey(
        Region, verbose_name=_("乡镇/街道"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("状态"), max_length=8, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    resolution = models.TextField(_("复核说明"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("复核人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolved_at = models.DateTimeField(_("复核时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("差评复核")
        verbose_name_plural = _("差评复核")
        ordering = ["status", "-created_at"]
        indexes = [
            models.Index(fields=["town", "status", "created_at"], name="review_town_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.case.tracking_number} {self.get_status_display()}"


class Open311Key(models.Model):
    """An API key of an Open311 client (a 311 app, a hotline system). Only a SHA-256 of the key
    is stored: the key itself is shown once, when it is issued. Keys are 256-bit random, so a
    plain hash is enough (no password stretching needed)."""

    name = models.CharField(_("名称"), max_length=100)
    prefix = models.CharField(_("前缀"), max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 密钥")
        verbose_name_plural = _("Open311 密钥")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Open311Submission(models.Model):
    """Which key submitted which case, so a misused key's cases can be found."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="open311_submission")
    key = models.ForeignKey(Open311Key, on_delete=models.PROTECT, related_name="submissions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 上报")
        verbose_name_plural = _("Open311 上报")
