"""The case API used by the field app (and any script with a token): report intake with
idempotent retries, report photos, my reports, my tasks, case detail and the field steps.

Thin views: input serializer → workflow service / photo service → output serializer. Every
read goes through ``cases_visible_to`` (out of scope answers 404); every step goes through the
workflow service, whose ``WorkflowError`` becomes its status code and message.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import FileResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cases import clock, rules, services, steps
from apps.cases.models import (
    Action,
    Case,
    CaseEvent,
    CasePhoto,
    Category,
    Source,
)
from apps.cases.photos import (
    InspectedPhoto,
    case_photo_add,
    case_photo_replay,
    photo_inspect,
    photo_transaction,
    private_storage,
    public_token_valid,
    upload_sha256,
)
from apps.cases.selectors import cases_visible_to, cases_waiting_for
from apps.cases.serializers import (
    FIELD_ACTIONS,
    ActionInputSerializer,
    CaseDetailSerializer,
    CaseSummarySerializer,
    CategoryTreeSerializer,
    GridSerializer,
    MeSerializer,
    PhotoSerializer,
    ReportInputSerializer,
    ReportMultipartSerializer,
    ReportPhotoInputSerializer,
    ReportResultSerializer,
)
from apps.org import credentials
from apps.org.api_errors import error_response
from apps.org.models import Grid, Role
from apps.org.scope import profile_of, scope_of

# Who reports from the field: grid workers and grid leaders, inside their own grids (定格、定人、
# 定责). Citizens report anywhere in the county through the public pages, not this endpoint.
REPORTER_ROLES = {Role.GRID_WORKER, Role.GRID_LEADER}
REPLAY_HEADER = "Idempotent-Replay"

ErrorSerializer = inline_serializer(
    "Error",
    fields={"detail": serializers.CharField(), "errors": serializers.DictField(required=False)},
)
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `errors` names each field."),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed for this user."),
    404: OpenApiResponse(
        ErrorSerializer, description="No such case for this user (out of scope looks the same)."
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        description="Conflict: same id with different content, or the case changed.",
    ),
}


def _scope(user):
    """``scope_of(user)``, with the profile, region, unit and grids from this process's copy of
    the caller (``apps.org.credentials``; token callers come with it already)."""
    credentials.attach(user)
    return scope_of(user)


class ScopedMixin:
    """Loads the caller's scope once, up front (see ``_scope``)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        _scope(request.user)


def workflow_error_response(exc: services.WorkflowError) -> Response:
    errors = {exc.field: [exc.message]} if exc.field else None
    return error_response(exc.message, code=exc.status_code, errors=errors)


def _case_queryset():
    # Lists and details show the grid's name; its boundary can be a large polygon.
    return Case.objects.select_related("category__parent", "grid").defer("grid__boundary")


def _report_event(case: Case) -> CaseEvent | None:
    return (
        case.events.filter(action__in=[Action.REPORT, Action.SELF_RESOLVE]).order_by("pk").first()
    )


# --- intake ------------------------------------------------------------------------------


class ReportCreateView(ScopedMixin, APIView):
    """上报 from the field."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="report_create",
        summary="Report a problem (idempotent on the client UUID)",
        description=(
            "Creates a case from a grid worker's report, inside one of the worker's grids. `id` is a UUID the "
            "phone generates: resending the same report answers **200** with header `Idempotent-Replay: true` "
            "and the same case; the same `id` with different content answers **409**. Multipart requests may "
            "carry photos (`photos`, with optional parallel `photo_ids` / `photo_kinds`); when `lat`/`lng` are "
            "missing, the first photo's EXIF GPS position is used (`position_source` = `exif`). A fix less "
            "accurate than ~100 m is accepted and flagged (`position_flagged`)."
        ),
        request={
            "application/json": ReportInputSerializer,
            "multipart/form-data": ReportMultipartSerializer,
        },
        responses={
            201: ReportResultSerializer,
            200: ReportResultSerializer,
            **ERRORS,
            413: OpenApiResponse(ErrorSerializer, description="A photo is too large."),
        },
        tags=["reports"],
    )
    def post(self, request):
        scope = _scope(request.user)
        if scope.role not in REPORTER_ROLES:
            return error_response(
                _("只有网格员和网格长可以在现场上报；请联系事发地网格的网格员上报。"), code=403
            )
        multipart = request.content_type.startswith("multipart/")
        serializer = (ReportMultipartSerializer if multipart else ReportInputSerializer)(
            data=request.data
        )
        serializer.is_valid(raise_exception=True)
        data = {"photos": [], "photo_ids": [], "photo_kinds": [], **serializer.validated_data}
        try:
            # Every photo is checked before anything is written: a bad one refuses the whole report.
            inspected = [photo_inspect(upload, field="photos") for upload in data["photos"]]
            case, created = services.report_intake(
                services.ReportIntake(
                    source=Source.GRID_WORKER,
                    reporter=request.user,
                    category=data["category"],
                    description=data["description"],
                    lat=data.get("lat"),
                    lng=data.get("lng"),
                    accuracy_m=data.get("accuracy_m"),
                    position_source=data["position_source"],
                    position_time=data.get("position_time"),
                    severity=data["severity"],
                    address=data["address"],
                    reporter_phone=data["reporter_phone"],
                    self_resolved=data["self_resolved"],
                    result_text=data["result_text"],
                    client_uuid=data["id"],
                    restrict_to_grids=scope.grid_ids,
                    photos=inspected,
                    photo_ids=data["photo_ids"],
                    photo_kinds=data["photo_kinds"],
                )
            )
        except services.WorkflowError as exc:
            return workflow_error_response(exc)
        if created and not inspected:
            # The common case from the phone: answer from the row just written (its category
            # came with its parent), without reading it back.
            context = {"photos": []}
            if case.intake_grid_name is not None:
                context["grid_names"] = {case.pk: case.intake_grid_name}
        else:
            case, context = _case_queryset().prefetch_related("photos").get(pk=case.pk), {}
        # The answer's clock counts on the work calendar this request read before its commit.
        with clock.CALENDAR_VERSION.as_seen():
            data = ReportResultSerializer(case, context=context).data
        response = Response(data, status=201 if created else 200)
        if not created:
            response[REPLAY_HEADER] = "true"
        return response


class ReportPhotoView(ScopedMixin, APIView):
    """One photo of a report, sent after the report; retries are safe."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="report_photo_add",
        summary="Add one photo to my report (idempotent on the photo id)",
        description=(
            "One photo per request, identified by the phone's photo `id`: a retry with the same id and the same "
            "file answers **200** with `Idempotent-Replay: true` and stores nothing new; the same id with another "
            "file answers **409**. Only JPEG, PNG, WebP and HEIC photos are accepted (checked by decoding them); "
            "at most 9 per report. The original is kept privately; web and thumbnail copies (metadata stripped, "
            "upright) are made in the background (`processed`)."
        ),
        request={"multipart/form-data": ReportPhotoInputSerializer},
        parameters=[
            OpenApiParameter(
                "client_uuid",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The report's `id`.",
            )
        ],
        responses={
            201: PhotoSerializer,
            200: PhotoSerializer,
            **ERRORS,
            413: OpenApiResponse(ErrorSerializer, description="The photo is too large."),
        },
        tags=["reports"],
    )
    def post(self, request, client_uuid):
        case = cases_visible_to(request.user).filter(client_uuid=client_uuid).first()
        if case is None:
            raise NotFound(_("找不到这条上报，请先提交上报本身。"))
        if case.reporter_id != request.user.pk:
            return error_response(
                _("只有上报人可以补充上报照片，请由上报人在自己的手机上补充。"), code=403
            )
        serializer = ReportPhotoInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["kind"] not in services.report_photo_kinds(case.self_resolved):
            message = _("当场处置的照片类型为处置前/处置后；普通上报的照片类型为上报照片。")
            return error_response(message, errors={"kind": [message]})
        try:
            existing = case_photo_replay(
                case=case,
                client_id=data["id"],
                sha256=upload_sha256(data["photo"]),
                kind=data["kind"],
            )
            if existing is not None:
                created, photo = False, existing
            else:
                inspected = photo_inspect(data["photo"], field="photo")
                photo, created = case_photo_add(
                    case=case,
                    photo=inspected,
                    client_id=data["id"],
                    kind=data["kind"],
                    uploaded_by=request.user,
                    event=_report_event(case),
                    replay_checked=True,
                )
        except services.WorkflowError as exc:
            return workflow_error_response(exc)
        response = Response(PhotoSerializer(photo).data, status=201 if created else 200)
        if not created:
            response[REPLAY_HEADER] = "true"
        return response


# --- reading -----------------------------------------------------------------------------


class MyCasesView(ScopedMixin, ListAPIView):
    """我的上报."""

    serializer_class = CaseSummarySerializer

    @extend_schema(operation_id="cases_mine", summary="My reports, newest first", tags=["cases"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        user = self.request.user
        return cases_visible_to(user, _case_queryset().filter(reporter=user)).order_by(
            "-created_at", "-pk"
        )


class MyTasksView(ScopedMixin, ListAPIView):
    """我的任务: cases waiting for this user's step."""

    serializer_class = CaseSummarySerializer

    @extend_schema(
        operation_id="tasks_list",
        tags=["cases"],
        summary="Cases waiting for me (sign for / handle / verify / accept), most urgent first",
        description="`waiting_for` says which step; the case detail lists the exact `allowed_actions`.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return (
            cases_waiting_for(self.request.user)
            .select_related("category__parent", "grid")
            .defer("grid__boundary")
        )


class CaseDetailView(ScopedMixin, APIView):
    @extend_schema(
        operation_id="case_detail",
        summary="One case with timeline, photos and my allowed actions",
        responses={200: CaseDetailSerializer, 404: ERRORS[404]},
        tags=["cases"],
    )
    def get(self, request, pk: int):
        case = _detail(request.user, pk)
        return Response(_detail_data(case, request.user))


def _detail(user, pk) -> Case:
    case = (
        cases_visible_to(user, _case_queryset().select_related("holder", "lead_unit"))
        .prefetch_related(
            Prefetch("photos", queryset=CasePhoto.objects.order_by("created_at", "pk")),
            Prefetch("events", queryset=CaseEvent.objects.order_by("created_at", "pk")),
        )
        .filter(pk=pk)
        .first()
    )
    if case is None:
        raise NotFound(_("找不到这个事件，或它不在您的辖区内；请刷新列表后再试。"))
    return case


def _detail_data(case: Case, user) -> dict:
    return CaseDetailSerializer(
        case, context={"allowed_actions": rules.allowed_actions(case, user), "user": user}
    ).data


# --- steps -------------------------------------------------------------------------------


def _run_step(step: steps.Step, case: Case, user, data: dict) -> None:
    """Take a field step with the inputs it declares (``apps.cases.steps``)."""
    values = {}
    for spec in step.inputs:
        value = data.get(spec.wire_name, "")
        if value is None and spec.missing:
            raise services.WorkflowError(_(spec.missing), field=spec.wire_name)
        values[spec.keyword] = value
    step.take(case, user, values)


class CaseActionView(ScopedMixin, APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="case_action",
        summary="Take a step on a case: " + ", ".join(FIELD_ACTIONS),
        description=(
            "Calls the workflow service; refusals answer with its status (403 not yours, 409 the case is in "
            "another state or just changed) and a message to show. Fields by step: `handle` → `result_text` + "
            "at least one after photo (`photos`); `verify` → `passed` (true/false), `note` (required when "
            "failing) + at least one on-site photo; `escalate` (beyond our capacity) / `return` → `reason`; "
            "`extension_request` → `hours` + `reason`; `reject` → `reject_reason` + `note`; `accept` / `close` "
            "→ optional `note`. Answers the updated case."
        ),
        parameters=[
            OpenApiParameter(
                "action", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(FIELD_ACTIONS)
            )
        ],
        request={
            "multipart/form-data": ActionInputSerializer,
            "application/json": ActionInputSerializer,
        },
        responses={200: CaseDetailSerializer, **ERRORS},
        tags=["cases"],
    )
    def post(self, request, pk: int, action: str):
        case = _detail(request.user, pk)
        step = steps.step(action)
        if step is None or step.field is None:
            raise NotFound(_("未知的操作“%(a)s”，请刷新页面后再试。") % {"a": action})
        serializer = ActionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        photo_step = step.photos
        if data["photos"] and not photo_step:
            message = _("这个操作不带照片。")
            return error_response(message, errors={"photos": [message]})
        inspected: list[InspectedPhoto] = []
        try:
            if photo_step:
                if not data["photos"]:
                    message = _("请拍摄至少一张照片（处置后 / 现场核查）。")
                    return error_response(message, errors={"photos": [message]})
                if data["photo_ids"] and len(data["photo_ids"]) != len(data["photos"]):
                    message = _("数量必须与照片数量一致。")
                    return error_response(message, errors={"photo_ids": [message]})
                inspected = [photo_inspect(upload, field="photos") for upload in data["photos"]]
            with photo_transaction():
                _run_step(step, case, request.user, data)
                if photo_step:
                    kind, event_actions = photo_step
                    event = (
                        case.events.filter(actor=request.user, action__in=event_actions)
                        .order_by("-pk")
                        .first()
                    )
                    for index, photo in enumerate(inspected):
                        client_id = (
                            data["photo_ids"][index]
                            if data["photo_ids"]
                            # the step just taken wrote this event, so it is there
                            else f"{event.pk}-{photo.sha256[:24]}"  # type: ignore[union-attr]
                        )
                        case_photo_add(
                            case=case,
                            photo=photo,
                            client_id=client_id,
                            kind=kind,
                            uploaded_by=request.user,
                            event=event,
                        )
        except services.WorkflowError as exc:
            return workflow_error_response(exc)
        return Response(_detail_data(_detail(request.user, pk), request.user))


# --- reference data for the phone ----------------------------------------------------------


class CategoryTreeView(APIView):
    @extend_schema(
        operation_id="categories",
        summary="The two-level category tree (大类/小类), active only",
        responses={200: CategoryTreeSerializer(many=True)},
        tags=["reference"],
    )
    def get(self, request):
        parents = (
            Category.objects.filter(parent__isnull=True, is_active=True)
            .prefetch_related(
                Prefetch("children", queryset=Category.objects.order_by("sort_order", "code"))
            )
            .order_by("sort_order", "code")
        )
        tree = [row for row in CategoryTreeSerializer(parents, many=True).data if row["children"]]
        return Response(tree)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class MeView(ScopedMixin, APIView):
    @extend_schema(
        operation_id="me",
        summary="Who I am, my grids with GeoJSON boundaries (for the offline map)",
        responses={200: MeSerializer},
        tags=["reference"],
    )
    def get(self, request):
        user = request.user
        scope = _scope(user)
        profile = profile_of(user)
        if scope.grid_ids:
            grids = Grid.objects.filter(pk__in=scope.grid_ids)
        elif scope.role == Role.VILLAGE_HANDLER and scope.region_id:
            grids = Grid.objects.filter(village_id=scope.region_id)
        else:
            grids = Grid.objects.none()
        grids = GridSerializer(grids.select_related("village").order_by("code"), many=True).data
        return Response(
            MeSerializer.build(user, profile, grids, can_report=scope.role in REPORTER_ROLES)
        )


# --- served photo copies -------------------------------------------------------------------


class PhotoFileView(APIView):
    """A served copy of a case photo. The viewer must see the case (``cases_visible_to``), or
    hold a signed public link to a photo marked public. Originals are never served."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="photo_file",
        summary="A photo copy (web ≤1920 px or thumb ~320 px JPEG)",
        tags=["cases"],
        parameters=[
            OpenApiParameter(
                "size", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["web", "thumb"]
            ),
            OpenApiParameter(
                "t", OpenApiTypes.STR, description="Signed public link token", required=False
            ),
        ],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: ERRORS[404]},
    )
    def get(self, request, pk: int, size: str):
        if size not in ("web", "thumb"):
            raise NotFound(_("照片尺寸只能是 web 或 thumb，请核对地址。"))
        photo = CasePhoto.objects.filter(pk=pk).first()
        if photo is None:
            raise NotFound(_("照片不存在或已被删除，请刷新事件后再看。"))
        token = request.query_params.get("t")
        public = bool(token) and photo.is_public and public_token_valid(photo, token)
        if not public and not cases_visible_to(request.user).filter(pk=photo.case_id).exists():
            raise NotFound(_("照片不存在或已被删除，请刷新事件后再看。"))
        file_field = photo.web if size == "web" else photo.thumb
        if not file_field:
            raise NotFound(_("照片处理中，请稍后再看。"))
        try:
            handle = private_storage().open(file_field.name, "rb")
        except FileNotFoundError:
            raise NotFound(_("照片不存在或已被删除，请刷新事件后再看。")) from None
        response = FileResponse(handle, content_type="image/jpeg")
        # The URL carries the processing time, so a copy never changes under it.
        response["Cache-Control"] = (
            "public" if public else "private"
        ) + ", max-age=604800, immutable"
        return response
