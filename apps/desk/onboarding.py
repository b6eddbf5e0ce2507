"""县区上线 in the desk: a county administrator (the county centre's dispatcher, who manages
the county's accounts) or a superuser uploads the county workbook, reads the dry run row by
row, and confirms; downloads the template (the workbook, or one sheet as CSV) and the county's
export. The rules live in ``apps.onboarding.services``; these views only carry files.

Between the dry run and the confirmation the uploaded files wait in a private directory under
a random name the session remembers (never in the session itself: they may be 50 MB), for at
most an hour; the confirmation imports exactly the file that was tried.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import time
import zipfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.onboarding import spec, writer
from apps.onboarding.boundaries import boundaries_read
from apps.onboarding.reader import FileRefused, max_file_bytes, size_check, workbook_read
from apps.onboarding.selectors import county_rows
from apps.onboarding.services import ImportReport, county_admin_region, county_import
from apps.org.models import Region, Tier

SESSION_KEY = "liandong_onboarding_upload"
KEEP_UPLOADS_S = 3600
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("县区导入表"),
        help_text=gettext_lazy("Excel 工作簿（.xlsx），或装有各表 CSV 的 .zip；不超过 50 MB。"),
    )
    grids = forms.FileField(
        label=gettext_lazy("网格边界文件（可选）"),
        required=False,
        help_text=gettext_lazy(
            "GeoJSON，或压缩的 ESRI Shapefile（.shp/.shx/.dbf/.prj 打成一个 .zip）；"
            "投影坐标按 .prj 换算为 WGS-84 经纬度。"
        ),
    )


def upload_dir() -> Path:
    path = Path(
        getattr(settings, "ONBOARDING_UPLOAD_DIR", "")
        or Path(tempfile.gettempdir()) / "liandong-onboarding"
    )
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = time.time()
    for old in path.iterdir():  # uploads nobody confirmed
        if now - old.stat().st_mtime > KEEP_UPLOADS_S:
            old.unlink(missing_ok=True)
    return path


def allowed_county(request: HttpRequest) -> Region | None:
    """The county the user may import (None: any, for a superuser); PermissionDenied for
    everyone else — town dispatchers, leaders, other roles."""
    if request.user.is_superuser:
        return None
    county = county_admin_region(request.user)
    if county is None:
        raise PermissionDenied(_("只有区县指挥中心（区县账号管理员）可以导入和导出县区组织架构。"))
    return county


def _store(upload, token: str, kind: str) -> str:
    suffix = Path(upload.name).suffix.lower()[:8]
    target = upload_dir() / f"{token}-{kind}{suffix}"
    with target.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return target.name


def _forget(request: HttpRequest, stored: dict[str, str]) -> None:
    for name in ("file", "grids"):
        if stored.get(name):
            (upload_dir() / stored[name]).unlink(missing_ok=True)
    request.session.pop(SESSION_KEY, None)


def _run(
    request: HttpRequest, stored: dict[str, str], county: Region | None, *, dry_run: bool
) -> ImportReport:
    folder = upload_dir()
    path = folder / stored["file"]
    with path.open("rb") as data:
        workbook = workbook_read(data=data, name=stored["file_name"], size=path.stat().st_size)
    boundaries = None
    if stored.get("grids"):
        grids_path = folder / stored["grids"]
        size_check(grids_path.stat().st_size)
        boundaries = boundaries_read(data=grids_path.read_bytes(), name=stored["grids_name"])
    return county_import(
        workbook=workbook,
        boundaries=boundaries,
        actor=request.user,  # type: ignore[arg-type]
        allowed_county=county,
        dry_run=dry_run,
    )


def onboarding_view(request: HttpRequest, site) -> HttpResponse:
    county = allowed_county(request)
    form = UploadForm()
    report: ImportReport | None = None
    errors: list[str] = []
    status = 200
    stored = request.session.get(SESSION_KEY)
    if request.method == "POST" and request.POST.get("action") == "confirm":
        if not stored or stored.get("token") != request.POST.get("token"):
            errors = [_("找不到刚才试导入的文件（可能已超过一小时），请重新上传。")]
            status = 400
        else:
            try:
                report = _run(request, stored, county, dry_run=False)
            except (FileRefused, OSError) as exc:
                errors = getattr(exc, "errors", None) or [_("刚才上传的文件已不在，请重新上传。")]
                status = 400
            else:
                if report.applied:
                    _forget(request, stored)
                else:
                    status = 400
    elif request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload, grids = form.cleaned_data["file"], form.cleaned_data["grids"]
            try:
                size_check(upload.size)
                if grids is not None:
                    size_check(grids.size)
            except FileRefused as exc:
                errors, status = exc.errors, 400
            else:
                token = secrets.token_urlsafe(16)
                stored = {
                    "token": token,
                    "file": _store(upload, token, "book"),
                    "file_name": upload.name,
                    "grids": _store(grids, token, "grids") if grids is not None else "",
                    "grids_name": grids.name if grids is not None else "",
                }
                request.session[SESSION_KEY] = stored
                try:
                    report = _run(request, stored, county, dry_run=True)
                except FileRefused as exc:
                    errors, status = exc.errors, 400
                else:
                    status = 400 if report.refused else 200
                if status != 200:  # nothing to confirm: the files need not wait
                    _forget(request, stored)
        else:
            status = 400
    context = {
        **site.each_context(request),
        "title": _("县区上线：导入组织架构"),
        "form": form,
        "report": report,
        "errors": errors,
        "token": (stored or {}).get("token", ""),
        "county": county,
        "sheets": spec.SHEETS,
        "max_mb": max_file_bytes() // (1024 * 1024),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/onboarding/import.html", context, status=status)


def template_view(request: HttpRequest, sheet: str = "") -> HttpResponse:
    allowed_county(request)
    if not sheet:
        response = HttpResponse(writer.template_xlsx(), content_type=XLSX)
        response["Content-Disposition"] = (
            "attachment; filename*=UTF-8''%E5%8E%BF%E5%8C%BA%E5%AF%BC%E5%85%A5%E8%A1%A8.xlsx"
        )
        return response
    found = spec.SHEET_BY_KEY.get(sheet)
    if found is None:
        return HttpResponse(
            _("没有这个工作表。"), status=404, content_type="text/plain; charset=utf-8"
        )
    response = HttpResponse(writer.template_csv(found), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.key}.csv"'
    return response


def export_view(request: HttpRequest) -> HttpResponse:
    county = allowed_county(request)
    if county is None:  # a superuser: the county asked for, or the only one
        counties = Region.objects.filter(tier=Tier.COUNTY)
        if request.GET.get("county"):
            counties = counties.filter(code=request.GET["county"])
        found = list(counties[:2])
        if len(found) != 1:
            return HttpResponse(
                _("请用 ?county=区县代码 指定要导出的区县。"),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        county = found[0]
    data, overflow = writer.county_xlsx(county_rows(county))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if overflow:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"county-{county.code}.xlsx", data)
            archive.writestr(
                f"county-{county.code}-grids.geojson", writer.overflow_geojson(overflow)
            )
        response = HttpResponse(out.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="county-{county.code}-{stamp}.zip"'
        return response
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="county-{county.code}-{stamp}.xlsx"'
    return response
