"""On a phone: the report form offers the registered places near the GPS fix (附近场所), and the
report sent names the place the worker chose."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from PIL import Image

from apps.cases.models import Case
from apps.places.models import Place, PlaceKind
from apps.places.services import place_add
from tests.browser.test_field_offline import fill_report
from tests.conftest import wait_for, wait_for_js
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def server_sees_these_grids() -> None:
    """The server process keeps its map index until it rechecks the grids' shared version
    (every GRID_INDEX_RECHECK_S): wait that long, or it may still place points in the grids of
    the previous test's organisation (same squares, other ids) and refuse them as not ours."""
    time.sleep(settings.GRID_INDEX_RECHECK_S + 0.5)


def test_a_report_names_a_nearby_place(org_tx, asgi_server, phone_context, tmp_path):
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    kind = PlaceKind.objects.create(code="shop", name="三小场所")
    place, _ = place_add(
        actor=org_tx.users["td"], kind=kind, name="幸福便利店", lat=lat + 0.0003, lng=lng
    )
    place_add(actor=org_tx.users["td_w"], kind=kind, name="西镇小店", lat=29.805, lng=121.545)
    server_sees_these_grids()
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


def test_a_worker_collects_a_place_with_its_kinds_form(org_tx, asgi_server, phone_context):
    lat, lng = org_tx.point_in(org_tx.grids["east-v1-g1"])
    PlaceKind.objects.create(
        code="building",
        name="楼栋",
        attribute_schema=[
            {"key": "floors", "label": "层数", "type": "int", "required": True},
            {"key": "structure", "label": "结构", "type": "choice", "choices": ["砖混", "框架"]},
            {"key": "lift", "label": "有电梯", "type": "bool"},
        ],
    )
    server_sees_these_grids()
    phone_context.grant_permissions(["geolocation"], origin=asgi_server)
    phone_context.set_geolocation({"latitude": lat, "longitude": lng, "accuracy": 10})
    page = phone_context.new_page()
    page.goto(asgi_server + "/field/")
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", "gw")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    wait_for_js(page, "document.querySelector('#gps-line').textContent.includes('±10')")
    page.click(".tabs a[data-tab='me']")
    page.click("#me-places")
    page.wait_for_selector("#place-attrs input[name='attr:floors']")
    page.fill("#place-form input[name=name]", "幸福小区 5 幢")
    page.click("#place-submit")
    page.wait_for_selector("#place-error:not([hidden])")
    assert "层数为必填项" in page.text_content("#place-error")
    page.fill("#place-form input[name='attr:floors']", "11")
    page.select_option("#place-form select[name='attr:structure']", "框架")
    page.check("#place-form input[name='attr:lift']")
    page.click("#place-submit")
    try:
        wait_for(lambda: Place.objects.exists(), timeout=15)
    except AssertionError:
        raise AssertionError(page.text_content("#place-error")) from None
    page.wait_for_selector("#places-list li")
    place = Place.objects.get()
    assert place.name == "幸福小区 5 幢" and place.status == "pending"
    assert place.attributes == {"floors": 11, "structure": "框架", "lift": True}
    assert place.grid == org_tx.grids["east-v1-g1"] and place.created_by == org_tx.users["gw"]
    assert "幸福小区 5 幢" in page.text_content("#places-list")
