"""Under the Content-Security-Policy every part still works in a real browser: the field app
(with its service worker and live notifications), the desk's case list with its map and a case
page, the evaluation pages, the public tracking and 随手拍 pages. The browser reports every
refused script, style, image, socket or worker as a ``securitypolicyviolation`` event; there
must be none. Also: the desk's 403 page as a person sees it (artifacts/screenshots/)."""

from __future__ import annotations

import pytest

from apps.cases.models import Case, CaseEvent, Status
from apps.evaluation.services import rollups_rebuild
from tests.cases.helpers import at_town_desk
from tests.conftest import desk_login, field_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (Playwright injects it, so the policy does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = e.sourceFile + ':' + e.lineNumber;
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + where);
});
"""


class Watch:
    """Violations and console complaints about the policy, over all pages of a context."""

    def __init__(self, context):
        self.problems: list[str] = []
        context.add_init_script(RECORD_VIOLATIONS)
        context.on("page", self.attach)
        for page in context.pages:
            self.attach(page)

    def attach(self, page):
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console: {m.text}")
                if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
                else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def check(self, page, where: str):
        page.wait_for_timeout(300)  # let late loads (tiles, sockets) report
        self.problems += [f"{where}: {v}" for v in page.evaluate("window.__cspViolations || []")]
        assert not self.problems, "\n".join(self.problems)


def test_field_app_desk_evaluation_and_public_pages_run_under_the_policy(
    org_tx, asgi_server, phone_context, desk_context
):
    base = asgi_server
    case = at_town_desk(org_tx)
    closed = at_town_desk(org_tx)
    Case.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    rollups_rebuild()

    # The field app on a phone: scripts, the offline map, the service worker, the live socket.
    phone = Watch(phone_context)
    page = phone_context.new_page()
    field_login(page, base, "gw")
    assert page.evaluate(
        "navigator.serviceWorker.ready.then((r) => r.active && r.active.scriptURL)"
    ).endswith("/field/sw.js")
    phone.check(page, "/field/")

    # The desk: case list with its map, a case page with its map, the live counters' socket.
    desk = Watch(desk_context)
    page = desk_context.new_page()
    desk_login(page, base, "td", "/admin/cases/case/")
    page.wait_for_selector("#ld-list-map.leaflet-container")
    desk.check(page, "case list")
    page.goto(f"{base}/admin/cases/case/{case.pk}/change/")
    page.wait_for_selector("#ld-case-map.leaflet-container")
    page.wait_for_selector("#actions")
    desk.check(page, "case page")
    page.goto(base + "/admin/")
    desk.check(page, "desk index")

    # Evaluation: the board's inline script (nonce), the hotspots' map, the period filter's script.
    page.goto(base + "/evaluation/hotspots/")
    page.wait_for_selector("#heatmap.leaflet-container")
    page.select_option("select[name=period]", "custom")
    assert page.is_visible("form.filters .custom")
    desk.check(page, "hotspots")
    page.goto(base + "/evaluation/board/")
    page.wait_for_selector("#board-totals")
    desk.check(page, "board")

    # The desk's refusal: deleting a history row answers the Chinese 403 page.
    event = CaseEvent.objects.filter(case=case).first()
    response = page.goto(f"{base}/admin/cases/caseevent/{event.pk}/delete/")
    assert response.status == 403
    assert "您没有权限执行这项操作" in page.text_content("h1")
    screenshot(page, "errors-403-desk")
    desk.check(page, "403 page")

    # The public pages a citizen opens (no login).
    public = desk_context.browser.new_context(
        viewport={"width": 390, "height": 800}, locale="zh-CN"
    )
    try:
        citizen = Watch(public)
        page = public.new_page()
        page.goto(f"{base}/track/t/{closed.public_token}/")
        page.wait_for_selector("main")
        citizen.check(page, "tracking page")
        page.goto(base + "/track/report/")
        page.wait_for_selector("#map.leaflet-container")
        citizen.check(page, "随手拍")
        response = page.goto(base + "/track/no-such-page/")
        assert response.status == 404 and "找不到这个页面" in page.text_content("h1")
        screenshot(page, "errors-404-public")
        citizen.check(page, "public 404")
    finally:
        public.close()
