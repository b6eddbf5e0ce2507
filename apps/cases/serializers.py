"""Input and output serializers of the case API (field app, scripts). Shapes only — the rules
live in the workflow service and ``apps.cases.rules``."""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.cases import reference, steps, tracking
from apps.cases.models import (
    Case,
    CaseEvent,
    CasePhoto,
    Category,
    Colour,
    PhotoKind,
    PositionSource,
    Severity,
    Status,
)
from apps.cases.photos import CLIENT_ID_RE, photo_url
from apps.cases.selectors import CaseClock, case_clock
from apps.core.maps import map_config
from apps.org.models import Grid, Profile, Tier

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The steps the field app offers, in the order the app shows them (the step that moves the case
# forward first); the desk's dispatching and deciding happen in the admin.
FIELD_ACTIONS = steps.FIELD_STEP_NAMES

# Photos sent with a report (on-site verification photos come with the verify step).
REPORT_PHOTO_KINDS = [(k, v) for k, v in PhotoKind.choices if k != PhotoKind.VERIFY]

WAITING_FOR: dict[str, StrOrPromise] = {
    Status.REPORTED: _("受理"),
    Status.DISPATCHED: _("签收"),
    Status.SIGNED: _("处置"),
    Status.HANDLED: _("核查"),
    Status.VERIFIED: _("结案"),
}


class ActiveLeafCategoryField(serializers.PrimaryKeyRelatedField):
    """A category id → an active 小类, looked up in this process's copy of the category tree
    (``apps.cases.reference``) instead of a query per report. The queryset stays for the
    schema and the browsable API's choices."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        category = reference.active_leaf(pk)
        if category is None:
            self.fail("does_not_exist", pk_value=data)
        return category


def _category_field() -> serializers.PrimaryKeyRelatedField:
    return ActiveLeafCategoryField(
        queryset=Category.objects.filter(is_active=True, parent__isnull=False).select_related(
            "parent"
        ),
        error_messages={
            "does_not_exist": _("未知的分类（编号 {pk_value}）：请选择一个启用的小类。"),
            "incorrect_type": _("分类编号必须是数字。"),
            "required": _("请选择分类。"),
            "null": _("请选择分类。"),
        },
    )


class CopiedFieldsMixin:
    """Fields for each serializer instance by a shallow copy of the declared ones.

    DRF deep-copies every declared field for every serializer instance, and a field's deep copy
    runs its ``__init__`` again (validators, error messages, choices built anew): on the intake,
    where each report builds one input and one output serializer, that was a sixth of the
    request's CPU. A shallow copy is as good for fields that are not containers: ``bind()`` gives
    the copy its own name, parent and source, and the parts it shares with the declared field
    (error messages, choices, the validator objects) are only read after construction. The list
    of validators is copied, so a validator added to one instance stays there. Container fields
    (a ``ListField``'s child, a nested serializer) are bound to their parent: deep-copied, as DRF does.
    """

    def get_fields(self):
        fields = {}
        for name, declared in self._declared_fields.items():
            if any(hasattr(declared, a) for a in ("child", "child_relation", "_declared_fields")):
                fields[name] = copy.deepcopy(declared)
                continue
            field = copy.copy(declared)
            if "_validators" in declared.__dict__:
                field._validators = list(declared._validators)
            fields[name] = field
        return fields


class DisplayField(serializers.CharField):
    """A choice field's label (``get_<name>_display()``), read-only. DRF's generic attribute
    lookup would inspect the bound method's signature on every object it serializes."""

    def __init__(self, choice_field: str, **kwargs):
        super().__init__(source=f"get_{choice_field}_display", read_only=True, **kwargs)

    def get_attribute(self, instance):
        return getattr(instance, self.source)()


# --- input -------------------------------------------------------------------------------


class ReportInputSerializer(CopiedFieldsMixin, serializers.Serializer):
    """One report from the field. ``id`` is the phone's UUID for it (the idempotency key)."""

    id = serializers.UUIDField(
        error_messages={
            "invalid": _("上报编号必须是 UUID。"),
            "required": _("缺少上报编号 id（UUID）。"),
        }
    )
    category = _category_field()
    description = serializers.CharField(
        max_length=2000,
        error_messages={
            "blank": _("请填写问题描述。"),
            "required": _("请填写问题描述。"),
            "max_length": _("描述不能超过 2000 字。"),
        },
    )
    severity = serializers.ChoiceField(
        choices=Severity.choices,
        default=Severity.ORDINARY,
        error_messages={"invalid_choice": _("等级只能是 1（Ⅰ级）、2（Ⅱ级）或 3（Ⅲ级）。")},
    )
    lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    lng = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    accuracy_m = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=100_000
    )
    position_source = serializers.ChoiceField(
        choices=PositionSource.choices, default=PositionSource.DEVICE_GPS
    )
    position_time = serializers.DateTimeField(required=False, allow_null=True)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    reporter_phone = serializers.RegexField(
        r"^\+?[0-9][0-9 \-]{4,19}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": _("群众联系电话格式不对（5–20 位数字）。")},
    )
    self_resolved = serializers.BooleanField(required=False, default=False)
    result_text = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )
    place = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="附近场所: the id of a place from /api/places/near/ (optional).",
        error_messages={"invalid": _("场所编号必须是数字。")},
    )

    def validate_position_time(self, value):
        if value and value > timezone.now() + dt.timedelta(minutes=10):
            raise serializers.ValidationError(_("定位时间不能在将来。"))
        return value

    def validate_reporter_phone(self, value: str) -> str:
        return value.replace(" ", "").replace("-", "")

    def validate(self, attrs):
        has_lat, has_lng = attrs.get("lat") is not None, attrs.get("lng") is not None
        if has_lat != has_lng:
            raise serializers.ValidationError(
                {"lng" if has_lat else "lat": [_("经纬度必须同时提供。")]}
            )
        if attrs.get("self_resolved") and not attrs.get("result_text", "").strip():
            raise serializers.ValidationError({"result_text": [_("当场处置请填写处置结果。")]})
        return attrs


class ReportMultipartSerializer(ReportInputSerializer):
    """A report sent as multipart, which may carry its photos (the field app sends them one by
    one to the photo endpoint instead). Parallel lists; photo ids default to the photo's hash."""

    photos = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        max_length=settings.MAX_PHOTOS_PER_REPORT,
        error_messages={
            "max_length": _("每次上报最多 %(n)d 张照片。") % {"n": settings.MAX_PHOTOS_PER_REPORT}
        },
    )
    photo_ids = serializers.ListField(
        child=serializers.RegexField(CLIENT_ID_RE.pattern), required=False, default=list
    )
    photo_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=PhotoKind.choices), required=False, default=list
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        photos = attrs.get("photos") or []
        for key in ("photo_ids", "photo_kinds"):
            if attrs.get(key) and len(attrs[key]) != len(photos):
                raise serializers.ValidationError({key: [_("数量必须与照片数量一致。")]})
        if len(set(attrs.get("photo_ids") or [])) != len(attrs.get("photo_ids") or []):
            raise serializers.ValidationError({"photo_ids": [_("照片编号不能重复。")]})
        return attrs


class ReportPhotoInputSerializer(serializers.Serializer):
    """One photo of a report, sent after the report (and retried) by the phone."""

    id = serializers.RegexField(
        CLIENT_ID_RE.pattern,
        error_messages={
            "invalid": _("照片编号无效（1–64 位字母、数字或 -_.:）。"),
            "required": _("缺少照片编号 id。"),
        },
    )
    kind = serializers.ChoiceField(choices=REPORT_PHOTO_KINDS, default=PhotoKind.REPORT)
    photo = serializers.FileField(
        allow_empty_file=True, error_messages={"required": _("缺少照片文件 photo。")}
    )


def _step_input_field(spec: steps.Input) -> serializers.Field:
    """The API's field for a step's input. Every one is optional here: an absent text is the
    service's to judge, an absent value the step needs is refused with the step's message
    (``Input.missing``), as the steps have always done."""
    if spec.kind == steps.Kind.TEXT:
        return serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    if spec.kind == steps.Kind.CHOICE:
        return serializers.ChoiceField(choices=list(spec.choices), required=False)
    if spec.kind == steps.Kind.YES_NO:
        return serializers.BooleanField(required=False, allow_null=True, default=None)
    if spec.kind == steps.Kind.HOURS:
        return serializers.FloatField(
            required=False,
            allow_null=True,
            default=None,
            min_value=spec.min_value,  # None: no limit, as when left out
            max_value=spec.max_value,
        )
    raise ImproperlyConfigured(f"the field API has no input of kind {spec.kind} ({spec.name})")


def _step_input_fields() -> dict[str, serializers.Field]:
    """The inputs of every step the field app offers, by their name in the API; a name two
    steps share must mean the same thing in both."""
    fields: dict[str, serializers.Field] = {}
    kinds: dict[str, steps.Input] = {}
    for step in steps.STEPS:
        if step.field is None:
            continue
        for spec in step.inputs:
            seen = kinds.setdefault(spec.wire_name, spec)
            if (seen.kind, seen.choices) != (spec.kind, spec.choices):
                raise ImproperlyConfigured(f"two steps mean different things by {spec.wire_name}")
            fields.setdefault(spec.wire_name, _step_input_field(spec))
    return fields


ActionInputSerializer = type(
    "ActionInputSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Fields of a step taken from the field app (the inputs of the field steps in "
        "``apps.cases.steps``, with the photos of the steps that take them); each step reads "
        "the ones it declares.",
        "__module__": __name__,
        **_step_input_fields(),
        "photos": serializers.ListField(
            child=serializers.FileField(allow_empty_file=True),
            required=False,
            default=list,
            max_length=settings.MAX_PHOTOS_PER_REPORT,
            error_messages={
                "max_length": _("每次最多 %(n)d 张照片。") % {"n": settings.MAX_PHOTOS_PER_REPORT}
            },
        ),
        "photo_ids": serializers.ListField(
            child=serializers.RegexField(CLIENT_ID_RE.pattern), required=False, default=list
        ),
    },
)


# --- output ------------------------------------------------------------------------------


class PhotoSerializer(CopiedFieldsMixin, serializers.Serializer):
    """A photo's served copies (never the original). Plain fields: built for every upload."""

    id = serializers.IntegerField()
    client_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=PhotoKind.choices)
    kind_display = DisplayField("kind")
    event = serializers.IntegerField(source="event_id", allow_null=True)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    processed = serializers.SerializerMethodField()
    thumb_url = serializers.SerializerMethodField()
    web_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_processed(self, photo: CasePhoto) -> bool:
        return photo.processed_at is not None and bool(photo.web)

    def get_thumb_url(self, photo: CasePhoto) -> str:
        return photo_url(photo, "thumb")

    def get_web_url(self, photo: CasePhoto) -> str:
        return photo_url(photo, "web")


class ClockSerializer(serializers.Serializer):
    """``selectors.case_clock``: which deadline (``deadline_label``), when, the colour, and the
    countdown in words (``text``: working time for working-time categories), as of the answer."""

    colour = serializers.ChoiceField(choices=Colour.choices)
    colour_display = serializers.CharField()
    deadline = serializers.DateTimeField(allow_null=True)
    deadline_label = serializers.CharField()
    remaining_hours = serializers.FloatField(allow_null=True)
    overdue = serializers.BooleanField()
    text = serializers.CharField()
    working_time = serializers.BooleanField()


class CaseSummarySerializer(CopiedFieldsMixin, serializers.Serializer):
    """A case in a list: enough for a card with its colour and deadline.

    A plain Serializer with its fields spelt out (not a ModelSerializer): it is built for every
    report the intake answers, and model introspection per instance costs more than the rest."""

    id = serializers.IntegerField()
    client_uuid = serializers.UUIDField(allow_null=True)
    tracking_number = serializers.SerializerMethodField()
    category = serializers.IntegerField(source="category_id")
    category_name = serializers.SerializerMethodField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    severity_display = DisplayField("severity")
    status = serializers.ChoiceField(choices=Status.choices)
    status_display = DisplayField("status")
    # Colour, deadline and countdown all come from the one clock (selectors.case_clock): the
    # current step's deadline, at the moment of the answer. ``overall_deadline`` (办结时限) is
    # there for what it is, and drives nothing on the phone.
    colour = serializers.SerializerMethodField()
    colour_display = serializers.SerializerMethodField()
    deadline = serializers.SerializerMethodField()
    clock = serializers.SerializerMethodField()
    step_deadline = serializers.DateTimeField(allow_null=True)
    overall_deadline = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    address = serializers.CharField()
    grid_name = serializers.SerializerMethodField()
    description = serializers.CharField()
    self_resolved = serializers.BooleanField()
    position_flagged = serializers.BooleanField()
    place = serializers.IntegerField(source="place_id", allow_null=True)
    waiting_for = serializers.SerializerMethodField()

    def get_tracking_number(self, case: Case) -> str:
        return tracking.display(case.tracking_number)

    def get_grid_name(self, case: Case) -> str:
        # The intake answers a new report with the name its map index already has.
        known = self.context.get("grid_names")
        if known and case.pk in known:
            return known[case.pk]
        return case.grid.name

    def get_category_name(self, case: Case) -> str:
        return str(case.category)

    def _clock(self, case: Case) -> CaseClock:
        # Four fields read the same clock: count it once per case and answer.
        memo = self.__dict__.setdefault("_clocks", {})
        key = (case.pk, case.version, case.status)
        if key not in memo:
            memo[key] = case_clock(case, self.context.get("now"))
        return memo[key]

    @extend_schema_field(serializers.ChoiceField(choices=Colour.choices))
    def get_colour(self, case: Case) -> str:
        return self._clock(case).colour

    @extend_schema_field(OpenApiTypes.STR)
    def get_colour_display(self, case: Case) -> str:
        return self._clock(case).colour_label

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_deadline(self, case: Case):
        """The current step's deadline (本环节时限): the one the colour and countdown follow."""
        value = self._clock(case).deadline
        return serializers.DateTimeField().to_representation(value) if value else None

    @extend_schema_field(ClockSerializer)
    def get_clock(self, case: Case) -> dict[str, Any]:
        """The case's clock as every screen shows it: label, deadline, colour and countdown."""
        return ClockSerializer(self._clock(case).as_dict()).data

    @extend_schema_field(OpenApiTypes.STR)
    def get_waiting_for(self, case: Case) -> str | None:
        label = WAITING_FOR.get(case.status)
        return str(label) if label else None


class ReportResultSerializer(CaseSummarySerializer):
    """What the phone gets back for a report: the tracking number to show, and its photos."""

    photos = serializers.SerializerMethodField()

    @extend_schema_field(PhotoSerializer(many=True))
    def get_photos(self, case: Case):
        photos = self.context["photos"] if "photos" in self.context else case.photos.all()
        return PhotoSerializer(photos, many=True).data


class EventSerializer(serializers.ModelSerializer):
    action_display = DisplayField("action")
    from_status_display = DisplayField("from_status")
    to_status_display = DisplayField("to_status")
    photos = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "action",
            "action_display",
            "actor_label",
            "from_status",
            "from_status_display",
            "to_status",
            "to_status_display",
            "note",
            "public_note",
            "created_at",
            "photos",
        ]

    @extend_schema_field(PhotoSerializer(many=True))
    def get_photos(self, event: CaseEvent):
        photos = self.context.get("photos_by_event", {}).get(event.pk, [])
        return PhotoSerializer(photos, many=True).data


class CaseDetailSerializer(CaseSummarySerializer):
    """One case with its timeline, photos and the steps this user may take now."""

    lat = serializers.FloatField()
    lng = serializers.FloatField()
    grid_boundary = serializers.SerializerMethodField(
        help_text="The case's grid outline (GeoJSON, WGS-84), for the detail's map."
    )
    accuracy_m = serializers.FloatField(allow_null=True)
    position_source = serializers.ChoiceField(choices=PositionSource.choices)
    position_source_display = DisplayField("position_source")
    position_time = serializers.DateTimeField(allow_null=True)
    reporter_phone = serializers.CharField()
    tier = serializers.ChoiceField(choices=Tier.choices)
    tier_display = DisplayField("tier")
    holder_name = serializers.CharField(source="holder.name")
    lead_unit_name = serializers.SerializerMethodField()
    result_text = serializers.CharField()
    rework_count = serializers.IntegerField()
    return_count = serializers.IntegerField()
    photos = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    reported_by_me = serializers.SerializerMethodField(
        help_text="The caller filed this report: the field app offers the citizen's link and QR code."
    )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_grid_boundary(self, case: Case) -> dict:
        # Lists defer the boundary (it can be large); one case's detail reads it.
        return case.grid.boundary

    def get_reported_by_me(self, case: Case) -> bool:
        user = self.context.get("user")
        return user is not None and case.reporter_id is not None and case.reporter_id == user.pk

    def get_lead_unit_name(self, case: Case) -> str | None:
        return case.lead_unit.name if case.lead_unit is not None else None

    @extend_schema_field(PhotoSerializer(many=True))
    def get_photos(self, case: Case):
        return PhotoSerializer(case.photos.all(), many=True).data

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, case: Case):
        by_event: dict[int, list[CasePhoto]] = {}
        for photo in case.photos.all():
            if photo.event_id:
                by_event.setdefault(photo.event_id, []).append(photo)
        return EventSerializer(
            case.events.all(), many=True, context={"photos_by_event": by_event}
        ).data

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=FIELD_ACTIONS))
    )
    def get_allowed_actions(self, case: Case) -> list[str]:
        allowed = self.context.get("allowed_actions", set())
        return [a for a in FIELD_ACTIONS if a in allowed]


class CategoryChildSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "code", "name"]


class CategoryTreeSerializer(serializers.ModelSerializer):
    """A 大类 with its active 小类 (only leaves can be reported)."""

    children = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "code", "name", "children"]

    @extend_schema_field(CategoryChildSerializer(many=True))
    def get_children(self, category: Category):
        return CategoryChildSerializer(
            [c for c in category.children.all() if c.is_active], many=True
        ).data


class GridSerializer(serializers.ModelSerializer):
    village_name = serializers.CharField(source="village.name")
    centroid = serializers.SerializerMethodField()

    class Meta:
        model = Grid
        fields = ["id", "code", "name", "village_name", "boundary", "centroid"]

    @extend_schema_field(serializers.ListField(child=serializers.FloatField()))
    def get_centroid(self, grid: Grid) -> list[float]:
        return [grid.centroid_lat, grid.centroid_lng]


class MeSerializer(serializers.Serializer):
    """Who is logged in on this phone, and what the app needs offline (grids with their
    GeoJSON boundaries for the map, limits)."""

    username = serializers.CharField()
    display_name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    role_display = serializers.CharField(allow_null=True)
    region_name = serializers.CharField(allow_null=True)
    unit_name = serializers.CharField(allow_null=True)
    can_report = serializers.BooleanField()
    grids = GridSerializer(many=True)
    map = serializers.DictField()
    limits = serializers.DictField()

    @staticmethod
    def build(user, profile: Profile | None, grids, can_report: bool) -> dict:
        return {
            "username": user.get_username(),
            "display_name": profile.display_name if profile else user.get_username(),
            "role": profile.role if profile else None,
            "role_display": profile.get_role_display() if profile else None,
            "region_name": profile.region.name if profile and profile.region is not None else None,
            "unit_name": profile.unit.name if profile and profile.unit is not None else None,
            "can_report": can_report,
            "grids": grids,
            "map": map_config(),
            "limits": {
                "max_photos": settings.MAX_PHOTOS_PER_REPORT,
                "max_photo_bytes": settings.MAX_PHOTO_BYTES,
                "accuracy_flag_m": settings.POSITION_ACCURACY_FLAG_M,
            },
        }
