"""Every page carries the Content-Security-Policy and the other security headers, and every
inline script on it carries the request's nonce; no inline event handlers, no javascript: links."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.cases.models import Case, Status
from apps.evaluation.services import rollups_rebuild
from tests.admin.conftest import at_town, report
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

# Script types a browser does not run (json_script data): CSP does not apply to them.
DATA_TYPES = {"application/json", "application/ld+json"}


class ScriptAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_nonces: list[str | None] = []  # one per inline executable script
        self.handlers: list[str] = []  # on*= attributes and javascript: URLs
        self._in_script: dict | None = None
        self._script_text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}=…>")
            is_url = name in ("href", "src", "action", "formaction")
            if is_url and (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append(f"<{tag} {name}={value}>")
        if tag == "script":
            self._in_script, self._script_text = attrs, ""

    def handle_data(self, data):
        if self._in_script is not None:
            self._script_text += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            attrs = self._in_script
            if (
                "src" not in attrs
                and (attrs.get("type") or "").lower() not in DATA_TYPES
                and self._script_text.strip()
            ):
                self.inline_nonces.append(attrs.get("nonce"))
            self._in_script = None


def audit(response) -> ScriptAudit:
    parser = ScriptAudit()
    parser.feed(response.content.decode())
    return parser


def header_nonce(policy: str) -> str | None:
    match = re.search(r"script-src [^;]*'nonce-([^']+)'", policy)
    return match.group(1) if match else None


def assert_protected(response, url: str) -> ScriptAudit:
    policy = response.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, url
    assert "object-src 'none'" in policy and "form-action 'self'" in policy, url
    assert re.search(r"connect-src 'self' ws://testserver(;|$)", policy), policy
    assert "'unsafe-inline'" not in re.search(r"script-src [^;]*", policy).group(0), url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["Referrer-Policy"] == "same-origin", url
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert "geolocation=(self)" in response["Permissions-Policy"], url
    assert "microphone=()" in response["Permissions-Policy"], url
    if not response.get("Content-Type", "").startswith("text/html"):
        return ScriptAudit()
    found = audit(response)
    assert not found.handlers, (url, found.handlers)
    nonce = header_nonce(policy)
    if found.inline_nonces:
        assert nonce, f"{url}: inline scripts but no nonce in the policy"
    assert found.inline_nonces == [nonce] * len(found.inline_nonces), (
        url,
        found.inline_nonces,
        nonce,
    )
    return found


def login(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def all_page_urls() -> list[str]:
    """Every URL pattern without parameters, so a new page is covered without a new line here."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + route)
            elif (
                isinstance(p, URLPattern)
                and "<" not in route
                and "(?P" not in route
                and "^" not in route
            ):
                found.append("/" + prefix + route)

    walk(get_resolver().url_patterns, "")
    return sorted({u.replace("$", "") for u in found})


def test_every_parameterless_page_is_protected_for_a_stranger_a_desk_worker_and_an_admin(org):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    urls = all_page_urls()
    assert {"/track/", "/field/", "/field/login/", "/evaluation/board/", "/accounts/login/"} <= set(
        urls
    )
    for client in (Client(), login(org.users["td"].username), login("root")):
        for url in urls:
            if "logout" in url:
                continue
            response = client.get(url)
            assert response.status_code < 500, url
            assert_protected(response, url)


def test_the_pages_with_inline_scripts_carry_the_nonce_of_their_policy(org):
    rollups_rebuild()
    client = login(org.users["td"].username)
    for url in ("/evaluation/board/", "/evaluation/hotspots/"):
        response = client.get(url)
        assert response.status_code == 200, url
        found = assert_protected(response, url)
        assert found.inline_nonces and found.inline_nonces[0], url
    # A new nonce for every response.
    first = header_nonce(client.get("/evaluation/board/")["Content-Security-Policy"])
    second = header_nonce(client.get("/evaluation/board/")["Content-Security-Policy"])
    assert first and second and first != second


def test_the_desk_field_public_and_evaluation_pages_are_protected(org):
    case = at_town(org)
    closed = report(org, grid="east-v1-g2")
    Case.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    rollups_rebuild()
    td = login(org.users["td"].username)
    pages = {
        td: [
            "/admin/",
            "/admin/cases/case/",
            f"/admin/cases/case/{case.pk}/change/",
            "/admin/cases/caseevent/",
            "/evaluation/",
            "/evaluation/scores/",
            "/evaluation/indicators/",
            "/evaluation/hotspots/",
            "/evaluation/board/",
            "/evaluation/help/",
            "/evaluation/?period=nonsense",
        ],
        login(org.users["gw"].username): ["/field/", "/field/sw.js", "/field/manifest.webmanifest"],
        Client(): [
            "/track/",
            f"/track/t/{case.public_token}/",
            f"/track/t/{closed.public_token}/",
            "/track/report/",
            "/field/login/",
            "/accounts/login/",
            "/admin/login/",
            "/api/docs/",
        ],
    }
    for client, urls in pages.items():
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 400), (url, response.status_code)
            assert_protected(response, url)


def test_the_tile_server_is_allowed_for_images_only_when_configured(settings):
    from apps.core.maps import resolve, tile_sources

    assert tile_sources(resolve("none")) == []
    assert tile_sources(resolve("tianditu")) == []  # no key: no tiles, no host
    assert tile_sources(resolve("custom", url="https://{s}.tile.example.org/{z}/{x}/{y}.png")) == [
        "https://*.tile.example.org"
    ]
    assert tile_sources(resolve("custom", url="http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png")) == [
        "http://10.0.0.5:8080"
    ]
    # The providers' tile servers, every numbered subdomain of them.
    assert tile_sources(resolve("tianditu", tianditu_key="k")) == ["https://*.tianditu.gov.cn"]
    assert tile_sources(resolve("amap")) == ["https://*.is.autonavi.com"]
    assert tile_sources(resolve("tencent")) == ["https://*.map.gtimg.com"]


@pytest.mark.parametrize(
    "html, handlers, nonces",
    [
        ("<script>alert(1)</script>", [], [None]),
        ('<script nonce="abc">x()</script><script src="/a.js"></script>', [], ["abc"]),
        ('<script type="application/json" id="d">{}</script>', [], []),
        (
            '<select onchange="x()"></select><a href="javascript:history.back()">b</a>',
            ["<select onchange=…>", "<a href=javascript:history.back()>"],
            [],
        ),
    ],
)
def test_the_audit_finds_what_the_policy_would_refuse(html, handlers, nonces):
    parser = ScriptAudit()
    parser.feed(html)
    assert parser.handlers == handlers and parser.inline_nonces == nonces
