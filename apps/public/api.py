"""The citizen's link for the grid worker who filed the report, as text and as a QR code.

A worker who reports a problem a citizen pointed out can show the citizen, there and then, where
to follow it: the tracking link (with the second factor built in, so the citizen can also rate it
when it closes) as a QR code to scan, or as the SMS text to send. The link opens the case's
public page and lets whoever holds it rate the outcome, so only the reporting worker gets it —
not everyone who can see the case.
"""

from __future__ import annotations

import io

import segno
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cases import tracking
from apps.cases.models import Case
from apps.cases.selectors import cases_visible_to
from apps.public import services


def _own_report(request: Request, pk: int) -> Case:
    case = (
        cases_visible_to(request.user, Case.objects.all())
        .filter(pk=pk, reporter_id=request.user.pk)
        .first()
    )
    if case is None:
        raise NotFound(_("找不到您上报的这个事件；只有上报人本人能取群众查询链接。"))
    return case


def qr_svg(link: str) -> bytes:
    """The link as an SVG QR code: medium error correction survives a scratched phone screen."""
    out = io.BytesIO()
    segno.make(link, error="m").save(
        out, kind="svg", scale=6, border=2, xmldecl=False, title=_("群众查询二维码")
    )
    return out.getvalue()


class CitizenLinkView(APIView):
    @extend_schema(
        operation_id="citizen_link",
        summary="The tracking link, SMS text and QR code a reporting worker shows the citizen",
        responses={
            200: inline_serializer(
                "CitizenLink",
                {
                    "tracking_number": serializers.CharField(),
                    "link": serializers.URLField(),
                    "sms": serializers.CharField(),
                    "qr": serializers.CharField(help_text="URL of the QR code (SVG)"),
                },
            )
        },
        tags=["cases"],
    )
    def get(self, request: Request, pk: int) -> Response:
        case = _own_report(request, pk)
        response = Response(
            {
                "tracking_number": tracking.display(case.tracking_number),
                "link": services.public_link(case),
                "sms": services.sms_text(case),
                "qr": reverse("api-citizen-qr", kwargs={"pk": case.pk}),
            }
        )
        response["Cache-Control"] = "private, no-store"
        return response


class CitizenQrView(APIView):
    @extend_schema(
        operation_id="citizen_link_qr",
        summary="The citizen's tracking link as an SVG QR code (reporting worker only)",
        responses={(200, "image/svg+xml"): bytes},
        tags=["cases"],
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        case = _own_report(request, pk)
        response = HttpResponse(qr_svg(services.public_link(case)), content_type="image/svg+xml")
        # The link is the citizen's key to the case: never kept by a shared cache.
        response["Cache-Control"] = "private, max-age=3600"
        return response
