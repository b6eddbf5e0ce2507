"""Input and output shapes of the places API (the phone's 场所 screens, 附近场所, imports).
Shapes only: the rules live in ``apps.places.services`` and ``selectors``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.places.attributes import mask_name, mask_phone
from apps.places.models import Place, PlaceEvent, PlaceKind, PlaceStatus, RiskLevel
from apps.places.selectors import may_see_contact


class PlaceKindSerializer(serializers.ModelSerializer):
    """A kind with the attribute schema the phone builds its form from."""

    supervising_department_name = serializers.SerializerMethodField()

    class Meta:
        model = PlaceKind
        fields = [
            "id",
            "code",
            "name",
            "geometry_type",
            "attribute_schema",
            "inspection_days",
            "supervising_department",
            "supervising_department_name",
            "sensitive",
        ]

    def get_supervising_department_name(self, kind: PlaceKind) -> str | None:
        unit = kind.supervising_department
        return unit.name if unit is not None else None


class PlaceSummarySerializer(serializers.ModelSerializer):
    kind_name = serializers.CharField(source="kind.name", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    grid_name = serializers.CharField(source="grid.name", read_only=True)
    distance_m = serializers.SerializerMethodField()

    class Meta:
        model = Place
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "kind_name",
            "address",
            "lat",
            "lng",
            "risk",
            "status",
            "status_display",
            "grid_name",
            "version",
            "distance_m",
        ]

    def get_distance_m(self, place: Place) -> float | None:
        distances = self.context.get("distances") or {}
        value = distances.get(place.pk)
        return round(value, 1) if value is not None else None


class PlaceEventSerializer(serializers.ModelSerializer):
    action_display = serializers.CharField(source="get_action_display", read_only=True)

    class Meta:
        model = PlaceEvent
        fields = ["id", "action", "action_display", "actor_label", "changes", "note", "at"]


class PlaceDetailSerializer(PlaceSummarySerializer):
    """One place with its attributes, contact (masked unless the caller is its desk or
    supervisor), history and the steps the caller may take."""

    supervising_unit_name = serializers.SerializerMethodField()
    contact_name = serializers.SerializerMethodField()
    contact_phone = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    source_display = serializers.CharField(source="get_source_display", read_only=True)

    class Meta(PlaceSummarySerializer.Meta):
        fields = [
            *PlaceSummarySerializer.Meta.fields,
            "polygon",
            "attributes",
            "supervising_unit",
            "supervising_unit_name",
            "contact_name",
            "contact_phone",
            "source",
            "source_display",
            "verified_at",
            "created_at",
            "updated_at",
            "history",
            "allowed_actions",
        ]

    def _full(self, place: Place) -> bool:
        user = self.context.get("user")
        return user is not None and may_see_contact(user, place)

    def get_supervising_unit_name(self, place: Place) -> str | None:
        return place.supervising_unit.name if place.supervising_unit is not None else None

    def get_contact_name(self, place: Place) -> str:
        return place.contact_name if self._full(place) else mask_name(place.contact_name)

    def get_contact_phone(self, place: Place) -> str:
        return place.contact_phone if self._full(place) else mask_phone(place.contact_phone)

    @extend_schema_field(PlaceEventSerializer(many=True))
    def get_history(self, place: Place):
        return PlaceEventSerializer(place.events.order_by("at", "pk"), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_actions(self, place: Place) -> list[str]:
        return list(self.context.get("allowed_actions", []))


def _kind_field() -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=PlaceKind.objects.filter(is_active=True),
        error_messages={
            "does_not_exist": _("未知的场所类型（编号 {pk_value}），请刷新类型列表后再选。"),
            "incorrect_type": _("场所类型编号必须是数字。"),
            "required": _("请选择场所类型。"),
            "null": _("请选择场所类型。"),
        },
    )


class PlaceInputSerializer(serializers.Serializer):
    """采集 a place from the phone. ``id`` is the phone's UUID for it (the idempotency key)."""

    id = serializers.UUIDField(
        error_messages={
            "invalid": _("采集编号必须是 UUID。"),
            "required": _("缺少采集编号 id（UUID）。"),
        }
    )
    kind = _kind_field()
    name = serializers.CharField(
        max_length=100,
        error_messages={"blank": _("请填写场所名称。"), "required": _("请填写场所名称。")},
    )
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    lng = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    polygon = serializers.JSONField(required=False, allow_null=True, default=None)
    risk = serializers.ChoiceField(
        choices=RiskLevel.choices,
        default=RiskLevel.C,
        error_messages={"invalid_choice": _("风险等级只能是 A、B 或 C。")},
    )
    attributes = serializers.DictField(required=False, default=dict)
    contact_name = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default=""
    )
    contact_phone = serializers.CharField(
        max_length=20, required=False, allow_blank=True, default=""
    )


class PlaceUpdateSerializer(serializers.Serializer):
    """更新: ``version`` is the version the editor saw; only the fields sent change."""

    version = serializers.IntegerField(
        min_value=0, error_messages={"required": _("缺少版本号 version，请刷新后再改。")}
    )
    name = serializers.CharField(max_length=100, required=False)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    lng = serializers.FloatField(required=False, min_value=-180, max_value=180)
    polygon = serializers.JSONField(required=False, allow_null=True)
    risk = serializers.ChoiceField(
        choices=RiskLevel.choices,
        required=False,
        error_messages={"invalid_choice": _("风险等级只能是 A、B 或 C。")},
    )
    attributes = serializers.DictField(required=False)
    contact_name = serializers.CharField(max_length=40, required=False, allow_blank=True)
    contact_phone = serializers.CharField(max_length=20, required=False, allow_blank=True)


class PlaceActionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class PlaceImportSerializer(serializers.Serializer):
    kind = _kind_field()
    file = serializers.FileField(error_messages={"required": _("请选择要导入的文件。")})


class PlaceImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


STATUS_FILTER = [s for s, _label in PlaceStatus.choices]
