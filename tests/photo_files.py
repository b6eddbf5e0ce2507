"""Crafted photo files for tests: good ones (rotated, with GPS, HEIC) and bad ones (a
decompression bomb, a truncated JPEG, a non-image, a huge EXIF block)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

ORIENTATION = 0x0112
GPS_IFD = 0x8825


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def jpeg(
    width: int = 640,
    height: int = 480,
    *,
    colour=(30, 120, 200),
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
    comment: bytes | None = None,
    exif_padding: int = 0,
    quality: int = 85,
) -> bytes:
    """A JPEG; with ``orientation`` the stored pixels are left half red, right half blue."""
    image = Image.new("RGB", (width, height), colour)
    if orientation:
        image.paste((220, 20, 20), (0, 0, width // 2, height))
        image.paste((20, 20, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    if gps:
        lat, lng = gps
        exif[GPS_IFD] = {
            1: "N" if lat >= 0 else "S",
            2: _dms(lat),
            3: "E" if lng >= 0 else "W",
            4: _dms(lng),
            29: "2024:05:01",
            7: (3.0, 4.0, 5.0),
        }
    if exif_padding:
        exif[0x9286] = b"ASCII\x00\x00\x00" + b"x" * exif_padding  # UserComment
    exif[0x010F] = "LiandongTestCam"  # Make: proves metadata is stripped from the copies
    buffer = io.BytesIO()
    kwargs = {"exif": exif.tobytes(), "quality": quality}
    if comment:
        kwargs["comment"] = comment
    image.save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def megapixel_jpeg() -> bytes:
    """A 1-megapixel (1155×866) photo-like JPEG with some texture, ~150–250 KB."""
    import random

    rng = random.Random(7)
    image = Image.new("RGB", (1155, 866))
    pixels = image.load()
    for y in range(0, 866, 2):
        for x in range(0, 1155, 2):
            v = (x * 7 + y * 3 + rng.randrange(60)) % 256
            pixels[x, y] = (v, (v * 3) % 256, (255 - v))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def png(width: int = 320, height: int = 240, *, exif: bytes | None = None) -> bytes:
    image = Image.new("RGBA", (width, height), (10, 200, 10, 128))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **({"exif": exif} if exif else {}))
    return buffer.getvalue()


def webp(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 100, 0)).save(buffer, "WEBP")
    return buffer.getvalue()


def heic(width: int = 320, height: int = 240, gps: tuple[float, float] | None = None) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = Image.new("RGB", (width, height), (120, 40, 160))
    buffer = io.BytesIO()
    kwargs = {}
    if gps:
        exif = Image.Exif()
        lat, lng = gps
        exif[GPS_IFD] = {1: "N", 2: _dms(lat), 3: "E", 4: _dms(lng)}
        kwargs["exif"] = exif.tobytes()
    image.save(buffer, "HEIF", quality=60, **kwargs)
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (10, 10)).save(buffer, "GIF")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG that claims width×height pixels (decompresses to gigabytes)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" * (width + 1)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(50)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def png_with_huge_exif(size: int = 3 * 1024 * 1024) -> bytes:
    """A valid PNG whose eXIf chunk is several megabytes (orientation 6 at the front)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"y" * size
    return png(exif=exif.tobytes())


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]
