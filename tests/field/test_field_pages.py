"""The field app's pages: login once and stay logged in, an installable shell (manifest,
icons, service worker) and the hooks other modules use."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from PIL import Image

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    response = client.post(
        "/field/login/", {"username": user.username, "password": PASSWORD, "next": "/field/"}
    )
    assert response.status_code == 302 and response["Location"] == "/field/"
    return client


def test_the_app_sends_strangers_to_its_login_page(org):
    response = Client().get("/field/")
    assert response.status_code == 302
    assert response["Location"].startswith("/field/login/")


def test_the_login_page_speaks_chinese_and_refuses_a_wrong_password(org):
    client = Client()
    page = client.get("/field/login/")
    assert page.status_code == 200 and "登录" in page.content.decode()
    wrong = client.post("/field/login/", {"username": "gw", "password": "nope"})
    assert wrong.status_code == 200 and "/field/" not in wrong.get("Location", "")


def test_a_login_lasts_months_on_the_phone(org):
    client = logged_in(org.users["gw"])
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) >= 60 * 60 * 24 * 30
    assert client.session.get_expiry_age() >= 60 * 60 * 24 * 30


def test_the_shell_has_the_hooks_and_loads_leaflet_and_no_personal_data(org):
    client = logged_in(org.users["gw"])
    response = client.get("/field/")
    html = response.content.decode()
    assert response.status_code == 200
    for needle in [
        'id="tasks-badge"',
        'id="toast"',
        "vendor/leaflet/leaflet.js",
        "field/app.js",
        'rel="manifest"',
        "待同步",
        'id="place-picker"',  # 附近场所 (issue #19), filled from /api/places/near/
    ]:
        assert needle in html, needle
    # The service worker may cache the shell: it must not carry the user's name or grids.
    assert "测试gw" not in html
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert "csrftoken" in response.cookies


def test_the_manifest_makes_the_app_installable(org):
    response = Client().get("/field/manifest.webmanifest")
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["start_url"] == "/field/" and manifest["scope"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["lang"] == "zh-CN"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        name = icon["src"].removeprefix(settings.STATIC_URL)
        path = finders.find(name)
        assert path, name
        with Image.open(path) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"


def test_the_service_worker_controls_the_field_scope_and_caches_the_shell(org):
    response = Client().get("/field/sw.js")
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/field/"
    assert "no-cache" in response["Cache-Control"]
    for url in [
        "/field/",
        "leaflet.js",
        "leaflet.css",
        "field/app.js",
        "field/app.css",
        "icon-192.png",
    ]:
        assert url in body, url


def test_the_icons_are_real_pngs():
    for size in (192, 512):
        path = finders.find(f"field/icons/icon-{size}.png")
        with open(path, "rb") as handle:
            image = Image.open(io.BytesIO(handle.read()))
        assert image.size == (size, size)
