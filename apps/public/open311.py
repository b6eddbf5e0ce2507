"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under /open311/v2/.

    GET  discovery.{json,xml}           the service discovery document
    GET  services.{json,xml}            our leaf categories (service_code = category code)
    GET  services/{code}.{json,xml}     a service definition (no extra attributes)
    POST requests.{json,xml}            a new report (api_key required)
    GET  requests.{json,xml}            requests, with the standard filters
    GET  requests/{id}.{json,xml}       one request (id = tracking number)

Mapping: ``service_request_id`` is the tracking number; ``status`` is ``open`` for every state
before closure and ``closed`` for closed, rejected and merged cases; ``status_notes`` is the
latest public note; ``agency_responsible`` is the *kind* of unit (never a person);
``address`` is the coarse location and ``lat``/``long`` the centre of the case's grid — never
the reported point. ``description`` is left empty: free text may hold names and phone numbers.
Everything comes from ``apps.public.selectors.public_view``, like the status page.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any, cast

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.cases import tracking
from apps.cases.models import FINAL_STATUSES, Case, Category, Status
from apps.public import limits, selectors, services

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
DISCOVERY_CHANGESET = "2026-11-23T00:00:00+08:00"
DEFAULT_DAYS = 90
MAX_REQUESTS = 1000
CLOSED_STATUSES = sorted(FINAL_STATUSES)
OPEN_STATUSES = [s for s in Status.values if s not in FINAL_STATUSES]


# --- rendering ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, child in value.items():
            element.append(_xml_element(key, child))
    elif isinstance(value, list):
        raise TypeError("lists are rendered by their parent")
    else:
        element.text = _text(value)
    return element


def render(fmt: str, data: Any, *, root: str, item: str, status: int = 200) -> HttpResponse:
    """JSON as the spec shows it; XML with ``<root>`` holding one ``<item>`` per list entry
    (or the object's fields), lists inside objects as ``<list><listitem_singular>…``."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        response = HttpResponse(body, status=status, content_type="application/json; charset=utf-8")
    else:
        top = ET.Element(root)
        if isinstance(data, list):
            for entry in data:
                top.append(_xml_element(item, entry))
        else:
            for key, value in data.items():
                if isinstance(value, list):
                    holder = ET.SubElement(top, key)
                    singular = _PLURALS[key]
                    for entry in value:
                        holder.append(_xml_element(singular, entry))
                else:
                    top.append(_xml_element(key, value))
        body = ET.tostring(top, encoding="utf-8", xml_declaration=True)
        response = HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


_PLURALS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _endpoint_xml(fmt: str, data: dict) -> HttpResponse:
    """discovery.xml nests lists two deep (endpoints → endpoint → formats → format)."""
    if fmt == "json":
        return render(fmt, data, root="discovery", item="")
    top = ET.Element("discovery")
    for key in ("changeset", "contact", "key_service"):
        ET.SubElement(top, key).text = _text(data[key])
    endpoints = ET.SubElement(top, "endpoints")
    for entry in data["endpoints"]:
        endpoint = ET.SubElement(endpoints, "endpoint")
        for key in ("specification", "url", "changeset", "type"):
            ET.SubElement(endpoint, key).text = _text(entry[key])
        formats = ET.SubElement(endpoint, "formats")
        for value in entry["formats"]:
            ET.SubElement(formats, "format").text = value
    body = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    response = HttpResponse(body, content_type="text/xml; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


def errors(fmt: str, status: int, description: str) -> HttpResponse:
    return render(
        fmt,
        [{"code": status, "description": description}],
        root="errors",
        item="error",
        status=status,
    )


def _w3c(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return timezone.localtime(value).replace(microsecond=0).isoformat()


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# --- payloads -----------------------------------------------------------------------------


def service_payload(category: Category) -> dict:
    # The services are the sub-categories, each under its main category.
    group = cast(Category, category.parent)
    description = f"{group.name}/{category.name}"
    if category.name_en:
        description += f" ({category.name_en})"
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": category.name_en,
        "group": group.name,
    }


def request_payload(case: Case) -> dict:
    view = selectors.public_view(case)
    media = view.photos[0].web_url if view.photos else None
    grid = case.grid
    return {
        "service_request_id": case.tracking_number,
        "status": "open" if view.is_open else "closed",
        "status_notes": view.last_note or None,
        "service_name": view.category,
        "service_code": view.category_code,
        "description": "",
        "agency_responsible": view.agency_words or None,
        "service_notice": view.status_words,
        "requested_datetime": _w3c(view.reported_at),
        "updated_datetime": _w3c(view.updated_at),
        "expected_datetime": _w3c(view.expected_at),
        "address": view.location or None,
        "address_id": None,
        "zipcode": None,
        # The centre of the grid, never the reported point.
        "lat": round(grid.centroid_lat, 5),
        "long": round(grid.centroid_lng, 5),
        "media_url": _absolute(media) if media else None,
    }


def _leaf_categories():
    return (
        Category.objects.filter(is_active=True, parent__isnull=False, parent__is_active=True)
        .select_related("parent")
        .order_by("parent__sort_order", "parent__code", "sort_order", "code")
    )


# --- views --------------------------------------------------------------------------------


@require_GET
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    data = {
        "changeset": DISCOVERY_CHANGESET,
        "contact": getattr(settings, "OPEN311_CONTACT", "区县社会治理指挥中心"),
        "key_service": getattr(
            settings,
            "OPEN311_KEY_SERVICE",
            "API 密钥由平台管理员在后台“Open311 密钥”中签发 (keys are issued by the platform administrator)",
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": _absolute("/open311/v2"),
                "changeset": DISCOVERY_CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _endpoint_xml(fmt, data)


@require_GET
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    return render(
        fmt, [service_payload(c) for c in _leaf_categories()], root="services", item="service"
    )


@require_GET
def service_definition(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    category = _leaf_categories().filter(code=code).first()
    if category is None:
        return errors(fmt, 404, f"没有这个 service_code (service_code not found: {code})")
    return render(
        fmt, {"service_code": category.code, "attributes": []}, root="service_definition", item=""
    )


def _limited(fmt: str, limited: limits.Limited) -> HttpResponse:
    response = errors(
        fmt, 429, f"请求太频繁，请 {limited.retry_after} 秒后再试 (rate limit exceeded)"
    )
    response["Retry-After"] = str(limited.retry_after)
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def requests_view(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    limited = limits.hit(request, [("open311_get_ip", None)])
    if limited:
        return _limited(fmt, limited)
    try:
        cases = _filtered(request.GET)
    except ValueError as exc:
        return errors(fmt, 400, str(exc))
    payload = [request_payload(c) for c in cases]
    return render(fmt, payload, root="service_requests", item="request")


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    post = request.POST
    raw_key = post.get("api_key", "")
    limited = limits.hit(request, [("open311_post_ip", None)])
    if limited:
        return _limited(fmt, limited)
    key = services.open311_key_check(raw_key)
    if key is None:
        return errors(fmt, 403, "api_key 无效或缺失 (invalid or missing api_key)")
    checks: list[tuple[str, str | None]] = [("open311_post_key", str(key.pk))]
    phone_digits = services.phone_digits(post.get("phone", ""))
    if phone_digits:
        checks.append(("open311_post_phone", phone_digits))
    limited = limits.hit(request, checks)
    if limited:
        return _limited(fmt, limited)
    service_code = post.get("service_code", "").strip()
    if not service_code:
        return errors(fmt, 400, "缺少 service_code (service_code is required)")
    try:
        case = services.open311_request_create(
            key=key,
            service_code=service_code,
            lat=post.get("lat"),
            lng=post.get("long"),
            address_string=post.get("address_string", "")[:500],
            description=post.get("description", "")[:5000],
            phone=post.get("phone", "")[:40],
        )
    except services.PublicError as exc:
        return errors(fmt, 400, exc.message)
    payload = [
        {
            "service_request_id": case.tracking_number,
            "service_notice": "已受理登记，请凭流水号查询进度 (received; track it by service_request_id)",
            "account_id": None,
        }
    ]
    return render(fmt, payload, root="service_requests", item="request", status=201)


def _parse_when(text: str, name: str, *, end: bool = False) -> dt.datetime:
    value = parse_datetime(text)
    if value is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(
                f"{name} 不是 W3C 日期时间 ({name} must be a W3C datetime, e.g. 2026-01-31T08:00:00+08:00)"
            )
        value = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _filtered(params) -> list[Case]:
    """GET requests: service_request_id (comma list) overrides every other filter; otherwise
    service_code, status (open/closed), start_date/end_date (default: the last 90 days)."""
    qs = selectors.public_cases().order_by("-created_at", "-id")
    ids_text = params.get("service_request_id", "").strip()
    if ids_text:
        numbers = {
            n
            for n in (tracking.normalize(part) for part in ids_text.split(",")[:MAX_REQUESTS])
            if n
        }
        return list(qs.filter(tracking_number__in=numbers)[:MAX_REQUESTS])
    codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]
    if codes:
        qs = qs.filter(category__code__in=codes)
    statuses = [s.strip().lower() for s in params.get("status", "").split(",") if s.strip()]
    if any(s not in ("open", "closed") for s in statuses):
        raise ValueError("status 只能是 open 或 closed (status must be open and/or closed)")
    if set(statuses) == {"open"}:
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif set(statuses) == {"closed"}:
        qs = qs.filter(status__in=CLOSED_STATUSES)
    start_text, end_text = params.get("start_date", "").strip(), params.get("end_date", "").strip()
    end = _parse_when(end_text, "end_date", end=True) if end_text else None
    start = _parse_when(start_text, "start_date") if start_text else None
    if start is None:
        start = (timezone.now() if end is None else end) - dt.timedelta(days=DEFAULT_DAYS)
    if end is not None and start > end:
        raise ValueError("start_date 晚于 end_date (start_date is after end_date)")
    condition = Q(created_at__gte=start)
    if end is not None:
        condition &= Q(created_at__lte=end)
    return list(qs.filter(condition)[:MAX_REQUESTS])


@require_GET
def request_detail(request: HttpRequest, request_id: str, fmt: str) -> HttpResponse:
    limited = limits.hit(request, [("open311_get_ip", None)])
    if limited:
        return _limited(fmt, limited)
    case = selectors.case_by_number(request_id)
    if case is None:
        return errors(fmt, 404, f"没有这个 service_request_id (no such request: {request_id[:40]})")
    return render(fmt, [request_payload(case)], root="service_requests", item="request")
