"""WGS-84 ⇄ GCJ-02, the Python twin of ``apps/core/static/core/basemap.js``.

Our points are WGS-84 (GPS; Tianditu's CGCS2000 agrees to centimetres). AutoNavi (高德) and
Tencent draw their maps in GCJ-02, the officially obfuscated system, which is a few hundred
metres off in most of China (~493 m in the demo county). To draw our points on such a map they
are shifted to GCJ-02; a point picked on such a map is shifted back before it is stored.

The forward formula is the published one (Krasovsky 1940 ellipsoid); the inverse has no closed
form and is found by fixed-point iteration. The JavaScript module implements the same steps;
tests/core/test_gcj02.py runs both on the same points.
"""

from __future__ import annotations

import math

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323  # its first eccentricity squared


def out_of_china(lat: float, lng: float) -> bool:
    """GCJ-02 applies inside mainland China's rough bounding box only; elsewhere it is WGS-84."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _shift_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """A WGS-84 point as GCJ-02 (lat, lng)."""
    if out_of_china(lat, lng):
        return lat, lng
    d_lat = _shift_lat(lng - 105.0, lat - 35.0)
    d_lng = _shift_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """A GCJ-02 point back as WGS-84 (lat, lng), to well under a centimetre.

    1. Start from the GCJ-02 point itself as the guess.
    2. Shift the guess forward; the miss is how far that lands from the GCJ-02 point.
    3. Move the guess by the miss; repeat until the miss is below 1e-10° (~0.01 mm) or 30
       rounds (the shift changes slowly, so 3–5 rounds are usual)."""
    if out_of_china(lat, lng):
        return lat, lng
    w_lat, w_lng = lat, lng
    for _ in range(30):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        miss_lat, miss_lng = lat - g_lat, lng - g_lng
        w_lat += miss_lat
        w_lng += miss_lng
        if abs(miss_lat) < 1e-10 and abs(miss_lng) < 1e-10:
            break
    return w_lat, w_lng
