"""Case photos: the Pillow pipeline and the service functions that attach photos to a case.

Two halves, on purpose:

1. In the request, ``photo_inspect`` decides whether an upload is a real photo we accept
   (JPEG, PNG, WebP or HEIC; not a decompression bomb; not truncated; not too large), reads its
   EXIF GPS fix (a fallback position) and orientation, and fingerprints it. It decodes the image
   (cheaply: JPEG at 1/8 scale) because only a full decode proves a file is complete — and a
   refusal must reach the phone as a 4xx naming the file, not surface later in a worker.
2. In a Celery task (``apps.cases.photo_tasks``), ``photo_render`` makes the copies we serve —
   web (long side ≤ 1920 px) and thumbnail (~320 px) JPEGs, upright (EXIF orientation applied),
   converted to sRGB and rebuilt from bare pixels so no metadata (EXIF, GPS, XMP, ICC, comments)
   survives. The original stays in private storage and is never served.

``case_photo_add`` attaches an inspected photo to a case: idempotent on the phone's photo id,
at most ``MAX_PHOTOS_PER_REPORT`` per step, and in the same transaction it marks ``"photos"``
in the case's outbox (``pending_work``) so the copies are made even if the broker is down now.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pillow_heif
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from apps.cases.models import Case, CaseEvent, CasePhoto, PhotoKind, original_path, private_storage
from apps.cases.services.base import (
    PENDING_WORK_TASKS,
    DuplicateSubmission,
    WorkflowError,
    case_outbox_add,
    case_outbox_done,
)
from apps.core import follow_up

log = logging.getLogger(__name__)

pillow_heif.register_heif_opener()
# Pillow's own guard: a warning above the limit, an error above twice the limit. We turn the
# warning into a refusal too (see ``photo_inspect``); this keeps every other opener safe as well.
Image.MAX_IMAGE_PIXELS = settings.MAX_PHOTO_PIXELS
# A truncated upload must be refused, never silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Pillow format name → extension of the stored original. MPO is how Pillow names the JPEGs
# many Android cameras write (a JPEG with a second, depth or preview frame).
ACCEPTED_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
# The openers Pillow may try (its JPEG opener is the one that returns MPO images).
OPEN_FORMATS = ["JPEG", "PNG", "WEBP", "HEIF"]
WEB_LONG_SIDE = 1920
THUMB_LONG_SIDE = 320
JPEG_QUALITY = 82
# A camera's EXIF (with its maker notes and preview) fits in one 64 KiB JPEG segment. PNG and
# WebP allow much bigger blocks; past this size we do not parse it at all (orientation and GPS
# are then ignored) — the stored copies never carry it anyway.
EXIF_MAX_BYTES = 256 * 1024
SIZES = ("web", "thumb")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_EXIF_ORIENTATION = 0x0112
_GPS_IFD = 0x8825


class PhotoRejected(WorkflowError):
    """An upload that is not a photo we can accept; the message names the file."""

    status_code = 400

    def __init__(self, message: str, *, field: str = "photo", status_code: int = 400):
        super().__init__(message, field=field)
        self.status_code = status_code


@dataclass(frozen=True)
class GpsFix:
    lat: float
    lng: float
    time: dt.datetime | None = None


@dataclass(frozen=True)
class InspectedPhoto:
    """An upload that passed the checks, with what we learnt from it."""

    name: str
    content: bytes
    format: str
    width: int  # as it will be displayed, i.e. after the EXIF orientation is applied
    height: int
    sha256: str
    gps: GpsFix | None

    @property
    def extension(self) -> str:
        return ACCEPTED_FORMATS[self.format]


# --- request side -------------------------------------------------------------------------


def _display_name(upload, name: str | None) -> str:
    raw = name or getattr(upload, "name", "") or _("照片")
    return str(raw).replace("\\", "/").rsplit("/", 1)[-1][:80]


def upload_sha256(upload) -> str:
    """Fingerprint of an upload without decoding it (retries are recognised before any work)."""
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks() if hasattr(upload, "chunks") else [upload.read()]:
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _read_exif(image: Image.Image) -> Image.Exif | None:
    raw = image.info.get("exif")
    if raw is not None and len(raw) > EXIF_MAX_BYTES:
        return None
    try:
        exif = image.getexif()
        # Touch the GPS block now so a malformed one fails here, inside the guard.
        exif.get_ifd(_GPS_IFD)
        return exif
    except Exception:  # noqa: BLE001 - malformed EXIF is common and never fatal: we ignore it
        return None


def _rational(value) -> float:
    if isinstance(value, tuple) and len(value) == 2:  # (numerator, denominator) from older writers
        return float(value[0]) / float(value[1]) if value[1] else float("nan")
    return float(value)


def _degrees(dms, ref) -> float | None:
    try:
        d, m, s = (_rational(v) for v in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60.0 + s / 3600.0
    if value != value:  # NaN from a zero denominator
        return None
    ref = ref.decode(errors="ignore") if isinstance(ref, bytes) else str(ref or "")
    return -value if ref.strip().upper() in ("S", "W") else value


def exif_gps(exif: Image.Exif | None) -> GpsFix | None:
    """The GPS position an EXIF block records, if it is a plausible one."""
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    lat, lng = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
    if (
        lat is None
        or lng is None
        or not (-90 <= lat <= 90 and -180 <= lng <= 180)
        or (lat == 0 and lng == 0)
    ):
        return None
    when = None
    try:
        date = gps.get(29)  # GPSDateStamp "YYYY:MM:DD", UTC
        hms = gps.get(7)  # GPSTimeStamp (h, m, s), UTC
        if date and hms:
            day = dt.datetime.strptime(str(date).strip("\x00 "), "%Y:%m:%d")
            h, m, s = (_rational(v) for v in hms)
            when = day.replace(tzinfo=dt.UTC) + dt.timedelta(hours=h, minutes=m, seconds=s)
    except (TypeError, ValueError, OverflowError):
        when = None
    return GpsFix(lat=round(lat, 7), lng=round(lng, 7), time=when)


def photo_inspect(upload, *, name: str | None = None, field: str = "photo") -> InspectedPhoto:
    """Accept or refuse one upload (see the module docstring). Raises ``PhotoRejected``."""
    label = _display_name(upload, name)
    size = getattr(upload, "size", None)
    limit = settings.MAX_PHOTO_BYTES
    if size is not None and size > limit:
        raise PhotoRejected(
            _("照片“%(name)s”太大（%(size).1f MB），单张不能超过 %(limit).0f MB。")
            % {"name": label, "size": size / 1048576, "limit": limit / 1048576},
            field=field,
            status_code=413,
        )
    upload.seek(0)
    content = upload.read(limit + 1)
    if len(content) > limit:
        raise PhotoRejected(
            _("照片“%(name)s”太大，单张不能超过 %(limit).0f MB。")
            % {"name": label, "limit": limit / 1048576},
            field=field,
            status_code=413,
        )
    if not content:
        raise PhotoRejected(_("照片“%(name)s”是空文件。") % {"name": label}, field=field)

    not_a_photo = _("文件“%(name)s”不是可识别的照片（只接受 JPEG、PNG、WebP、HEIC）。") % {
        "name": label
    }
    too_many_pixels = _(
        "照片“%(name)s”像素过多（上限 %(mp)d 百万像素），可能是恶意文件，已拒收。"
    ) % {"name": label, "mp": settings.MAX_PHOTO_PIXELS // 1_000_000}
    damaged = _("照片“%(name)s”不完整或已损坏（可能上传中断），请重新选择或重拍。") % {
        "name": label
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(content), formats=OPEN_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoRejected(too_many_pixels, field=field) from None
        except UnidentifiedImageError:
            raise PhotoRejected(not_a_photo, field=field) from None
        except Exception:  # noqa: BLE001 - a header that makes a decoder choke is a broken file
            raise PhotoRejected(damaged, field=field) from None
        with image:
            fmt = image.format or ""
            if fmt not in ACCEPTED_FORMATS:
                raise PhotoRejected(not_a_photo, field=field)
            width, height = image.size
            if width < 1 or height < 1 or width * height > settings.MAX_PHOTO_PIXELS:
                raise PhotoRejected(too_many_pixels, field=field)
            exif = _read_exif(image)
            try:
                if fmt in ("JPEG", "MPO"):
                    # Decoding at 1/8 scale still reads every byte of the entropy-coded data,
                    # so truncation is caught at a fraction of the cost of a full decode.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise PhotoRejected(too_many_pixels, field=field) from None
            except Exception:  # noqa: BLE001 - OSError "truncated", SyntaxError, zlib errors, libheif errors …
                raise PhotoRejected(damaged, field=field) from None
    orientation = exif.get(_EXIF_ORIENTATION, 1) if exif is not None else 1
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return InspectedPhoto(
        name=label,
        content=content,
        format=fmt,
        width=width,
        height=height,
        sha256=hashlib.sha256(content).hexdigest(),
        gps=exif_gps(exif),
    )


# --- rendering (worker side) --------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPhoto:
    web: bytes
    thumb: bytes
    width: int
    height: int


def _to_srgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except Exception:  # noqa: BLE001 - an odd profile: keep the pixels as they are
        return image
    # None comes back only with inPlace=True, which this call does not ask for.
    return converted if converted is not None else image


def _bare_rgb(image: Image.Image) -> Image.Image:
    """Pixels only: a new image that carries no info dict (no EXIF, XMP, ICC or comment)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    rgb = image.convert("RGB")
    out = Image.new("RGB", rgb.size)
    out.paste(rgb)
    return out


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return buffer.getvalue()


def photo_render(content: bytes) -> RenderedPhoto:
    """The web and thumbnail copies of an original: upright, sRGB, JPEG, no metadata."""
    with Image.open(io.BytesIO(content), formats=OPEN_FORMATS) as image:
        if image.format in ("JPEG", "MPO"):
            image.draft(
                "RGB", (WEB_LONG_SIDE, WEB_LONG_SIDE)
            )  # decode at the smallest scale ≥ 1920
        image.load()
        icc = image.info.get("icc_profile")
        exif = _read_exif(image)
        if exif is not None:
            upright = ImageOps.exif_transpose(image)
        else:
            upright = image.copy()
        if icc:
            upright.info["icc_profile"] = icc
        upright = _to_srgb(upright)
        web = _bare_rgb(upright)
    web.thumbnail((WEB_LONG_SIDE, WEB_LONG_SIDE), Image.Resampling.LANCZOS)
    thumb = web.copy()
    thumb.thumbnail((THUMB_LONG_SIDE, THUMB_LONG_SIDE), Image.Resampling.LANCZOS)
    return RenderedPhoto(web=_jpeg(web), thumb=_jpeg(thumb), width=web.width, height=web.height)


# --- files that must not outlive a rolled-back transaction -----------------------------------

_saved_files: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "liandong_saved_files", default=None
)


@contextlib.contextmanager
def photo_transaction() -> Iterator[None]:
    """``transaction.atomic()`` that also deletes the files saved inside it when it does not
    commit — so a refused or failed request leaves neither rows nor files behind."""
    if _saved_files.get() is not None:
        with transaction.atomic():
            yield
        return
    saved: list[str] = []
    token = _saved_files.set(saved)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        storage = private_storage()
        for name in saved:
            try:
                storage.delete(name)
            except Exception:  # noqa: BLE001 - the request's own error is the one to raise
                log.warning("could not delete photo file %s after a rollback", name, exc_info=True)
        raise
    finally:
        _saved_files.reset(token)


def _save_file(name: str, content: bytes) -> str:
    stored = private_storage().save(name, ContentFile(content))
    saved = _saved_files.get()
    if saved is not None:
        saved.append(stored)
    return stored


# --- services -------------------------------------------------------------------------------


PROCESS_TASK = PENDING_WORK_TASKS["photos"]


def _replay(existing: CasePhoto, photo_sha256: str, kind: str) -> tuple[CasePhoto, bool]:
    if existing.sha256 != photo_sha256 or existing.kind != kind:
        raise DuplicateSubmission(_("照片编号已用于另一张照片；请重新选择照片。"), field="id")
    return existing, False


def case_photo_replay(*, case: Case, client_id: str, sha256: str, kind: str) -> CasePhoto | None:
    """The photo an earlier try of this upload stored, if any (refused if the bytes differ)."""
    existing = CasePhoto.objects.filter(case=case, client_id=client_id).first()
    if existing is None:
        return None
    return _replay(existing, sha256, kind)[0]


def case_photo_add(
    *,
    case: Case,
    photo: InspectedPhoto,
    client_id: str,
    kind: str,
    uploaded_by,
    event: CaseEvent | None = None,
    replay_checked: bool = False,
    with_report: bool = False,
) -> tuple[CasePhoto, bool]:
    """Attach a photo to a case (and to the step ``event`` it documents). Returns
    ``(photo, created)``; the same ``client_id`` with the same bytes returns the first photo
    (``replay_checked``: the caller has just asked ``case_photo_replay``; a retry racing this
    one is still caught by the unique constraint).

    In one transaction: the original goes to private storage, the row is written, and
    ``"photos"`` joins the case's outbox; the copies are made by the task sent on commit —
    or, ``with_report`` (photos that came with the report that created the case), by the
    report's routing task, which takes them along: one message per report.
    """
    if kind not in PhotoKind.values:
        raise WorkflowError(_("照片类型无效。"), field="kind")
    if not CLIENT_ID_RE.match(client_id or ""):
        raise WorkflowError(_("照片编号无效（1–64 位字母、数字或 -_.:）。"), field="id")
    if not replay_checked:
        existing = CasePhoto.objects.filter(case=case, client_id=client_id).first()
        if existing is not None:
            return _replay(existing, photo.sha256, kind)
    with photo_transaction():
        # Lock the case: the photo count is read-modify-write (so is the outbox entry).
        Case.objects.select_for_update().only("pk").get(pk=case.pk)
        if (
            CasePhoto.objects.filter(case=case, event=event).count()
            >= settings.MAX_PHOTOS_PER_REPORT
        ):
            raise PhotoRejected(
                _("每次最多 %(n)d 张照片，“%(name)s”未保存。")
                % {"n": settings.MAX_PHOTOS_PER_REPORT, "name": photo.name},
                field="photo",
            )
        probe = CasePhoto(case=case)
        name = _save_file(original_path(probe, f"x.{photo.extension}"), photo.content)
        try:
            with transaction.atomic():
                row = CasePhoto.objects.create(
                    case=case,
                    event=event,
                    kind=kind,
                    client_id=client_id,
                    original=name,
                    sha256=photo.sha256,
                    width=photo.width,
                    height=photo.height,
                    uploaded_by=uploaded_by,
                    # After photos show the fix and are public by default (re-encoded copies
                    # only); report photos may show faces or plates, so a dispatcher decides.
                    is_public=kind == PhotoKind.AFTER,
                )
        except IntegrityError:
            # A retry of this very upload won the race; keep its row and drop our file.
            private_storage().delete(name)
            existing = CasePhoto.objects.filter(case=case, client_id=client_id).first()
            if existing is None:
                raise
            return _replay(existing, photo.sha256, kind)
        case_outbox_add(case_id=case.pk, work="photos")
        if not with_report:
            follow_up.send_on_commit(PROCESS_TASK, case.pk)
    return row, True


def case_photos_process(*, case_id: int) -> int:
    """Make the served copies of every unprocessed photo of a case; then take ``"photos"`` off
    its outbox. Idempotent: a photo another run finished is left alone (its files kept, ours
    dropped). Returns how many photos this run processed."""
    storage = private_storage()
    done = 0
    for photo in CasePhoto.objects.filter(case_id=case_id, processed_at__isnull=True).order_by(
        "pk"
    ):
        try:
            with storage.open(photo.original.name, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            log.error("photo %s of case %s has no original file", photo.pk, case_id)
            CasePhoto.objects.filter(pk=photo.pk, processed_at__isnull=True).update(
                processed_at=timezone.now()
            )
            continue
        try:
            rendered = photo_render(content)
        except Exception:  # noqa: BLE001 - inspected at upload, so this is a decoder corner case
            log.exception(
                "photo %s of case %s could not be rendered; it will show as unavailable",
                photo.pk,
                case_id,
            )
            CasePhoto.objects.filter(pk=photo.pk, processed_at__isnull=True).update(
                processed_at=timezone.now()
            )
            continue
        web_name = storage.save(
            photo.web.field.generate_filename(photo, "web.jpg"), ContentFile(rendered.web)
        )
        thumb_name = storage.save(
            photo.thumb.field.generate_filename(photo, "thumb.jpg"), ContentFile(rendered.thumb)
        )
        claimed = CasePhoto.objects.filter(pk=photo.pk, processed_at__isnull=True).update(
            web=web_name,
            thumb=thumb_name,
            width=rendered.width,
            height=rendered.height,
            processed_at=timezone.now(),
        )
        if claimed:
            done += 1
        else:  # another run got there first
            storage.delete(web_name)
            storage.delete(thumb_name)
    case_outbox_done(
        case_id=case_id,
        work="photos",
        unless=CasePhoto.objects.filter(case_id=case_id, processed_at__isnull=True).exists,
    )
    return done


# --- URLs -----------------------------------------------------------------------------------

_SIGNING_SALT = "liandong.photo"


def photo_url(photo: CasePhoto, size: str = "thumb", *, public: bool = False) -> str:
    """The URL of a served copy (``size`` "web" or "thumb"). The view checks the viewer may see
    the case (``cases_visible_to``). ``public=True`` gives a signed URL for the public pages,
    honoured only while the photo is marked public."""
    if size not in SIZES:
        raise ValueError(f"unknown photo size {size!r}")
    url = reverse("api-photo", args=[photo.pk, size])
    version = int(photo.processed_at.timestamp()) if photo.processed_at else 0
    url += f"?v={version}"
    if public:
        url += "&t=" + signing.dumps(photo.pk, salt=_SIGNING_SALT, compress=False)
    return url


def public_token_valid(photo: CasePhoto, token: str) -> bool:
    try:
        return signing.loads(token, salt=_SIGNING_SALT) == photo.pk
    except signing.BadSignature:
        return False
