"""Writes for citizens and Open311 clients.

    sms_text / public_link          the text a grid worker's phone offers to send after a report
    second_factor_ok                "I am the reporter": the phone's last four digits
    rating_submit                   回访评价 of a closed case (a poor one opens a review item)
    review_resolve                  the town dispatcher's answer to a poor rating
    citizen_report_submit           随手拍: a citizen's report, through the workflow service
    open311_key_issue / _check      API keys of Open311 clients
    open311_request_create          POST requests — a report, through the workflow service

Cases and their history are written only by ``apps.cases.services``: a report goes in through
``report_intake`` (each function here builds its ``ReportIntake`` and says refusals in the
channel's words), a rating's history row through ``case_rated``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from typing import TypeGuard

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Case, Category, PositionSource, Source
from apps.core.errors import Refusal
from apps.org.models import Region, Tier
from apps.public.models import (
    LOW_RATING_MAX,
    Open311Key,
    Open311Submission,
    Rating,
    ReviewItem,
    ReviewStatus,
    Stars,
)
from apps.public.selectors import rating_allowed

log = logging.getLogger(__name__)

MAX_COMMENT = 500
MAX_DESCRIPTION = 2000
MAX_REPORT_PHOTOS = 3


class PublicError(Refusal):
    """Input a citizen or a client can fix; ``message`` is meant for them."""


class AlreadyRated(PublicError):
    status_code = 409


# --- the link and the SMS -------------------------------------------------------------------


def public_link(case: Case) -> str:
    """The status page with the second factor built in (for the SMS and the QR code)."""
    return settings.SITE_URL.rstrip("/") + reverse(
        "public:token", kwargs={"token": case.public_token}
    )


def sms_text(case: Case) -> str:
    """The SMS-ready text the field app offers after a report: tracking number and link."""
    return _("【联动】您反映的问题已登记，流水号 %(number)s。查询进度、办结后评价：%(link)s") % {
        "number": tracking.display(case.tracking_number),
        "link": public_link(case),
    }


# --- second factor ------------------------------------------------------------------------

_DUMMY_DIGITS = "\x00\x00\x00\x00"


def phone_digits(phone: str) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def second_factor_ok(case: Case | None, digits: str) -> TypeGuard[Case]:
    """The last four digits of the phone the reporter gave. The same comparison runs when there
    is no such case or no phone, so the answer takes the same time either way."""
    typed = phone_digits(digits)
    phone = phone_digits(case.reporter_phone) if case is not None else ""
    expected = phone[-4:] if len(phone) >= 4 else _DUMMY_DIGITS
    matches = hmac.compare_digest(typed.encode(), expected.encode())
    return matches and len(typed) == 4 and case is not None


def normalize_phone(text: str) -> str:
    """Digits of a phone number (a leading +86 dropped); '' for none; PublicError if malformed."""
    raw = (text or "").strip()
    if not raw:
        return ""
    if not re.fullmatch(r"[0-9+()\-\s]{1,30}", raw):
        raise PublicError(_("手机号格式不对，只能包含数字。"), field="phone")
    digits = phone_digits(raw)
    if raw.startswith("+86") or (raw.startswith("0086") and len(digits) > 11):
        digits = digits[2:] if raw.startswith("+86") else digits[4:]
    if not 7 <= len(digits) <= 20:
        raise PublicError(
            _("手机号位数不对，请填写 11 位手机号或带区号的固定电话。"), field="phone"
        )
    return digits


# --- rating -------------------------------------------------------------------------------


def rating_submit(*, case: Case, stars: int, comment: str = "", via: str) -> Rating:
    """回访评价 of a closed case, once. A rating of 1–2 stars opens a review item for the
    dispatcher of the case's town. The rating is recorded in the case history (action "rate")
    without changing the case's state."""
    if stars not in Stars.values:
        raise PublicError(_("请选择 1 到 5 星。"), field="stars")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise PublicError(_("意见最多 %(n)d 字。") % {"n": MAX_COMMENT}, field="comment")
    if via not in ("token", "phone"):
        raise ValueError(via)
    case = Case.objects.select_related("merged_into").get(
        pk=case.pk
    )  # the state now, not as the caller read it
    if not rating_allowed(case):
        raise PublicError(
            _("事件办结后才能评价；事件还在办理中，请办结后再来评价。"),
            field="stars",
            status_code=409,
        )
    try:
        with transaction.atomic():
            rating = Rating.objects.create(case=case, stars=stars, comment=comment, via=via)
            if stars <= LOW_RATING_MAX:
                ReviewItem.objects.create(case=case, rating=rating, town_id=case.town_id)
            workflow.case_rated(
                case=case, stars=stars, comment=comment, review=stars <= LOW_RATING_MAX
            )
    except IntegrityError:
        raise AlreadyRated(
            _("这个事件已经评价过了，每个事件只能评价一次。"), field="stars"
        ) from None
    return rating


def review_resolve(*, item: ReviewItem, actor: User, resolution: str) -> ReviewItem:
    """The town dispatcher has looked into a poor rating (called back, reopened the case …)."""
    if not resolution.strip():
        raise PublicError(_("请写明复核情况。"), field="resolution")
    changed = ReviewItem.objects.filter(pk=item.pk, status=ReviewStatus.OPEN).update(
        status=ReviewStatus.DONE,
        resolution=resolution.strip(),
        resolved_by=actor,
        resolved_at=timezone.now(),
    )
    if not changed:
        raise PublicError(_("这条差评已经复核过了，请刷新查看复核结果。"), status_code=409)
    item.refresh_from_db()
    return item


# --- citizen snapshot report (随手拍) -------------------------------------------------------


def _check_report(*, category: Category | None, description: str) -> None:
    if category is None or category.parent_id is None or not category.is_active:
        raise PublicError(_("请选择问题分类（小类）。"), field="category")
    if not description.strip():
        raise PublicError(_("请描述一下问题。"), field="description")
    if len(description) > MAX_DESCRIPTION:
        raise PublicError(_("描述最多 %(n)d 字。") % {"n": MAX_DESCRIPTION}, field="description")


def _point(lat: str | float | None, lng: str | float | None) -> tuple[float, float] | None:
    if lat in (None, "") and lng in (None, ""):
        return None
    try:
        point = float(lat), float(lng)  # type: ignore[arg-type]  # None: TypeError, refused
    except (TypeError, ValueError):
        raise PublicError(_("位置无效，请重新定位或在地图上点选。"), field="location") from None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise PublicError(_("位置无效，请重新定位或在地图上点选。"), field="location")
    return point


def citizen_report_submit(
    *,
    category: Category | None,
    description: str,
    lat: str | float | None,
    lng: str | float | None,
    position_source: str = PositionSource.DEVICE_GPS,
    accuracy_m: float | None = None,
    phone: str = "",
    photos: Sequence[UploadedFile[bytes]] = (),
) -> Case:
    """随手拍: a citizen's report becomes a case like any other, through the one intake
    (``apps.cases.services.report_intake``: placement, photos, follow-up), with the photos
    checked here (``apps.cases.photos``). All or nothing: a refused photo or position leaves
    no rows and no files. Without a position, a photo's EXIF GPS fix is used, as in the field app.
    What is the citizen's own: a description and a photo are required, the phone is normalized."""
    from apps.cases import photos as pipeline

    _check_report(category=category, description=description)
    point = _point(lat, lng)
    phone = normalize_phone(phone)
    if position_source not in (PositionSource.DEVICE_GPS, PositionSource.PIN):
        position_source = PositionSource.PIN
    if not photos:
        raise PublicError(_("请拍一张现场照片。"), field="photo")
    if len(photos) > MAX_REPORT_PHOTOS:
        raise PublicError(_("最多上传 %(n)d 张照片。") % {"n": MAX_REPORT_PHOTOS}, field="photo")
    try:
        inspected = [pipeline.photo_inspect(upload, field="photo") for upload in photos]
    except pipeline.PhotoRejected as exc:
        raise PublicError(exc.message, field="photo", status_code=exc.status_code) from None
    try:
        case, _created = workflow.report_intake(
            workflow.ReportIntake(
                source=Source.CITIZEN,
                category=category,
                description=description.strip(),
                lat=point[0] if point else None,
                lng=point[1] if point else None,
                position_source=position_source,
                accuracy_m=accuracy_m,
                reporter_phone=phone,
                photos=inspected,
            )
        )
    except workflow.PositionMissing:
        raise PublicError(_("请定位或在地图上点选问题所在位置。"), field="location") from None
    except workflow.WorkflowError as exc:
        field = "location" if exc.field in ("lat", "lng") else (exc.field or "photo")
        raise PublicError(exc.message, field=field, status_code=400) from None
    return case


# --- Open311 ------------------------------------------------------------------------------


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def open311_key_issue(*, name: str) -> tuple[Open311Key, str]:
    """A new API key for an Open311 client. The key is returned once and stored only hashed."""
    name = name.strip()
    if not name:
        raise PublicError(_("请填写密钥名称（使用方）。"), field="name")
    raw = "ld311_" + secrets.token_urlsafe(32)
    key = Open311Key.objects.create(name=name[:100], prefix=raw[6:14], key_hash=_key_hash(raw))
    return key, raw


def open311_key_check(raw: str) -> Open311Key | None:
    """The active key with this value, or None. Stamps its last use (at most once a minute)."""
    if not raw or len(raw) > 200:
        return None
    key = Open311Key.objects.filter(key_hash=_key_hash(raw), is_active=True).first()
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            Open311Key.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def locate_address(address: str) -> tuple[float, float] | None:
    """A point for an address that names one of our villages/communities (the longest name
    found wins): the centre of its first grid. Enough to route the case to the right
    workstation; the position is marked as coming from an address."""
    from apps.org.models import Grid

    address = (address or "").strip()
    if not address:
        return None
    villages = Region.objects.filter(tier=Tier.VILLAGE).values_list("pk", "name")
    named = [(pk, name) for pk, name in villages if name and name in address]
    if not named:
        return None
    village_id = max(named, key=lambda row: len(row[1]))[0]
    grid = Grid.objects.filter(village_id=village_id).order_by("code").first()
    if grid is None:
        return None
    return grid.centroid_lat, grid.centroid_lng


def open311_request_create(
    *,
    key: Open311Key,
    service_code: str,
    lat: str | None = None,
    lng: str | None = None,
    address_string: str = "",
    description: str = "",
    phone: str = "",
) -> Case:
    """POST requests: a report through the workflow service. Names and e-mail are not taken;
    the phone is kept only as the reporter's second factor (never returned)."""
    category = Category.objects.filter(
        code=service_code or "", is_active=True, parent__isnull=False
    ).first()
    if category is None:
        raise PublicError(
            f"service_code 无效 (unknown service_code: {service_code!r})", field="service_code"
        )
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise PublicError(
            f"description 最多 {MAX_DESCRIPTION} 字 (description too long)", field="description"
        )
    if not description:
        description = category.name
    try:
        phone = normalize_phone(phone)
    except PublicError:
        phone = ""  # a malformed phone only costs the reporter the second factor
    position_source = PositionSource.DEVICE_GPS
    accuracy_m = None
    point: tuple[float, float] | None
    if lat not in (None, "") or lng not in (None, ""):
        try:
            point = float(lat), float(lng)  # type: ignore[arg-type]  # None: TypeError, refused
        except (TypeError, ValueError):
            raise PublicError(
                "lat/long 必须是数字 (lat and long must be numbers)", field="lat"
            ) from None
        if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            raise PublicError("lat/long 超出范围 (lat/long out of range)", field="lat")
    else:
        point = locate_address(address_string)
        if point is None:
            raise PublicError(
                "需要 lat/long，或包含本辖区村/社区名称的 address_string "
                "(send lat and long, or an address_string naming one of our villages/communities)",
                field="address_string",
            )
        position_source = PositionSource.ADDRESS
        accuracy_m = 1000.0  # flags the position for the acceptor
    with transaction.atomic():
        try:
            case, _created = workflow.report_intake(
                workflow.ReportIntake(
                    source=Source.OPEN311,
                    category=category,
                    description=description,
                    lat=point[0],
                    lng=point[1],
                    position_source=position_source,
                    accuracy_m=accuracy_m,
                    reporter_phone=phone,
                    address=address_string.strip()[:200],
                )
            )
        except workflow.WorkflowError as exc:
            raise PublicError(
                f"{exc.message} (location outside our jurisdiction or invalid)", field="lat"
            ) from None
        Open311Submission.objects.create(case=case, key=key)
    return case
