"""The reporting worker shows the citizen the tracking link as a QR code (issue #18 item 3)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from apps.cases import tracking
from apps.cases.models import Case
from apps.public.api import qr_svg
from tests.api.conftest import report_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def filed(org, client_for):
    """A report the grid worker ``gw`` filed with a citizen's phone number."""
    client = client_for(org.users["gw"])
    payload = report_payload(org, reporter_phone="13800001234")
    assert client.post("/api/reports/", payload, format="json").status_code == 201
    return Case.objects.get(client_uuid=payload["id"])


def test_the_reporting_worker_gets_the_link_the_sms_and_the_qr_code(org, client_for, filed):
    client = client_for(org.users["gw"])
    response = client.get(f"/api/citizen-link/{filed.pk}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    data = response.json()
    assert data["tracking_number"] == tracking.display(filed.tracking_number)
    assert data["link"].endswith(f"/track/t/{filed.public_token}/")
    assert data["link"] in data["sms"] and data["tracking_number"] in data["sms"]

    # The link opens the case's public page for whoever scans it, no login.
    page = Client().get(urlsplit(data["link"]).path)
    assert page.status_code == 200
    assert tracking.display(filed.tracking_number) in page.content.decode()

    qr = client.get(data["qr"])
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert qr.content.startswith(b"<svg")
    # The code encodes exactly that link: the same drawing as the link's own QR code, and not
    # that of another case's link.
    assert qr.content == qr_svg(data["link"])
    assert qr.content != qr_svg(data["link"].replace(filed.public_token, "x" * 43))


def test_the_case_detail_tells_the_field_app_whose_report_it_is(org, client_for, filed):
    assert client_for(org.users["gw"]).get(f"/api/cases/{filed.pk}/").json()["reported_by_me"]
    # The village workstation sees the case, but it is not its report.
    detail = client_for(org.users["vh"]).get(f"/api/cases/{filed.pk}/")
    assert detail.status_code == 200 and detail.json()["reported_by_me"] is False


@pytest.mark.parametrize("who", ["gw2", "vh", "td", "cd", "gw_w", "leader"])
def test_nobody_else_gets_the_citizens_link(org, client_for, filed, who):
    client = client_for(org.users[who])
    for url in (f"/api/citizen-link/{filed.pk}/", f"/api/citizen-link/{filed.pk}/qr.svg"):
        response = client.get(url)
        assert response.status_code == 404, (who, url)
        assert "只有上报人本人" in response.json()["detail"]


def test_no_link_without_signing_in(filed):
    for url in (f"/api/citizen-link/{filed.pk}/", f"/api/citizen-link/{filed.pk}/qr.svg"):
        assert Client().get(url).status_code in (401, 403)


def test_the_schema_documents_the_citizen_link(org, client_for):
    schema = (
        client_for(org.users["gw"])
        .get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        .json()
    )
    assert "/api/citizen-link/{id}/" in schema["paths"]
    assert "/api/citizen-link/{id}/qr.svg" in schema["paths"]
