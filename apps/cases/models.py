"""Cases: what a report becomes, the rules that route and time it, and its append-only history.

State changes happen only in ``apps.cases.services`` (the workflow service). Models hold data
and small derived properties; no business rules in ``save()`` or signals.
"""

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

from apps.org.models import Grid, Region, Role, Tier, Unit


class TimeBasis(models.TextChoices):
    WORKING_HOURS = "working_hours", _("工作小时")
    WORKING_DAYS = "working_days", _("工作日")
    NATURAL_HOURS = "natural_hours", _("自然小时")


class Severity(models.IntegerChoices):
    MAJOR = 1, _("Ⅰ级（重大）")
    SERIOUS = 2, _("Ⅱ级（较大）")
    ORDINARY = 3, _("Ⅲ级（一般）")


class Category(models.Model):
    """Two-level category tree (大类/小类). Cases are filed under a leaf (小类)."""

    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    name_en = models.CharField(_("英文名称"), max_length=80, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("大类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    time_basis = models.CharField(
        _("时限计算方式"), max_length=20, choices=TimeBasis.choices, default=TimeBasis.WORKING_HOURS
    )
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.parent.name}/{self.name}" if self.parent is not None else self.name

    def clean(self) -> None:
        if self.parent is not None and self.parent.parent_id:
            raise ValidationError({"parent": _("分类只有两级：大类下面只能是小类。")})


class RoutingRule(models.Model):
    """Routing table (category × tier → responsible unit).

    At the county tier the rule names a county department. At the town tier it names the
    department whose stationed unit at the case's town takes the case, or else a platform code:
    the first unit of that town's platform with this code. At the village tier the village
    workstation handles, so no rule is needed.
    """

    category = models.ForeignKey(
        Category, verbose_name=_("分类"), on_delete=models.CASCADE, related_name="routing_rules"
    )
    tier = models.CharField(_("层级"), max_length=10, choices=Tier.choices)
    department = models.ForeignKey(
        Unit,
        verbose_name=_("责任部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_rules",
        limit_choices_to={"kind": "department"},
    )
    platform_code = models.SlugField(_("平台代码"), max_length=40, blank=True)
    # For a major (Ⅰ/Ⅱ) case the county opens a joint response (闪电集结): the department above
    # leads and these departments assist (with their stationed units in the case's town).
    assisting_departments = models.ManyToManyField(
        Unit,
        verbose_name=_("联合处置协办部门"),
        blank=True,
        related_name="assisting_rules",
        limit_choices_to={"kind": "department"},
    )

    class Meta:
        verbose_name = _("分派规则")
        verbose_name_plural = _("分派规则")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "tier"], name="routing_one_rule_per_category_tier"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} @ {self.get_tier_display()}"

    def clean(self) -> None:
        if self.tier == Tier.COUNTY and not self.department_id:
            raise ValidationError({"department": _("区县层级的规则必须指定责任部门。")})
        if self.tier == Tier.TOWN and not (self.department_id or self.platform_code):
            raise ValidationError(_("乡镇层级的规则必须指定责任部门或平台代码。"))


class Step(models.TextChoices):
    ACCEPT = "accept", _("受理")
    DISPATCH = "dispatch", _("派遣")
    SIGN = "sign", _("签收")
    HANDLE = "handle", _("处置")
    VERIFY = "verify", _("核查")
    CLOSE = "close", _("结案")
    OVERALL = "overall", _("总时限")


class TimeLimit(models.Model):
    """Time-limit table (category × severity → limit for each step). A null severity applies to
    every severity without a row of its own. Hours are counted on the category's time basis."""

    category = models.ForeignKey(
        Category, verbose_name=_("分类"), on_delete=models.CASCADE, related_name="time_limits"
    )
    severity = models.PositiveSmallIntegerField(
        _("等级"), choices=Severity.choices, null=True, blank=True
    )
    step = models.CharField(_("环节"), max_length=10, choices=Step.choices)
    hours = models.FloatField(_("时限（小时；工作日按 8 小时/天）"))

    class Meta:
        verbose_name = _("时限")
        verbose_name_plural = _("时限表")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "severity", "step"], name="timelimit_unique"
            ),
            models.CheckConstraint(condition=Q(hours__gt=0), name="timelimit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.get_step_display()} {self.hours}h"


class WorkCalendarDay(models.Model):
    """An exception to the default week: a public holiday on a weekday, or a make-up working day
    (调休) on a weekend. Days without a row follow Monday–Friday."""

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("是否上班"))
    note = models.CharField(_("说明"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历（节假日与调休）")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'上班' if self.is_workday else '休息'} {self.note}"


class Status(models.TextChoices):
    REPORTED = "reported", _("待受理")
    ACCEPTED = "accepted", _("已立案待派遣")
    DISPATCHED = "dispatched", _("已派遣待签收")
    SIGNED = "signed", _("处置中")
    HANDLED = "handled", _("已处置待核查")
    VERIFIED = "verified", _("核查通过待结案")
    CLOSED = "closed", _("已结案")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已合并")
    DEFERRED = "deferred", _("挂账缓办")


FINAL_STATUSES = {Status.CLOSED, Status.REJECTED, Status.MERGED}
OPEN_STATUSES = [s for s in Status.values if s not in FINAL_STATUSES]
# Statuses in which a case waits for its desk (accept/reject, dispatch, close).
DESK_WAITING_STATUSES = [Status.REPORTED, Status.ACCEPTED, Status.VERIFIED]
# Open and running: a deferred (挂账) case has no clock, so it is never overdue and the clock
# sweep leaves it alone.
RUNNING_STATUSES = [s for s in OPEN_STATUSES if s != Status.DEFERRED]

# Who holds the desk at each tier (the workflow, the desk and the notifications read it).
DESK_ROLE_FOR_TIER: dict[str, Role] = {
    Tier.VILLAGE: Role.VILLAGE_HANDLER,
    Tier.TOWN: Role.TOWN_DISPATCHER,
    Tier.COUNTY: Role.COUNTY_DISPATCHER,
}


class Colour(models.TextChoices):
    """分色预警. Stored (and kept current by the workflow service and the sweep) so that lists
    and the colour board filter by an index instead of computing clocks per row."""

    GREEN = "green", _("绿：已办结")
    BLUE = "blue", _("蓝：办理中")
    YELLOW = "yellow", _("黄：即将超时")
    RED = "red", _("红：已超时")
    GREY = "grey", _("灰：挂账")


class Source(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员上报")
    CITIZEN = "citizen", _("市民随手拍")
    HOTLINE = "hotline", _("热线")
    OPEN311 = "open311", _("Open311")
    WARNING = "warning", _("预警系统")


class PositionSource(models.TextChoices):
    DEVICE_GPS = "gps", _("设备定位")
    PIN = "pin", _("手动选点")
    EXIF = "exif", _("照片 EXIF")
    ADDRESS = "address", _("输入地址")


class RejectReason(models.TextChoices):
    INVALID = "invalid", _("无效信息")
    DUPLICATE = "duplicate", _("重复上报")
    NOT_PUBLIC = "not_public", _("非公共事务")


def new_public_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)  # 192 bits


class Case(models.Model):
    """One problem found in the field, from report to closure (and rating)."""

    tracking_number = models.CharField(_("流水号"), max_length=16, unique=True)
    public_token = models.CharField(
        max_length=64, unique=True, default=new_public_token, editable=False
    )
    client_uuid = models.UUIDField(
        _("客户端编号"), null=True, blank=True, unique=True, editable=False
    )
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    source = models.CharField(
        _("来源"), max_length=20, choices=Source.choices, default=Source.GRID_WORKER
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("上报人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
        db_index=False,
    )
    reporter_phone = models.CharField(_("群众联系电话"), max_length=20, blank=True)

    category = models.ForeignKey(
        Category,
        verbose_name=_("分类"),
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,
    )
    severity = models.PositiveSmallIntegerField(
        _("等级"), choices=Severity.choices, default=Severity.ORDINARY
    )
    description = models.TextField(_("描述"), max_length=2000)
    address = models.CharField(_("地址"), max_length=200, blank=True)

    lat = models.FloatField(_("纬度"))
    lng = models.FloatField(_("经度"))
    accuracy_m = models.FloatField(_("定位精度（米）"), null=True, blank=True)
    position_source = models.CharField(_("定位来源"), max_length=10, choices=PositionSource.choices)
    position_time = models.DateTimeField(_("定位时间"), null=True, blank=True)
    position_flagged = models.BooleanField(_("定位存疑"), default=False)

    grid = models.ForeignKey(
        Grid, verbose_name=_("网格"), on_delete=models.PROTECT, related_name="cases"
    )
    village = models.ForeignKey(
        Region,
        verbose_name=_("村/社区"),
        on_delete=models.PROTECT,
        related_name="village_cases",
        db_index=False,
    )
    town = models.ForeignKey(
        Region,
        verbose_name=_("乡镇/街道"),
        on_delete=models.PROTECT,
        related_name="town_cases",
        db_index=False,
    )
    county = models.ForeignKey(
        Region,
        verbose_name=_("区县"),
        on_delete=models.PROTECT,
        related_name="county_cases",
        db_index=False,
    )

    status = models.CharField(
        _("状态"), max_length=12, choices=Status.choices, default=Status.REPORTED
    )
    # The tier whose desk currently owns the case, and that desk's region. Exactly one owner
    # at any time while the case is open (the lead unit works *for* this desk).
    tier = models.CharField(
        _("所在层级"), max_length=10, choices=Tier.choices, default=Tier.VILLAGE
    )
    holder = models.ForeignKey(
        Region,
        verbose_name=_("责任层级"),
        on_delete=models.PROTECT,
        related_name="held_cases",
        db_index=False,
    )
    lead_unit = models.ForeignKey(
        Unit,
        verbose_name=_("牵头单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_cases",
        db_index=False,
    )
    assisting_units = models.ManyToManyField(
        Unit, verbose_name=_("协办单位"), blank=True, related_name="assisting_cases"
    )
    suggested_unit = models.ForeignKey(
        Unit,
        verbose_name=_("建议单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    # Clocks. ``step`` is what the owner must do next; ``step_deadline`` is when; ``yellow_at``
    # is 80 % of that step's limit; ``escalate_at`` is when the sweep escalates a case that
    # made no progress; ``sweep_due_at`` is the earliest of the three that is still ahead, so
    # the beat sweep reads one index instead of scanning open cases. That index lives in the
    # narrow ``SweepDue`` table, kept by database triggers (migration 0005), not on this row:
    # see SweepDue for why.
    step = models.CharField(_("当前环节"), max_length=10, choices=Step.choices, default=Step.ACCEPT)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_deadline = models.DateTimeField(_("环节时限"), null=True, blank=True)
    yellow_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    sweep_due_at = models.DateTimeField(null=True, blank=True)
    overall_deadline = models.DateTimeField(_("办结时限"), null=True, blank=True)
    colour = models.CharField(
        _("预警颜色"), max_length=8, choices=Colour.choices, default=Colour.BLUE
    )
    sign_overdue = models.BooleanField(_("签收超时"), default=False)

    joint_response = models.BooleanField(_("联合处置（闪电集结）"), default=False)
    self_resolved = models.BooleanField(_("当场处置"), default=False)
    reject_reason = models.CharField(
        _("不予立案原因"), max_length=12, choices=RejectReason.choices, blank=True
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("合并到"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_cases",
        db_index=False,
    )
    probable_duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("疑似重复"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    deferred_review_on = models.DateField(_("挂账复查日期"), null=True, blank=True)
    deferred_from = models.CharField(max_length=12, choices=Status.choices, blank=True)

    return_count = models.PositiveSmallIntegerField(_("退单次数"), default=0)
    escalation_count = models.PositiveSmallIntegerField(_("上报次数"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("返工次数"), default=0)
    urge_count = models.PositiveSmallIntegerField(_("督办次数"), default=0)
    extension_count = models.PositiveSmallIntegerField(_("延期次数"), default=0)
    result_text = models.TextField(_("处置结果"), blank=True)

    created_at = models.DateTimeField(_("上报时间"), auto_now_add=True, db_index=True)
    accepted_at = models.DateTimeField(_("立案时间"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("派遣时间"), null=True, blank=True)
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    handled_at = models.DateTimeField(_("处置时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Optimistic concurrency: every state change is ``UPDATE … WHERE id=? AND version=?``.
    version = models.PositiveIntegerField(default=0)

    # Transactional outbox: follow-up work committed with the row (e.g. ["route", "photos"]);
    # tasks clear their entry, and a beat sweep re-enqueues anything left behind.
    pending_work = models.JSONField(default=list, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["town", "status"], name="case_town_status_idx"),
            models.Index(fields=["village", "status"], name="case_village_status_idx"),
            models.Index(fields=["holder", "status"], name="case_holder_status_idx"),
            models.Index(fields=["lead_unit", "status"], name="case_unit_status_idx"),
            models.Index(fields=["category", "created_at"], name="case_category_created_idx"),
            models.Index(fields=["reporter", "-created_at"], name="case_reporter_idx"),
            models.Index(
                fields=["pending_since"],
                name="case_pending_idx",
                condition=Q(pending_since__isnull=False),
            ),
            models.Index(fields=["category", "lat", "lng"], name="case_dup_probe_idx"),
            # The command desk (apps/desk/dashboard.py, admin): a county's open cases (by status:
            # see below), overdue cases (step_deadline is set only while a case runs) and
            # today's intake, per county and per town, without reading every case of the county.
            models.Index(fields=["county", "status"], name="case_county_status_idx"),
            models.Index(fields=["county", "step_deadline"], name="case_county_deadline_idx"),
            models.Index(fields=["town", "step_deadline"], name="case_town_deadline_idx"),
            models.Index(fields=["county", "created_at"], name="case_county_created_idx"),
            models.Index(fields=["town", "created_at"], name="case_town_created_idx"),
            # Foreign keys that are empty on almost every case: partial indexes, so the
            # rows without one cost nothing (deletes of the referenced row still find theirs).
            models.Index(
                fields=["suggested_unit"],
                name="case_suggested_unit_idx",
                condition=Q(suggested_unit__isnull=False),
            ),
            models.Index(
                fields=["merged_into"],
                name="case_merged_into_idx",
                condition=Q(merged_into__isnull=False),
            ),
            models.Index(
                fields=["probable_duplicate_of"],
                name="case_probable_dup_idx",
                condition=Q(probable_duplicate_of__isnull=False),
            ),
        ]
        # Why the other foreign keys carry db_index=False: every index on this table is written
        # again whenever a step changes an indexed column (status, deadlines), and each of those
        # keys already leads one of the composite indexes above.
        #
        # No index holds a column the clock sweep changes (colour, sign_overdue, sweep_due_at,
        # urge_count, version, updated_at), and the table keeps 15 % of each page free
        # (fillfactor, migration 0005): a case turning yellow or red is then a HOT update —
        # PostgreSQL rewrites the row in its own page and touches none of the indexes. With
        # the colour indexed it rewrote an entry in each of them, and ten thousand cases
        # turning red in one minute took seconds. Open cases are therefore found by status
        # (open ⇔ not green: the workflow service sets both together).

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.category.name if self.category_id else ''}"

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES


class SweepDue(models.Model):
    """The clock sweep's index: one row per case whose ``sweep_due_at`` is set, with that moment.

    Kept by database triggers on ``cases_case`` (migration 0005: statement-level with transition
    tables on PostgreSQL, row-level on SQLite), so every writer of ``Case.sweep_due_at`` —
    services, the sweep's own UPDATEs, bulk loads, hand edits — keeps it right without knowing
    it exists. It is a table of its own so that the index over ``sweep_due_at`` is not an index
    of the wide case row, whose sweep updates can then stay HOT (see Case.Meta). Nothing in
    Python writes it."""

    case = models.OneToOneField(
        Case, primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    due_at = models.DateTimeField()

    class Meta:
        verbose_name = _("时钟扫描索引")
        verbose_name_plural = _("时钟扫描索引")
        # The sweep walks it in windows, in the order cases fell due (sweep._DueWindow).
        indexes = [models.Index(fields=["due_at", "case"], name="sweepdue_due_idx")]


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
