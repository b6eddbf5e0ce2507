"""The pages a person sees when a request is refused or fails: 400, 403, 404, 500 and the
CSRF refusal. Wired in config/urls.py (handler400 … handler500) and CSRF_FAILURE_VIEW.

Each says, in Chinese, what happened and what to do next, for the person who is likely to
be looking: a desk worker in the admin or the evaluation pages, a grid worker in the field
app, a citizen on the public tracking pages. The templates (templates/NNN.html) are
self-contained — inline styles, no static files, no database — so the 500 page renders even
when the database or the static manifest is what failed. Under /api/ the answer is the API's
JSON error shape instead.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

# Longest prefix first. Each audience: where "home" is for that person and what it is called.
AUDIENCES = [
    ("/admin/", "desk"),
    ("/evaluation/", "desk"),
    ("/field/", "field"),
    ("/track/", "public"),
    ("/open311/", "public"),
]
HOMES = {
    "desk": ("/admin/", "回到指挥台首页", "联动 · 基层治理指挥台"),
    "field": ("/field/", "回到外勤首页", "联动 · 网格外勤"),
    "public": ("/track/", "回到事件查询", "联动 · 事件查询"),
    "site": ("/", "回到首页", "联动"),
}
API_DETAIL = {
    400: "请求有误，请检查提交的内容后重试。",
    403: "您没有权限执行这项操作；如确需办理，请联系本级指挥中心开通权限。",
    404: "没有这个接口或记录，或它不在您的辖区内；请核对地址后再试。",
    500: "服务器出错了，错误已记录；请稍后重试，反复出现请联系系统管理员。",
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def audience_of(path: str) -> str:
    for prefix, audience in AUDIENCES:
        if path.startswith(prefix):
            return audience
    return "site"


def _context(path: str, exception=None) -> dict:
    audience = audience_of(path)
    home_url, home_label, brand = HOMES[audience]
    # A reason our own code gave (Http404("不在您的辖区内。"), PermissionDenied("…")) is shown;
    # Django's internal ones (English, or the resolver's dict) are not.
    reason = ""
    if exception is not None and exception.args and isinstance(exception.args[0], str):
        reason = exception.args[0] if _CJK.search(exception.args[0]) else ""
    return {
        "audience": audience,
        "home_url": home_url,
        "home_label": home_label,
        "brand": brand,
        "reason": reason,
    }


def _page(
    request: HttpRequest, template: str, status: int, exception=None, *, with_request: bool = True
):
    path = request.path if request is not None else ""
    if path.startswith("/api/"):
        context = _context(path, exception)
        return JsonResponse(
            {"detail": context["reason"] or API_DETAIL[status]},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    body = loader.get_template(template).render(
        _context(path, exception), request if with_request else None
    )
    return HttpResponse(body, status=status)


def bad_request(request, exception):
    return _page(request, "400.html", 400, exception)


def permission_denied(request, exception):
    return _page(request, "403.html", 403, exception)


def page_not_found(request, exception):
    return _page(request, "404.html", 404, exception)


def server_error(request):
    # No request context: the context processors may touch the session, the user or the
    # database, which may be exactly what failed.
    return _page(request, "500.html", 500, with_request=False)


def csrf_failure(request, reason: str = ""):
    return _page(request, "403_csrf.html", 403)
