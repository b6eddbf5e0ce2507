"""On a phone: the report form offers the registered places near the GPS fix (附近场所), and the
report sent names the place the worker chose."""

from __future__ import annotations

import pytest
from PIL import Image

from apps.cases.models import Case
from apps.places.models import PlaceKind
from apps.places.services import place_add
from tests.browser.test_field_offline import fill_report
from tests.conftest import wait_for, wait_for_js
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_report_names_a_nearby_place(org_tx, asgi_server, phone_context, tmp_path):
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    kind = PlaceKind.objects.create(code="shop", name="三小场所")
    place, _ = place_add(
        actor=org_tx.users["td"], kind=kind, name="幸福便利店", lat=lat + 0.0003, lng=lng
    )
    place_add(actor=org_tx.users["td_w"], kind=kind, name="西镇小店", lat=29.805, lng=121.545)
    photo_path = tmp_path / "shop.jpg"
    Image.new("RGB", (800, 600), (90, 140, 60)).save(photo_path, "JPEG")

    phone_context.grant_permissions(["geolocation"], origin=asgi_server)
    phone_context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 10})
    page = phone_context.new_page()
    page.goto(asgi_server + "/field/")
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", "gw")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    wait_for_js(page, "document.querySelectorAll('#place-picker option').length > 1", timeout=15)
    options = page.eval_on_selector_all(
        "#place-picker option", "els => els.map(e => e.textContent)"
    )
    assert options[0] == "不关联场所" and options[1].startswith("幸福便利店（三小场所，")
    assert not any("西镇小店" in o for o in options)
    page.select_option("#place-picker", value=str(place.pk))
    fill_report(page, "便利店门口堆放纸箱", str(photo_path))
    page.click("#submit-report")
    page.wait_for_selector("#done-tracking")
    case = wait_for(lambda: Case.objects.filter(reporter=org_tx.users["gw"]).first())
    assert case.place_id == place.pk
