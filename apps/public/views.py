"""The public pages under /track/: status by tracking number, the SMS/QR link page, rating,
the citizen snapshot report (随手拍), public photos. No login; every page is rate limited.

Enumeration: a wrong second factor and an unknown number give the same response (status and
body, byte for byte) — ``_second_factor_failed`` renders a fixed page with no form, no token and
nothing the request typed.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.cases import tracking
from apps.cases.models import Category, PositionSource
from apps.cases.selectors import CLOCK_RULE_WORDS
from apps.core.cache import cache_get, cache_set
from apps.core.maps import map_config
from apps.public import limits, selectors, services
from apps.public.models import Stars

NUMBER_MAX = 40  # a typed tracking number with dashes and spaces; anything longer is not one


def _limited(request: HttpRequest, limited: limits.Limited) -> HttpResponse:
    minutes = max(1, (limited.retry_after + 59) // 60)
    response = render(request, "public/limited.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def _private(response: HttpResponse) -> HttpResponse:
    """Pages that carry the link token must not be cached or indexed anywhere."""
    patch_cache_control(response, private=True, no_store=True)
    response["X-Robots-Tag"] = "noindex"
    return response


def _second_factor_failed(request: HttpRequest) -> HttpResponse:
    return render(request, "public/second_factor_failed.html", {}, status=403)


def _star_choices():
    return [(value, label) for value, label in reversed(Stars.choices)]


def _case_context(case, *, verified: bool, **extra) -> dict:
    rating = selectors.existing_rating(case)
    return {
        "view": selectors.public_view(case),
        "verified": verified,
        "can_rate": selectors.rating_allowed(case) and rating is None,
        "rating": rating,
        "stars": _star_choices(),
        "phone": selectors.masked_phone(case.reporter_phone) if verified else "",
        "token": case.public_token if verified else "",
        **extra,
    }


@require_GET
def clock_rule(request: HttpRequest) -> HttpResponse:
    """时限与颜色说明: the one clock rule (apps.cases.selectors), which every screen links to."""
    return render(request, "public/clock.html", {"rule": CLOCK_RULE_WORDS})


@require_GET
def track(request: HttpRequest) -> HttpResponse:
    """流水号查询: the form, and the public status of the number typed into it."""
    typed = request.GET.get("n", "").strip()[:NUMBER_MAX]
    if not typed:
        return render(request, "public/track.html", {})
    limited = limits.hit(request, [("lookup_ip", None)])
    if limited:
        return _limited(request, limited)
    if tracking.normalize(typed) is None:
        return render(
            request,
            "public/track.html",
            {
                "typed": typed,
                "error": (
                    "流水号不对：应为 13 位字母和数字（如 7K3M-Q9XD-2HTB-P；"
                    "早期流水号的最后一位可能是 $ 等符号），请逐位核对。"
                ),
            },
            status=400,
        )
    case = selectors.case_by_number(typed)
    if case is None:
        return render(
            request,
            "public/track.html",
            {"typed": typed, "error": "没有找到这个流水号，请核对后再试。"},
            status=404,
        )
    return render(
        request,
        "public/track.html",
        {"typed": tracking.display(case.tracking_number), **_case_context(case, verified=False)},
    )


@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    """ "I reported it": the phone's last four digits lead to the link page."""
    typed = request.POST.get("n", "").strip()[:NUMBER_MAX]
    digits = request.POST.get("digits", "").strip()[:10]
    limited = limits.hit(
        request, [("verify_ip", None), ("verify_number", tracking.normalize(typed) or typed)]
    )
    if limited:
        return _limited(request, limited)
    case = selectors.case_for_second_factor(typed)
    if not services.second_factor_ok(case, digits):
        return _second_factor_failed(request)
    return HttpResponseRedirect(
        reverse("public:token", kwargs={"token": case.public_token}), status=303
    )


@never_cache
@require_GET
def token_page(request: HttpRequest, token: str) -> HttpResponse:
    """The SMS/QR link: the status, and what needs the second factor (rating, own details)."""
    limited = limits.hit(request, [("lookup_ip", None)])
    if limited:
        return _limited(request, limited)
    case = selectors.case_by_token(token)
    if case is None:
        return _private(
            render(
                request,
                "public/track.html",
                {"error": "这个链接无效。请用流水号查询。"},
                status=404,
            )
        )
    context = _case_context(
        case,
        verified=True,
        new=request.GET.get("new") == "1",
        rated=request.GET.get("rated") == "1",
        sms=services.sms_text(case),
    )
    return _private(render(request, "public/track.html", context))


@require_POST
def rate(request: HttpRequest) -> HttpResponse:
    """回访评价, with the link token or the tracking number and the phone's last four digits."""
    token = request.POST.get("token", "").strip()[:64]
    typed = request.POST.get("n", "").strip()[:NUMBER_MAX]
    number_key = tracking.normalize(typed) or typed
    limited = limits.hit(request, [("rate_ip", None), ("rate_number", token or number_key)])
    if limited:
        return _limited(request, limited)
    if token:
        case, via = selectors.case_by_token(token), "token"
    else:
        proof = selectors.case_for_second_factor(typed)
        if not services.second_factor_ok(proof, request.POST.get("digits", "")[:10]):
            return _second_factor_failed(request)
        case, via = selectors.case_by_token(proof.public_token), "phone"
    if case is None:  # an unknown link (a case just found by its number is there too)
        return _second_factor_failed(request)
    try:
        stars = int(request.POST.get("stars", ""))
    except ValueError:
        stars = 0
    try:
        services.rating_submit(
            case=case, stars=stars, comment=request.POST.get("comment", "")[:2000], via=via
        )
    except services.PublicError as exc:
        context = _case_context(
            case,
            verified=True,
            rating_error=exc.message,
            comment=request.POST.get("comment", "")[: services.MAX_COMMENT],
        )
        return _private(render(request, "public/track.html", context, status=exc.status_code))
    url = reverse("public:token", kwargs={"token": case.public_token}) + "?rated=1#rating"
    return HttpResponseRedirect(url, status=303)


def _report_categories() -> list[dict[str, Any]]:
    groups: dict[int, dict[str, Any]] = {}
    leaves = (
        Category.objects.filter(is_active=True, parent__isnull=False, parent__is_active=True)
        .select_related("parent")
        .order_by("parent__sort_order", "parent__code", "sort_order", "code")
    )
    for leaf in leaves:
        parent = leaf.parent
        if parent is None:  # the query asks for leaves with a parent; this narrows the type
            continue
        group = groups.setdefault(parent.pk, {"name": parent.name, "leaves": []})
        group["leaves"].append(leaf)
    return list(groups.values())


@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    """随手拍: photo, location, category, description, optional phone → a tracking number."""
    context = {
        "groups": _report_categories(),
        "map_config": map_config(),
        "max_photos": services.MAX_REPORT_PHOTOS,
        "form": {},
    }
    if request.method == "GET":
        return render(request, "public/report.html", context)
    post = request.POST
    phone_typed = post.get("phone", "")[:30]
    checks: list[tuple[str, str | None]] = [("report_ip", None)]
    digits = services.phone_digits(phone_typed)
    if digits:
        checks.append(("report_phone", digits))
    limited = limits.hit(request, checks)
    if limited:
        return _limited(request, limited)
    form = {
        key: post.get(key, "")[:2100]
        for key in ("category", "description", "lat", "lng", "accuracy", "position_source")
    }
    form["phone"] = phone_typed
    try:
        category = (
            Category.objects.filter(pk=int(form["category"])).select_related("parent").first()
        )
    except ValueError:
        category = None
    try:
        accuracy = float(form["accuracy"]) if form["accuracy"] else None
        if accuracy is not None and not 0 <= accuracy < 1e6:
            accuracy = None
    except ValueError:
        accuracy = None
    source = PositionSource.DEVICE_GPS if form["position_source"] == "gps" else PositionSource.PIN
    try:
        case = services.citizen_report_submit(
            category=category,
            description=form["description"],
            lat=form["lat"] or None,
            lng=form["lng"] or None,
            position_source=source,
            accuracy_m=accuracy if source == PositionSource.DEVICE_GPS else None,
            phone=phone_typed,
            photos=request.FILES.getlist("photo"),
        )
    except services.PublicError as exc:
        context.update(form=form, error=exc.message, error_field=exc.field)
        return render(request, "public/report.html", context, status=exc.status_code)
    url = reverse("public:token", kwargs={"token": case.public_token}) + "?new=1"
    return HttpResponseRedirect(url, status=303)


@require_GET
def photo(request: HttpRequest, number: str, photo_id: int, size: str) -> FileResponse:
    """A public photo's re-encoded copy (never the original), addressed by its case's number."""
    found = selectors.public_photo(number, photo_id) if size in ("web", "thumb") else None
    if found is None:
        raise Http404("没有这张照片。")
    file = found.thumb if size == "thumb" and found.thumb else found.web
    try:
        handle = file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("没有这张照片。") from None
    response = FileResponse(handle, content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def grids_geojson(request: HttpRequest) -> HttpResponse:
    """Grid outlines with their village's name, for the pin map when no tile server is set."""
    from apps.org import geo

    # Keyed by the grid index's version, so an edited boundary shows at once.
    key = f"public:grids-geojson:{geo.GRID_VERSION.current()}"
    body = cache_get(key)
    if body is None:
        import shapely
        from shapely.geometry import mapping, shape

        from apps.org.models import Grid

        features = []
        for boundary, village in Grid.objects.values_list("boundary", "village__name"):
            try:
                geom = shapely.simplify(shape(boundary), 0.00005, preserve_topology=True)
            except Exception:  # noqa: BLE001 - a broken boundary is left off the map, not a 500
                continue
            geom = shapely.set_precision(geom, 0.00001)
            features.append(
                {"type": "Feature", "properties": {"village": village}, "geometry": mapping(geom)}
            )
        body = json.dumps(
            {"type": "FeatureCollection", "features": features},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        cache_set(key, body, 600)
    response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
    response["Cache-Control"] = "public, max-age=600"
    return response
