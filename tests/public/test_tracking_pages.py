"""The public status page, the link page, the second factor and ratings."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Action, Case, CaseEvent, Status
from apps.public import services
from apps.public.models import Rating, ReviewItem, ReviewStatus
from apps.public.selectors import coarse_road
from tests.public.conftest import CITIZEN_PHONE, add_photo, citizen_case, close_through_town

pytestmark = pytest.mark.django_db


def lookup(client, text):
    return client.get("/track/", {"n": text})


def test_the_lookup_page_offers_a_form_and_the_snapshot_report(client):
    response = client.get("/track/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="n"' in body and "/track/report/" in body


def test_a_number_is_found_however_it_is_typed(client, org):
    case = citizen_case(org)
    messy = " " + tracking.display(case.tracking_number).lower().replace("-", " - ") + " "
    # Citizens read 0 as O and 1 as I/L over the phone.
    messy = messy.replace("0", "o").replace("1", "l")
    response = lookup(client, messy)
    assert response.status_code == 200
    assert tracking.display(case.tracking_number) in response.content.decode()


def test_a_mistyped_character_is_caught_by_the_check_symbol(client, org):
    case = citizen_case(org)
    number = case.tracking_number
    # A replacement that fits neither check: the old (mod 37) one also accepts one typo in 37.
    wrong = next(
        w
        for c in tracking.ALPHABET
        if c != number[3]
        for w in [number[:3] + c + number[4:]]
        if tracking.normalize(w) is None
    )
    response = lookup(client, wrong)
    assert response.status_code == 400
    assert "逐位核对" in response.content.decode()


def test_an_old_number_ending_in_a_symbol_still_opens_its_case(client, org):
    """Numbers printed before 2026-12 (e.g. QA8W-9BTC-FXQX-$) stay valid everywhere a number is
    typed: the public page, "I reported it", Open311 and the desk's search."""
    case = citizen_case(org)
    old = "QA8W9BTCFXQX$"
    Case.objects.filter(pk=case.pk).update(tracking_number=old)
    for typed in ("QA8W-9BTC-FXQX-$", " qa8w 9btc fxqx $ "):
        response = lookup(client, typed)
        assert response.status_code == 200, typed
        assert "QA8W-9BTC-FXQX-$" in response.content.decode()
    response = client.post(
        "/track/verify/", {"n": "qa8w-9btc-fxqx-$", "digits": CITIZEN_PHONE[-4:]}
    )
    assert response.status_code == 303 and case.public_token in response["Location"]
    assert (
        client.get("/open311/v2/requests.json", {"service_request_id": "QA8W-9BTC-FXQX-$"}).json()[
            0
        ]["service_request_id"]
        == old
    )
    desk = Client()
    desk.force_login(org.users["vh"])
    cl = desk.get("/admin/cases/case/", {"q": "qa8w 9btc fxqx $"}).context["cl"]
    assert [c.pk for c in cl.result_list] == [case.pk]


def test_an_unknown_number_says_so(client, org):
    response = lookup(client, tracking.new_tracking_number())
    assert response.status_code == 404
    assert "没有找到这个流水号" in response.content.decode()


def test_the_status_page_speaks_plain_words_with_colour_unit_kind_and_deadline(client, org):
    case = citizen_case(org, address="东镇幸福路18号3幢")
    workflow.case_accept(case=case, actor=org.users["vh"])
    workflow.case_escalate(case=case, actor=org.users["vh"], reason="需要城管")
    workflow.case_dispatch(case=case, actor=org.users["td"], lead_unit=org.units["east-cg"])
    case.refresh_from_db()
    body = lookup(client, case.tracking_number).content.decode()
    assert "已派给处置单位，等待签收" in body
    assert "colour-blue" in body and "办理中" in body
    assert "市容环境 · 暴露垃圾" in body
    assert "乡镇派驻机构" in body and "由乡镇/街道层级派遣" in body
    assert "东镇1村 · 幸福路" in body and "18号" not in body
    assert "本环节时限（签收）" in body and "预计办结" not in body
    assert "已派遣至乡镇派驻机构" in body  # a step of the timeline
    assert org.units["east-cg"].name not in body


def test_the_timeline_never_shows_internal_notes(client, org):
    case = citizen_case(org)
    workflow.case_accept(case=case, actor=org.users["vh"], note="内部：当事人赵六脾气暴躁")
    body = lookup(client, case.tracking_number).content.decode()
    assert "已受理立案" in body
    assert "赵六" not in body


def test_only_public_processed_photos_are_shown_and_served(client, org):
    case = citizen_case(org)
    shown = add_photo(case, public=True)
    hidden = add_photo(case, public=False)
    pending = add_photo(case, public=True, processed=False)
    body = lookup(client, case.tracking_number).content.decode()
    assert f"/{shown.pk}/thumb.jpg" in body
    assert f"/{hidden.pk}/" not in body and f"/{pending.pk}/" not in body
    response = client.get(f"/track/p/{case.tracking_number}/{shown.pk}/web.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == shown.web.open("rb").read()
    assert client.get(f"/track/p/{case.tracking_number}/{hidden.pk}/web.jpg").status_code == 404
    assert client.get(f"/track/p/{case.tracking_number}/{shown.pk}/original.jpg").status_code == 404


def test_a_public_photo_is_not_served_under_another_cases_number(client, org):
    case, other = citizen_case(org), citizen_case(org, grid_key="east-v2-g1")
    photo = add_photo(case)
    assert client.get(f"/track/p/{other.tracking_number}/{photo.pk}/web.jpg").status_code == 404


def test_the_sms_text_carries_the_number_and_the_token_link(org, settings):
    settings.SITE_URL = "https://ld.example.cn"
    case = citizen_case(org)
    text = services.sms_text(case)
    assert tracking.display(case.tracking_number) in text
    assert f"https://ld.example.cn/track/t/{case.public_token}/" in text


def test_the_link_page_shows_the_reporters_own_details(client, org):
    case = citizen_case(org)
    response = client.get(f"/track/t/{case.public_token}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "尾号 5678" in body and CITIZEN_PHONE not in body
    assert "no-store" in response["Cache-Control"]


def test_an_unknown_link_token_is_404(client, org):
    assert client.get("/track/t/not-a-real-token/").status_code == 404


def test_the_last_four_digits_lead_to_the_link_page(client, org):
    case = citizen_case(org)
    response = client.post(
        "/track/verify/", {"n": tracking.display(case.tracking_number), "digits": "5678"}
    )
    assert response.status_code == 303
    assert response["Location"] == f"/track/t/{case.public_token}/"


def _same_response(first, second):
    assert first.status_code == second.status_code
    assert first.content == second.content
    assert sorted(first.headers.keys()) == sorted(second.headers.keys())


def test_wrong_digits_and_an_unknown_number_are_indistinguishable(client, org):
    case = citizen_case(org)
    with CaptureQueriesContext(connection) as wrong_queries:
        wrong = client.post("/track/verify/", {"n": case.tracking_number, "digits": "0000"})
    with CaptureQueriesContext(connection) as unknown_queries:
        unknown = client.post(
            "/track/verify/", {"n": tracking.new_tracking_number(), "digits": "5678"}
        )
    malformed = client.post("/track/verify/", {"n": "NOT-A-NUMBER", "digits": "5678"})
    assert wrong.status_code == 403
    _same_response(wrong, unknown)
    _same_response(wrong, malformed)
    # The same work either way: one lean lookup, nothing more.
    assert len(wrong_queries) == len(unknown_queries)


def test_rating_with_wrong_digits_looks_like_rating_an_unknown_number(client, closed_case):
    wrong = client.post(
        "/track/rate/", {"n": closed_case.tracking_number, "digits": "1111", "stars": "5"}
    )
    unknown = client.post(
        "/track/rate/", {"n": tracking.new_tracking_number(), "digits": "5678", "stars": "5"}
    )
    _same_response(wrong, unknown)
    assert wrong.status_code == 403
    assert not Rating.objects.exists()


def test_a_case_without_a_phone_cannot_be_rated_by_guessing_digits(client, org):
    case = close_through_town(org, citizen_case(org, phone=""))
    response = client.post(
        "/track/rate/", {"n": case.tracking_number, "digits": "0000", "stars": "5"}
    )
    assert response.status_code == 403 and not Rating.objects.exists()


def test_a_closed_case_is_rated_once_with_the_phone_digits(client, closed_case):
    response = client.post(
        "/track/rate/",
        {"n": closed_case.tracking_number, "digits": "5678", "stars": "4", "comment": "处理及时"},
    )
    assert response.status_code == 303
    assert response["Location"].startswith(f"/track/t/{closed_case.public_token}/?rated=1")
    rating = Rating.objects.get(case=closed_case)
    assert (rating.stars, rating.comment, rating.via) == (4, "处理及时", "phone")
    page = client.get(response["Location"]).content.decode()
    assert "感谢您的评价" in page and "较满意" in page


def test_a_second_rating_is_refused(client, closed_case):
    first = client.post("/track/rate/", {"token": closed_case.public_token, "stars": "5"})
    second = client.post("/track/rate/", {"token": closed_case.public_token, "stars": "1"})
    assert first.status_code == 303
    assert second.status_code == 409
    assert "只能评价一次" in second.content.decode()
    assert list(Rating.objects.values_list("stars", flat=True)) == [5]
    assert not ReviewItem.objects.exists()


def test_a_second_rating_by_the_service_is_refused_too(closed_case):
    services.rating_submit(case=closed_case, stars=3, via="token")
    with pytest.raises(services.AlreadyRated):
        services.rating_submit(case=closed_case, stars=3, via="phone")


def test_a_poor_rating_opens_a_review_for_the_town_and_is_in_the_history(client, closed_case):
    response = client.post(
        "/track/rate/", {"token": closed_case.public_token, "stars": "2", "comment": "没扫干净"}
    )
    assert response.status_code == 303
    item = ReviewItem.objects.get()
    assert item.case_id == closed_case.pk and item.town_id == closed_case.town_id
    assert item.status == ReviewStatus.OPEN and item.rating.stars == 2
    event = CaseEvent.objects.filter(case=closed_case, action=Action.RATE).get()
    assert event.public_note == "市民已评价" and event.data == {"stars": 2, "review": True}
    closed_case.refresh_from_db()
    assert closed_case.status == Status.CLOSED  # a rating changes no state


def test_a_good_rating_opens_no_review(closed_case):
    services.rating_submit(case=closed_case, stars=3, via="token")
    assert not ReviewItem.objects.exists()


def test_an_open_case_cannot_be_rated(client, org):
    case = citizen_case(org)
    response = client.post("/track/rate/", {"token": case.public_token, "stars": "5"})
    assert response.status_code == 409
    assert "办结后才能评价" in response.content.decode()
    assert not Rating.objects.exists()


@pytest.mark.parametrize("stars", ["0", "6", "", "x", "-1"])
def test_stars_outside_one_to_five_are_refused(client, closed_case, stars):
    response = client.post("/track/rate/", {"token": closed_case.public_token, "stars": stars})
    assert response.status_code == 400
    assert not Rating.objects.exists()


def test_a_bad_token_cannot_rate(client, closed_case):
    response = client.post("/track/rate/", {"token": "x" * 32, "stars": "5"})
    assert response.status_code == 403 and not Rating.objects.exists()


def test_a_merged_report_can_be_rated_once_its_case_is_closed(client, org):
    main = citizen_case(org)
    duplicate = citizen_case(org, phone="13700002222")
    workflow.case_merge(case=duplicate, into=main, actor=org.users["vh"])
    close_through_town(org, main)
    response = client.post(
        "/track/rate/", {"n": duplicate.tracking_number, "digits": "2222", "stars": "5"}
    )
    assert response.status_code == 303
    assert Rating.objects.get().case_id == duplicate.pk


def test_forms_need_a_csrf_token(org):
    case = citizen_case(org)
    strict = Client(enforce_csrf_checks=True)
    assert (
        strict.post("/track/verify/", {"n": case.tracking_number, "digits": "5678"}).status_code
        == 403
    )
    assert (
        strict.post("/track/rate/", {"token": case.public_token, "stars": "5"}).status_code == 403
    )
    assert strict.post("/track/report/", {}).status_code == 403


def test_pages_escape_what_people_typed(client, org):
    response = lookup(client, "<script>alert(1)</script>")
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


# --- rate limits ---------------------------------------------------------------------------


def test_lookups_are_limited_per_address(client, org, settings):
    settings.PUBLIC_RATE_LIMITS = {"lookup_ip": "3/h"}
    case = citizen_case(org)
    codes = [lookup(client, case.tracking_number).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = lookup(client, case.tracking_number)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert "操作太频繁" in limited.content.decode()
    # Another address is not affected.
    assert (
        client.get("/track/", {"n": case.tracking_number}, REMOTE_ADDR="10.0.0.9").status_code
        == 200
    )


def test_guessing_digits_is_limited_per_number_whatever_the_address(client, org, settings):
    settings.PUBLIC_RATE_LIMITS = {"verify_number": "3/d"}
    case = citizen_case(org)
    codes = [
        client.post(
            "/track/verify/",
            {"n": case.tracking_number, "digits": f"{i:04d}"},
            REMOTE_ADDR=f"10.0.1.{i}",
        ).status_code
        for i in range(4)
    ]
    assert codes == [403, 403, 403, 429]
    # Even the right digits wait now: the limit is on the number, not on being wrong.
    right = client.post(
        "/track/verify/", {"n": case.tracking_number, "digits": "5678"}, REMOTE_ADDR="10.0.1.99"
    )
    assert right.status_code == 429


def test_verification_is_limited_per_address(client, org, settings):
    settings.PUBLIC_RATE_LIMITS = {"verify_ip": "2/h"}
    numbers = [tracking.new_tracking_number() for _ in range(3)]
    codes = [client.post("/track/verify/", {"n": n, "digits": "1234"}).status_code for n in numbers]
    assert codes == [403, 403, 429]


def test_rating_is_limited_per_number(client, closed_case, settings):
    settings.PUBLIC_RATE_LIMITS = {"rate_number": "2/h"}
    codes = [
        client.post(
            "/track/rate/",
            {"token": closed_case.public_token, "stars": "9"},
            REMOTE_ADDR=f"10.0.2.{i}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [400, 400, 429]


# --- coarse location -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "road"),
    [
        ("东镇幸福路18号3幢", "幸福路"),
        ("幸福路18号", "幸福路"),
        ("宁波市测试区中山东路88号", "中山东路"),
        ("人民大道#3", "人民大道"),
        ("东镇街道解放街十二号", "解放街"),
        ("张三家门口幸福路18号", ""),  # a road after free text: better no road than a name
        ("王五的小卖部门口", ""),
        ("", ""),
    ],
)
def test_the_coarse_road_cuts_house_numbers_and_free_text(address, road):
    assert coarse_road(address) == road
