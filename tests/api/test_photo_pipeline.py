"""The Pillow pipeline on its own: what is read from a photo, and what the served copies keep
(upright pixels, nothing else)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.cases.models import Case, CasePhoto
from apps.cases.photos import (
    PhotoRejected,
    case_photo_add,
    case_photos_process,
    photo_inspect,
    photo_render,
    photo_transaction,
)
from tests import photo_files
from tests.api.conftest import stored_files
from tests.cases.helpers import report


def inspect(data: bytes, name: str = "photo.jpg"):
    return photo_inspect(SimpleUploadedFile(name, data))


def has_no_metadata(jpeg_bytes: bytes) -> bool:
    image = Image.open(io.BytesIO(jpeg_bytes))
    return (
        image.format == "JPEG"
        and len(image.getexif()) == 0
        and not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
    )


def test_a_rotated_photo_is_stored_upright_without_exif():
    # Stored pixels: left half red, right half blue, 400×200; orientation 6 = turn 90° clockwise.
    original = photo_files.jpeg(400, 200, orientation=6, gps=(29.8, 121.5), comment=b"secret")
    inspected = inspect(original)
    assert (inspected.width, inspected.height) == (200, 400)
    rendered = photo_render(original)
    web = Image.open(io.BytesIO(rendered.web))
    assert web.size == (200, 400)
    top, bottom = web.getpixel((100, 20)), web.getpixel((100, 380))
    assert top[0] > 180 and top[2] < 60, top  # red on top once upright
    assert bottom[2] > 180 and bottom[0] < 60, bottom
    assert has_no_metadata(rendered.web) and has_no_metadata(rendered.thumb)


def test_the_copies_are_at_most_1920_and_about_320_pixels():
    rendered = photo_render(photo_files.jpeg(4000, 3000))
    assert Image.open(io.BytesIO(rendered.web)).size == (1920, 1440)
    assert Image.open(io.BytesIO(rendered.thumb)).size == (320, 240)
    small = photo_render(photo_files.jpeg(800, 600))
    assert Image.open(io.BytesIO(small.web)).size == (800, 600)  # never enlarged


def test_exif_gps_is_read_in_every_hemisphere():
    north_east = inspect(photo_files.jpeg(gps=(29.80512, 121.50534))).gps
    assert abs(north_east.lat - 29.80512) < 1e-4 and abs(north_east.lng - 121.50534) < 1e-4
    assert north_east.time.isoformat() == "2024-05-01T03:04:05+00:00"
    south_west = inspect(photo_files.jpeg(gps=(-33.86, -70.65))).gps
    assert south_west.lat < 0 and south_west.lng < 0
    assert inspect(photo_files.jpeg()).gps is None


def test_a_heic_photo_from_an_iphone_is_accepted_read_and_rendered():
    data = photo_files.heic(640, 480, gps=(29.805, 121.505))
    inspected = inspect(data, "IMG_1234.HEIC")
    assert inspected.format == "HEIF" and inspected.extension == "heic"
    assert inspected.gps is not None and abs(inspected.gps.lat - 29.805) < 1e-3
    rendered = photo_render(data)
    assert Image.open(io.BytesIO(rendered.web)).size == (640, 480) and has_no_metadata(rendered.web)


def test_a_jpeg_with_the_largest_exif_block_is_accepted_and_stripped():
    data = photo_files.jpeg(exif_padding=64_000, gps=(29.8, 121.5))
    assert len(data) > 64_000
    inspected = inspect(data)
    assert inspected.gps is not None
    assert has_no_metadata(photo_render(data).web)


def test_a_png_with_a_megabytes_exif_block_is_accepted_and_its_exif_ignored():
    data = photo_files.png_with_huge_exif(3 * 1024 * 1024)
    inspected = inspect(data, "huge-exif.png")
    # The block claims orientation 6, but it is too big to be trusted or parsed: not rotated.
    assert (inspected.width, inspected.height) == (320, 240) and inspected.gps is None
    rendered = photo_render(data)
    assert Image.open(io.BytesIO(rendered.web)).size == (320, 240) and has_no_metadata(rendered.web)


def test_transparency_is_flattened_on_white():
    rendered = photo_render(photo_files.png())
    pixel = Image.open(io.BytesIO(rendered.web)).getpixel((10, 10))
    assert pixel[1] > 200 and pixel[0] > 100  # half-transparent green over white


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("bomb.png", photo_files.png_bomb(), "像素过多"),
        ("cut.jpg", photo_files.truncated(photo_files.jpeg(1000, 800)), "不完整"),
        ("cut.webp", photo_files.truncated(photo_files.webp(800, 600)), "不完整"),
        ("doc.txt", b"hello", "不是可识别的照片"),
        ("anim.gif", photo_files.gif(), "不是可识别的照片"),
        ("cut.heic", photo_files.truncated(photo_files.heic(640, 480)), "cut.heic"),
    ],
)
def test_bad_files_are_refused_naming_the_file(name, data, words):
    with pytest.raises(PhotoRejected) as refused:
        inspect(data, name)
    assert name in refused.value.message and words in refused.value.message
    assert refused.value.status_code == 400


@pytest.mark.django_db
def test_a_rolled_back_transaction_takes_its_files_with_it(org):
    case = report(org)
    with pytest.raises(RuntimeError), photo_transaction():
        case_photo_add(
            case=case,
            photo=inspect(photo_files.jpeg()),
            client_id="a",
            kind="report",
            uploaded_by=org.users["gw"],
        )
        assert len(stored_files()) == 1
        raise RuntimeError("something later in the request failed")
    assert CasePhoto.objects.count() == 0 and stored_files() == []
    assert "photos" not in Case.objects.get().pending_work


@pytest.mark.django_db
def test_processing_is_idempotent_and_keeps_one_set_of_copies(org):
    case = report(org)
    case_photo_add(
        case=case,
        photo=inspect(photo_files.jpeg(400, 200, orientation=8)),
        client_id="a",
        kind="report",
        uploaded_by=org.users["gw"],
    )
    assert case_photos_process(case_id=case.pk) == 1
    assert case_photos_process(case_id=case.pk) == 0
    photo = CasePhoto.objects.get()
    assert (photo.width, photo.height) == (200, 400) and photo.processed_at is not None
    assert len(stored_files()) == 3  # original, web, thumb
    case.refresh_from_db()
    assert "photos" not in case.pending_work
