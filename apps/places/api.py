"""The places API (/api/places/): the phone's 场所 list, 附近场所 for the report form, a
place's page, 采集 (idempotent on the phone's UUID), 更新 with the version seen, the village
workstation's 确认/退回, 注销, and a department's bulk import.

Thin views: input serializer → ``apps.places.services`` → output serializer. Every read goes
through ``places_visible_to`` (out of scope answers 404, like an id that does not exist); a
service's ``PlaceError`` becomes its status code and Chinese message.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.org import credentials
from apps.org.api_errors import error_response
from apps.org.scope import scope_of
from apps.places import services
from apps.places.models import Place, PlaceKind, PlaceStatus
from apps.places.selectors import NEAR_DEFAULT_M, places_near, places_visible_to
from apps.places.serializers import (
    PlaceActionSerializer,
    PlaceDetailSerializer,
    PlaceImportResultSerializer,
    PlaceImportSerializer,
    PlaceInputSerializer,
    PlaceKindSerializer,
    PlaceSummarySerializer,
    PlaceUpdateSerializer,
)

REPLAY_HEADER = "Idempotent-Replay"
ACTIONS = ("confirm", "reject", "close")


class ScopedMixin:
    """Loads the caller's profile and scope once, from this process's copy."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        credentials.attach(request.user)
        scope_of(request.user)


def place_error_response(exc: services.PlaceError) -> Response:
    errors = {exc.field: [exc.message]} if exc.field else None
    if isinstance(exc, services.PlaceImportError):
        errors = {"rows": exc.errors}
    return error_response(exc.message, code=exc.status_code, errors=errors)


def _queryset():
    return Place.objects.select_related("kind", "grid", "supervising_unit").defer("grid__boundary")


def _get(user, pk: int) -> Place:
    place = places_visible_to(user, _queryset()).filter(pk=pk).first()
    if place is None:
        raise NotFound(_("找不到这个场所，或它不在您的网格/辖区内；请刷新列表后再试。"))
    return place


def allowed_actions(user, place: Place) -> list[str]:
    """What the caller may do with the place now (the phone shows these buttons)."""
    found = []
    if place.status in (PlaceStatus.ACTIVE, PlaceStatus.PENDING) and services.may_edit(user, place):
        found.append("update")
    if place.status == PlaceStatus.PENDING and services.may_decide(user, place):
        found += ["confirm", "reject"]
    if place.status in (PlaceStatus.ACTIVE, PlaceStatus.PENDING) and services.may_close(
        user, place
    ):
        found.append("close")
    return found


def _detail(user, place: Place) -> dict:
    return PlaceDetailSerializer(
        place, context={"user": user, "allowed_actions": allowed_actions(user, place)}
    ).data


class PlaceListView(ScopedMixin, ListAPIView):
    """场所 in my grids or my region; 采集 a new one (POST)."""

    serializer_class = PlaceSummarySerializer
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="places_list",
        summary="Places I may see, by code",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.INT, description="a kind's id"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=PlaceStatus.values),
            OpenApiParameter("grid", OpenApiTypes.INT, description="a grid's id"),
            OpenApiParameter("q", OpenApiTypes.STR, description="name, address or code"),
        ],
        tags=["places"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = places_visible_to(self.request.user, _queryset())
        params = self.request.query_params
        for name, field in (("kind", "kind_id"), ("grid", "grid_id")):
            if params.get(name, "").isdigit():
                qs = qs.filter(**{field: int(params[name])})
        if params.get("status") in PlaceStatus.values:
            qs = qs.filter(status=params["status"])
        term = params.get("q", "").strip()[:50]
        if term:
            qs = qs.filter(Q(code=term) | Q(name__contains=term) | Q(address__contains=term))
        return qs.order_by("code")

    @extend_schema(
        operation_id="place_create",
        summary="采集 a place (idempotent on the client UUID)",
        description=(
            "A grid worker adds a place inside one of their grids (it waits for the village "
            "workstation: `pending`); a desk adds one in its region (on the register at once). "
            "Resending the same `id` answers **200** with `Idempotent-Replay: true`; the same `id` "
            "with other content answers **409**. Point kinds take `lat`/`lng`, polygon kinds a "
            "GeoJSON `polygon`; `attributes` are checked against the kind's schema."
        ),
        request=PlaceInputSerializer,
        responses={201: PlaceDetailSerializer, 200: PlaceDetailSerializer},
        tags=["places"],
    )
    def post(self, request):
        serializer = PlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            place, created = services.place_add(
                actor=request.user,
                kind=data["kind"],
                name=data["name"],
                lat=data.get("lat"),
                lng=data.get("lng"),
                polygon=data.get("polygon"),
                address=data["address"],
                risk=data["risk"],
                attributes=data["attributes"],
                contact_name=data["contact_name"],
                contact_phone=data["contact_phone"],
                client_uuid=data["id"],
                source="field",
            )
        except services.PlaceError as exc:
            return place_error_response(exc)
        place = _get(request.user, place.pk)
        response = Response(_detail(request.user, place), status=201 if created else 200)
        if not created:
            response[REPLAY_HEADER] = "true"
        return response


class PlaceNearView(ScopedMixin, APIView):
    @extend_schema(
        operation_id="places_near",
        summary="附近场所: places I may see near a point, nearest first",
        parameters=[
            OpenApiParameter("lat", OpenApiTypes.FLOAT, required=True),
            OpenApiParameter("lng", OpenApiTypes.FLOAT, required=True),
            OpenApiParameter(
                "radius", OpenApiTypes.FLOAT, description=f"metres (default {NEAR_DEFAULT_M:.0f})"
            ),
        ],
        responses={200: PlaceSummarySerializer(many=True)},
        tags=["places"],
    )
    def get(self, request):
        try:
            lat = float(request.query_params["lat"])
            lng = float(request.query_params["lng"])
            radius = float(request.query_params.get("radius", NEAR_DEFAULT_M))
        except (KeyError, ValueError):
            message = _("请提供位置：lat、lng（数字），可选 radius（米）。")
            return error_response(message, errors={"lat": [message]})
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            message = _("纬度须在 -90～90，经度须在 -180～180 之间。")
            return error_response(message, errors={"lat": [message]})
        found = places_near(lat=lat, lng=lng, user=request.user, radius_m=radius)
        context = {"distances": {place.pk: d for place, d in found}}
        return Response(
            PlaceSummarySerializer([p for p, _d in found], many=True, context=context).data
        )


class PlaceKindsView(APIView):
    @extend_schema(
        operation_id="place_kinds",
        summary="Active place kinds with their attribute schemas (the phone's form)",
        responses={200: PlaceKindSerializer(many=True)},
        tags=["places"],
    )
    def get(self, request):
        kinds = PlaceKind.objects.filter(is_active=True).select_related("supervising_department")
        return Response(PlaceKindSerializer(kinds, many=True).data)


class PlaceDetailView(ScopedMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="place_detail",
        summary="One place with its attributes, history and my allowed actions",
        responses={200: PlaceDetailSerializer},
        tags=["places"],
    )
    def get(self, request, pk: int):
        return Response(_detail(request.user, _get(request.user, pk)))

    @extend_schema(
        operation_id="place_update",
        summary="更新 a place (send the `version` you saw: 409 if it changed since)",
        request=PlaceUpdateSerializer,
        responses={200: PlaceDetailSerializer},
        tags=["places"],
    )
    def patch(self, request, pk: int):
        place = _get(request.user, pk)
        serializer = PlaceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = data.pop("version")
        try:
            services.place_update(actor=request.user, place=place, version=version, changes=data)
        except services.PlaceError as exc:
            return place_error_response(exc)
        return Response(_detail(request.user, _get(request.user, pk)))


class PlaceActionView(ScopedMixin, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="place_action",
        summary="确认 (confirm) / 退回 (reject, with reason) / 注销 (close, with reason)",
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ACTIONS))
        ],
        request=PlaceActionSerializer,
        responses={200: PlaceDetailSerializer},
        tags=["places"],
    )
    def post(self, request, pk: int, action: str):
        place = _get(request.user, pk)
        if action not in ACTIONS:
            raise NotFound(_("未知的操作“%(a)s”，请刷新页面后再试。") % {"a": action})
        serializer = PlaceActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        try:
            if action == "confirm":
                services.place_confirm(actor=request.user, place=place, note=reason)
            elif action == "reject":
                services.place_reject(actor=request.user, place=place, reason=reason)
            else:
                services.place_close(actor=request.user, place=place, reason=reason)
        except services.PlaceError as exc:
            return place_error_response(exc)
        return Response(_detail(request.user, _get(request.user, pk)))


class PlaceImportView(ScopedMixin, APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="places_import",
        summary="批量导入 places of one kind from CSV or GeoJSON (all or nothing)",
        description=(
            "For town and county desks and department handlers. Every row is checked first; any "
            "error answers **400** with `errors.rows` (one message per row, at most 100) and "
            "nothing is written. Rows with a `code` (or an `external_ref`) update that place; "
            "importing the same file again changes nothing. See docs/apps/places.md for columns."
        ),
        request={"multipart/form-data": PlaceImportSerializer},
        responses={200: PlaceImportResultSerializer},
        tags=["places"],
    )
    def post(self, request):
        serializer = PlaceImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > settings.PLACES_IMPORT_MAX_BYTES:
            mb = settings.PLACES_IMPORT_MAX_BYTES // (1024 * 1024)
            return error_response(
                _("文件超过 %(mb)d MB，请拆分后分别导入。") % {"mb": mb}, code=413
            )
        try:
            result = services.places_import(
                actor=request.user,
                kind=serializer.validated_data["kind"],
                data=upload.read(),
                filename=upload.name or "",
            )
        except services.PlaceError as exc:
            return place_error_response(exc)
        return Response(
            {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        )
