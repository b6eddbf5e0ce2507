"""The public case page on a 390×844 phone: an old number ending in "$" typed into the form
opens a closed case whose timeline lists every public step (screenshot for review)."""

from __future__ import annotations

import pytest

from apps.cases.models import Case
from tests.conftest import screenshot, wait_for_js
from tests.public.conftest import citizen_case, close_through_town
from tests.public.test_timeline import INTERNAL_NOTES, LOOP, names_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OLD_NUMBER = "QA8W9BTCFXQX$"


@pytest.fixture
def phone_390(new_phone):
    return new_phone(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        user_agent=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148"
        ),
    )


def test_the_public_timeline_on_a_phone(org_tx, asgi_server, phone_390):
    org = org_tx
    case = citizen_case(org, address="东镇幸福路18号")
    Case.objects.filter(pk=case.pk).update(tracking_number=OLD_NUMBER)
    case = close_through_town(org, Case.objects.get(pk=case.pk), notes=INTERNAL_NOTES)

    page = phone_390.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(asgi_server + "/track/")
    page.fill("input[name=n]", "qa8w 9btc fxqx $")
    page.locator("form button[type=submit]").first.click()
    wait_for_js(page, "document.querySelector('[data-testid=timeline]')")

    steps = page.locator("[data-testid=timeline] li span").all_text_contents()
    assert steps == LOOP[::-1]
    assert page.locator("[data-testid=timeline] li time").count() == len(LOOP)
    text = page.text_content("body")
    assert "QA8W-9BTC-FXQX-$" in text
    for secret in names_of(org, case) | set(INTERNAL_NOTES.values()):
        assert secret not in text, secret
    # Fits the phone: nothing scrolls sideways.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.locator("[data-testid=timeline]").scroll_into_view_if_needed()
    path = screenshot(page, "public-timeline-390x844")
    assert path.stat().st_size > 10_000
    assert errors == []
