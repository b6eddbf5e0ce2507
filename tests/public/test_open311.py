"""Open311 GeoReport v2, field by field, in JSON and XML (http://wiki.open311.org/GeoReport_v2)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Case, PositionSource, Source
from apps.public import services
from apps.public.models import Open311Key, Open311Submission
from tests.public.conftest import add_photo, citizen_case, close_through_town

pytestmark = pytest.mark.django_db

SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def get_json(client, path, **params):
    response = client.get(f"/open311/v2/{path}.json", params)
    assert response["Content-Type"].startswith("application/json")
    return response, json.loads(response.content)


def get_xml(client, path, **params):
    response = client.get(f"/open311/v2/{path}.xml", params)
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return response, ET.fromstring(response.content)


def xml_records(root, item):
    return [{child.tag: (child.text or "") for child in element} for element in root.findall(item)]


@pytest.fixture
def api_key(db):
    _key, raw = services.open311_key_issue(name="测试 311 应用")
    return raw


# --- discovery and services ------------------------------------------------------------------


def test_discovery_lists_the_v2_endpoint_in_both_formats(client, settings):
    settings.SITE_URL = "https://ld.example.cn"
    response, data = get_json(client, "discovery")
    assert response.status_code == 200
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = data["endpoints"]
    assert endpoint == {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": "https://ld.example.cn/open311/v2",
        "changeset": data["changeset"],
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    _, root = get_xml(client, "discovery")
    assert root.tag == "discovery"
    assert [c.tag for c in root] == ["changeset", "contact", "key_service", "endpoints"]
    endpoint_xml = root.find("endpoints/endpoint")
    assert endpoint_xml.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint_xml.findtext("url") == "https://ld.example.cn/open311/v2"
    assert endpoint_xml.findtext("type") == "production"
    assert [f.text for f in endpoint_xml.findall("formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_services_are_our_leaf_categories(client, org):
    response, data = get_json(client, "services")
    assert response.status_code == 200
    by_code = {s["service_code"]: s for s in data}
    assert set(by_code) == {"baolu-laji", "weifa-jianzhu", "xiaofang"}  # leaves only, no groups
    assert by_code["baolu-laji"] == {
        "service_code": "baolu-laji",
        "service_name": "暴露垃圾",
        "description": "市容环境/暴露垃圾 (Exposed rubbish)",
        "metadata": False,
        "type": "realtime",
        "keywords": "Exposed rubbish",
        "group": "市容环境",
    }
    _, root = get_xml(client, "services")
    assert root.tag == "services"
    records = {r["service_code"]: r for r in xml_records(root, "service")}
    assert set(records) == set(by_code)
    assert list(records["xiaofang"]) == SERVICE_FIELDS
    assert records["xiaofang"] == {
        "service_code": "xiaofang",
        "service_name": "消防隐患",
        "description": "安全隐患/消防隐患 (Fire hazard)",
        "metadata": "false",
        "type": "realtime",
        "keywords": "Fire hazard",
        "group": "安全隐患",
    }


def test_an_inactive_category_is_not_offered(client, org):
    org.categories["fire"].is_active = False
    org.categories["fire"].save()
    _, data = get_json(client, "services")
    assert "xiaofang" not in {s["service_code"] for s in data}


def test_a_service_definition_has_no_extra_attributes(client, org):
    response, data = get_json(client, "services/baolu-laji")
    assert response.status_code == 200
    assert data == {"service_code": "baolu-laji", "attributes": []}
    _, root = get_xml(client, "services/baolu-laji")
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "baolu-laji"
    assert root.find("attributes") is not None and list(root.find("attributes")) == []


def test_an_unknown_service_is_a_404_error_array(client, org):
    response, data = get_json(client, "services/no-such")
    assert response.status_code == 404
    assert data == [{"code": 404, "description": data[0]["description"]}]
    assert "no-such" in data[0]["description"]
    response, root = get_xml(client, "services/no-such")
    assert response.status_code == 404
    assert root.tag == "errors"
    assert root.find("error").findtext("code") == "404"
    assert root.find("error").findtext("description")


# --- POST requests -------------------------------------------------------------------------


def post(client, fmt="json", **data):
    return client.post(f"/open311/v2/requests.{fmt}", data)


def test_posting_needs_a_valid_key(client, org):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    for key in (None, "wrong"):
        data = {"service_code": "baolu-laji", "lat": lat, "long": lng, "description": "垃圾"}
        if key:
            data["api_key"] = key
        response = post(client, **data)
        assert response.status_code == 403
        (error,) = json.loads(response.content)
        assert error["code"] == 403 and "api_key" in error["description"]
    response = post(
        client, fmt="xml", service_code="baolu-laji", lat=lat, long=lng, api_key="wrong"
    )
    root = ET.fromstring(response.content)
    assert (
        response.status_code == 403
        and root.tag == "errors"
        and root.find("error/code").text == "403"
    )
    assert not Case.objects.exists()


def test_a_deactivated_key_is_refused(client, org, api_key):
    Open311Key.objects.update(is_active=False)
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    assert (
        post(client, api_key=api_key, service_code="baolu-laji", lat=lat, long=lng).status_code
        == 403
    )


def test_a_request_becomes_a_routed_case_and_the_answer_names_its_tracking_number(
    client, org, api_key
):
    lat, lng = org.point_in(org.grids["east-v2-g1"])
    response = post(
        client,
        api_key=api_key,
        service_code="baolu-laji",
        lat=str(lat),
        long=str(lng),
        description="小区门口垃圾没人清",
        email="a@b.cn",
        first_name="张",
        last_name="三",
        phone="+86 139-1234-5678",
        media_url="http://evil.example/x.jpg",
    )
    assert response.status_code == 201
    (answer,) = json.loads(response.content)
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    case = Case.objects.get()
    assert answer["service_request_id"] == case.tracking_number and answer["account_id"] is None
    assert case.source == Source.OPEN311 and case.reporter is None
    assert case.reporter_phone == "13912345678"  # kept for the second factor …
    assert (
        b"5678" not in response.content and "张" not in response.content.decode()
    )  # … and never echoed
    assert (
        case.village_id == org.villages["east-v2"].pk and case.description == "小区门口垃圾没人清"
    )
    assert case.pending_work == ["route"]  # routed like any other report
    assert Open311Submission.objects.get().case_id == case.pk


def test_posting_in_xml_answers_in_xml(client, org, api_key):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    response = post(client, fmt="xml", api_key=api_key, service_code="xiaofang", lat=lat, long=lng)
    assert response.status_code == 201
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert [c.tag for c in request] == ["service_request_id", "service_notice", "account_id"]
    assert request.findtext("service_request_id") == Case.objects.get().tracking_number
    assert (
        Case.objects.get().description == "消防隐患"
    )  # no description: the service name stands in


def test_an_address_naming_one_of_our_villages_locates_the_request(client, org, api_key):
    response = post(
        client, api_key=api_key, service_code="baolu-laji", address_string="测试区西镇2村幸福路8号"
    )
    assert response.status_code == 201
    case = Case.objects.get()
    assert case.village_id == org.villages["west-v2"].pk
    assert case.position_source == PositionSource.ADDRESS and case.position_flagged


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"lat": "29.8", "long": "121.5"}, "service_code"),
        ({"service_code": "nope", "lat": "29.8", "long": "121.5"}, "service_code"),
        ({"service_code": "baolu-laji"}, "address_string"),
        ({"service_code": "baolu-laji", "address_string": "火星"}, "address_string"),
        ({"service_code": "baolu-laji", "lat": "north", "long": "121.5"}, "lat"),
        ({"service_code": "baolu-laji", "lat": "95", "long": "121.5"}, "lat"),
        ({"service_code": "baolu-laji", "lat": "10.0", "long": "10.0"}, "jurisdiction"),
        (
            {"service_code": "shirong", "lat": "29.805", "long": "121.505"},
            "service_code",
        ),  # a group, not a service
    ],
)
def test_bad_requests_get_a_400_error_array_and_leave_nothing(client, org, api_key, data, needle):
    response = post(client, api_key=api_key, **data)
    assert response.status_code == 400
    (error,) = json.loads(response.content)
    assert error["code"] == 400 and needle in error["description"]
    assert not Case.objects.exists() and not Open311Submission.objects.exists()


def test_a_too_long_description_is_refused(client, org, api_key):
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    response = post(
        client,
        api_key=api_key,
        service_code="baolu-laji",
        lat=lat,
        long=lng,
        description="长" * 2001,
    )
    assert response.status_code == 400 and not Case.objects.exists()


def test_posting_is_limited_per_key(client, org, api_key, settings):
    settings.PUBLIC_RATE_LIMITS = {"open311_post_key": "2/h"}
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    codes = [
        post(
            client,
            api_key=api_key,
            service_code="baolu-laji",
            lat=lat,
            long=lng,
            description=f"第{i}处",
            REMOTE_ADDR=f"10.3.0.{i}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    (error,) = json.loads(
        post(client, api_key=api_key, service_code="baolu-laji", lat=lat, long=lng).content
    )
    assert error["code"] == 429


# --- GET requests --------------------------------------------------------------------------


@pytest.fixture
def three_cases(org):
    """An open rubbish case, a closed rubbish case with a public photo, an open fire case."""
    open_case = citizen_case(org, address="东镇幸福路18号")
    closed = close_through_town(org, citizen_case(org))
    photo = add_photo(closed)
    fire = citizen_case(org, category="fire", grid_key="west-v1-g1")
    return open_case, closed, fire, photo


def test_one_request_field_by_field_in_json(client, org, three_cases, settings):
    settings.SITE_URL = "https://ld.example.cn"
    _, closed, _, photo = three_cases
    response, data = get_json(client, f"requests/{closed.tracking_number}")
    assert response.status_code == 200
    (record,) = data
    assert list(record) == REQUEST_FIELDS
    grid = org.grids["east-v1-g1"]
    local = timezone.localtime
    assert record == {
        "service_request_id": closed.tracking_number,
        "status": "closed",
        "status_notes": "已办结",
        "service_name": "暴露垃圾",
        "service_code": "baolu-laji",
        "description": "",
        "agency_responsible": "乡镇派驻机构",
        "service_notice": "已办结",
        "requested_datetime": local(closed.created_at).replace(microsecond=0).isoformat(),
        "updated_datetime": local(closed.updated_at).replace(microsecond=0).isoformat(),
        "expected_datetime": None,
        "address": "东镇1村",
        "address_id": None,
        "zipcode": None,
        "lat": round(grid.centroid_lat, 5),
        "long": round(grid.centroid_lng, 5),
        "media_url": f"https://ld.example.cn/track/p/{closed.tracking_number}/{photo.pk}/web.jpg",
    }
    assert record["requested_datetime"].endswith("+08:00")


def test_one_request_field_by_field_in_xml(client, org, three_cases):
    open_case, *_ = three_cases
    response, root = get_xml(client, f"requests/{tracking.display(open_case.tracking_number)}")
    assert response.status_code == 200 and root.tag == "service_requests"
    (record,) = xml_records(root, "request")
    assert list(record) == REQUEST_FIELDS
    open_case.refresh_from_db()
    assert record["service_request_id"] == open_case.tracking_number
    assert record["status"] == "open"
    assert record["status_notes"] == "已分流至村/社区工作站"
    assert record["service_name"] == "暴露垃圾" and record["service_code"] == "baolu-laji"
    assert record["description"] == ""
    assert record["agency_responsible"] == "村/社区工作站"
    assert record["service_notice"] == "已收到，等待受理"
    assert dt.datetime.fromisoformat(record["requested_datetime"]) == open_case.created_at.replace(
        microsecond=0
    )
    expected = open_case.overall_deadline or open_case.step_deadline
    assert dt.datetime.fromisoformat(record["expected_datetime"]) == expected.replace(microsecond=0)
    assert record["address"] == "东镇1村 · 幸福路"
    assert record["address_id"] == "" and record["zipcode"] == "" and record["media_url"] == ""
    assert float(record["lat"]) == round(org.grids["east-v1-g1"].centroid_lat, 5)
    assert float(record["long"]) == round(org.grids["east-v1-g1"].centroid_lng, 5)


@pytest.mark.parametrize("symbol", ["*", "~", "$", "=", "U"])
def test_old_numbers_ending_in_any_legacy_check_symbol_are_found(client, org, symbol):
    """Numbers issued before 2026-12 end in Crockford's mod-37 symbols; they stay valid."""
    case = citizen_case(org)
    bodies = (tracking.new_tracking_number()[:12] for _ in iter(int, 1))
    number = next(b + symbol for b in bodies if tracking.legacy_check_symbol(b) == symbol)
    Case.objects.filter(pk=case.pk).update(tracking_number=number)
    response, data = get_json(client, f"requests/{number}")
    assert response.status_code == 200 and data[0]["service_request_id"] == number
    assert (
        get_json(client, f"requests/{tracking.display(number)}")[1][0]["service_request_id"]
        == number
    )
    add_photo(case)
    page = client.get("/track/", {"n": number})
    assert page.status_code == 200
    url = re.search(r'src="([^"]+/thumb\.jpg)"', page.content.decode()).group(1)
    assert client.get(html.unescape(url)).status_code == 200


def test_an_unknown_request_is_a_404_error(client, org):
    response, data = get_json(client, f"requests/{tracking.new_tracking_number()}")
    assert response.status_code == 404 and data[0]["code"] == 404
    response, root = get_xml(client, "requests/garbage")
    assert response.status_code == 404 and root.find("error/code").text == "404"


def ids(data):
    return {r["service_request_id"] for r in data}


def test_requests_default_to_the_last_90_days(client, org, three_cases):
    open_case, closed, fire, _ = three_cases
    old = citizen_case(org)
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=91))
    _, data = get_json(client, "requests")
    assert ids(data) == {open_case.tracking_number, closed.tracking_number, fire.tracking_number}
    assert [r["service_request_id"] for r in data][0] == fire.tracking_number  # newest first
    _, root = get_xml(client, "requests")
    assert {r["service_request_id"] for r in xml_records(root, "request")} == ids(data)


def test_requests_filter_by_service_code_and_status(client, org, three_cases):
    open_case, closed, fire, _ = three_cases
    assert ids(get_json(client, "requests", service_code="baolu-laji")[1]) == {
        open_case.tracking_number,
        closed.tracking_number,
    }
    assert ids(
        get_json(client, "requests", service_code="baolu-laji,xiaofang", status="open")[1]
    ) == {open_case.tracking_number, fire.tracking_number}
    assert ids(get_json(client, "requests", status="closed")[1]) == {closed.tracking_number}
    assert len(get_json(client, "requests", status="open,closed")[1]) == 3
    response, data = get_json(client, "requests", status="pending")
    assert response.status_code == 400 and data[0]["code"] == 400


def test_requests_filter_by_id_list_overriding_other_filters(client, org, three_cases):
    open_case, closed, fire, _ = three_cases
    wanted = f"{tracking.display(open_case.tracking_number)},{fire.tracking_number.lower()},garbage"
    _, data = get_json(client, "requests", service_request_id=wanted, status="closed")
    assert ids(data) == {open_case.tracking_number, fire.tracking_number}


def test_requests_filter_by_dates(client, org, three_cases):
    open_case, closed, fire, _ = three_cases
    now = timezone.now()
    Case.objects.filter(pk=open_case.pk).update(created_at=now - dt.timedelta(days=250))
    Case.objects.filter(pk=closed.pk).update(created_at=now - dt.timedelta(days=150))
    start = (now - dt.timedelta(days=260)).isoformat()
    end = (now - dt.timedelta(days=140)).isoformat()
    assert ids(get_json(client, "requests", start_date=start, end_date=end)[1]) == {
        open_case.tracking_number,
        closed.tracking_number,
    }
    # An end date alone looks 90 days back from it.
    assert ids(get_json(client, "requests", end_date=end)[1]) == {closed.tracking_number}
    # A start date alone runs to now; a plain date counts from midnight (Asia/Shanghai).
    day = timezone.localdate(now - dt.timedelta(days=160)).isoformat()
    assert ids(get_json(client, "requests", start_date=day)[1]) == {
        closed.tracking_number,
        fire.tracking_number,
    }
    for bad in ({"start_date": "yesterday"}, {"start_date": end, "end_date": start}):
        response, data = get_json(client, "requests", **bad)
        assert response.status_code == 400 and data[0]["code"] == 400


def test_requests_are_capped_at_1000(client, org, monkeypatch):
    from apps.public import open311

    monkeypatch.setattr(open311, "MAX_REQUESTS", 2)
    for _ in range(3):
        citizen_case(org)
    assert len(get_json(client, "requests")[1]) == 2


def test_a_merged_or_rejected_case_is_closed_and_a_deferred_one_open(client, org):
    main, duplicate, rejected = (
        citizen_case(org),
        citizen_case(org),
        citizen_case(org, grid_key="east-v2-g1"),
    )
    workflow.case_merge(case=duplicate, into=main, actor=org.users["vh"])
    workflow.case_reject(
        case=rejected, actor=_village_handler(org, "east-v2"), reason="not_public", note="私人纠纷"
    )
    _, data = get_json(client, "requests")
    status = {r["service_request_id"]: r["status"] for r in data}
    assert status == {
        main.tracking_number: "open",
        duplicate.tracking_number: "closed",
        rejected.tracking_number: "closed",
    }


def _village_handler(org, village_key):
    from apps.org.models import Role
    from tests.factories import make_person

    return make_person(
        f"vh-{village_key}",
        Role.VILLAGE_HANDLER,
        region=org.villages[village_key],
        unit=org.units[f"{village_key}-ws"],
    )


# --- keys ------------------------------------------------------------------------------------


def test_the_command_prints_a_new_key_once_and_stores_only_its_hash(capsys, org, client):
    call_command("open311_key", "12345 热线系统")
    raw = capsys.readouterr().out.strip()
    key = Open311Key.objects.get(name="12345 热线系统")
    assert raw.startswith("ld311_") and len(raw) > 40
    assert raw not in (key.key_hash, key.prefix) and key.prefix == raw[6:14]
    lat, lng = org.point_in(org.grids["east-v1-g1"])
    assert (
        post(client, api_key=raw, service_code="baolu-laji", lat=lat, long=lng).status_code == 201
    )
    key.refresh_from_db()
    assert key.last_used_at is not None
