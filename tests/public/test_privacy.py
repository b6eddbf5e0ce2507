"""No public response ever shows a person's name, a phone number, an internal note or the GPS
point: every public endpoint is walked with cases full of such data."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from apps.cases import services as workflow
from apps.cases import tracking
from apps.cases.models import Case, PhotoKind
from apps.org.models import Profile
from apps.public import services
from tests.public.conftest import add_photo, citizen_case, close_through_town

pytestmark = pytest.mark.django_db

PEOPLE = {
    "gw": "王建国",
    "gw2": "李秀英",
    "gl": "张志强",
    "vh": "刘桂兰",
    "td": "陈卫东",
    "dh": "杨海燕",
    "gw_w": "赵国庆",
    "vh_w": "黄丽华",
    "td_w": "周明亮",
    "dh_w": "吴小红",
    "cd": "徐建军",
    "dh_c": "孙玉梅",
    "leader": "马德胜",
}
CITIZEN_PHONE = "13912345678"
NOTES = {
    "accept": "内部备注甲：上报人情绪激动，住3号楼",
    "escalate": "内部备注乙：村里没有清运车",
    "dispatch": "内部备注丙：请联系物业经理钱多多 13600001111",
    "handle": "内部备注丁：已清运，业主孙悟空不配合",
    "verify": "内部备注戊：现场核查人员周末到场",
    "close": "内部备注己：归档",
}
DESCRIPTION = "张三丰（电话13812345678）家门口堆满垃圾，邻居李寻欢说是欧阳锋倒的"
ADDRESS = "张三丰家门口幸福路18号"


@pytest.fixture
def leaky(org):
    """Two cases (one closed, one in the hands of a stationed unit) carrying every kind of
    personal data the system holds, with names and phones on every person of the organisation."""
    for username, name in PEOPLE.items():
        user = org.users[username]
        user.first_name, user.last_name = name[1:], name[0]
        user.save()
        Profile.objects.filter(user=user).update(display_name=name)
    closed = citizen_case(
        org, phone=CITIZEN_PHONE, description=DESCRIPTION, address=ADDRESS, lat_offset=0.0012345
    )
    close_through_town(org, closed, notes=NOTES)
    add_photo(closed, kind=PhotoKind.AFTER, public=True)
    private = add_photo(closed, kind=PhotoKind.REPORT, public=False)
    running = citizen_case(
        org,
        phone="13700009999",
        description="欧阳锋在路口摆摊占道",
        address="东镇幸福路66号",
        lat_offset=-0.0023456,
    )
    workflow.case_accept(case=running, actor=org.users["vh"], note=NOTES["accept"])
    workflow.case_escalate(case=running, actor=org.users["vh"], reason=NOTES["escalate"])
    workflow.case_dispatch(
        case=running, actor=org.users["td"], lead_unit=org.units["east-cg"], note=NOTES["dispatch"]
    )
    workflow.case_sign(case=running, actor=org.users["dh"])
    closed.refresh_from_db()
    running.refresh_from_db()
    return closed, running, private


def forbidden_strings(org, cases) -> list[str]:
    strings = list(PEOPLE.values())
    strings += [p.phone for p in Profile.objects.all()]
    strings += [
        "13812345678",
        "13600001111",
        "张三丰",
        "李寻欢",
        "欧阳锋",
        "钱多多",
        "孙悟空",
        "18号",
        "66号",
    ]
    strings += list(NOTES.values()) + ["内部备注"]
    strings += [u.name for u in org.units.values()]  # units are named by kind only
    for case in cases:
        digits = case.reporter_phone
        strings += [
            digits,
            f"{digits[:3]} {digits[3:7]} {digits[7:]}",
            f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        ]
        for value in (case.lat, case.lng):
            strings += [repr(value), f"{value:.6f}", f"{value:.5f}", f"{value:.4f}"]
        strings += [
            e.actor_label for e in case.events.exclude(actor_label__in=["", "系统", "市民"])
        ]
        strings += [case.description, case.result_text]
    return sorted({s for s in strings if s})


def assert_clean(name, response, forbidden, *, secrets_allowed=()):
    body = response.content.decode("utf-8")
    headers = json.dumps(dict(response.headers), ensure_ascii=False)
    for text in forbidden:
        assert text not in body, f"{name}: the body shows {text!r}"
        assert text not in headers, f"{name}: a header shows {text!r}"
    for secret in secrets_allowed:
        assert secret not in body, f"{name}: the body shows a second-factor secret"


def test_no_public_endpoint_leaks_names_phones_notes_or_the_gps_point(client, org, leaky, settings):
    closed, running, private_photo = leaky
    forbidden = forbidden_strings(org, [closed, running])
    raw_key = services.open311_key_issue(name="walk")[1]
    responses = []

    def visit(name, response, *, verified=False):
        responses.append((name, response, verified))
        return response

    visit("lookup form", client.get("/track/"))
    visit("report form", client.get("/track/report/"))
    visit("grid map", client.get("/track/map/grids.geojson"))
    visit("open311 discovery json", client.get("/open311/v2/discovery.json"))
    visit("open311 discovery xml", client.get("/open311/v2/discovery.xml"))
    visit("open311 services json", client.get("/open311/v2/services.json"))
    visit("open311 services xml", client.get("/open311/v2/services.xml"))
    visit("open311 service json", client.get("/open311/v2/services/baolu-laji.json"))
    visit("open311 service xml", client.get("/open311/v2/services/baolu-laji.xml"))
    visit("open311 requests json", client.get("/open311/v2/requests.json"))
    visit("open311 requests xml", client.get("/open311/v2/requests.xml"))
    for case in (closed, running):
        n = case.tracking_number
        visit(f"lookup {n}", client.get("/track/", {"n": n}))
        visit(
            f"lookup {n} typed loosely", client.get("/track/", {"n": tracking.display(n).lower()})
        )
        visit(f"verify {n} wrong", client.post("/track/verify/", {"n": n, "digits": "0000"}))
        right = visit(
            f"verify {n} right",
            client.post("/track/verify/", {"n": n, "digits": case.reporter_phone[-4:]}),
        )
        visit(f"link page {n}", client.get(right["Location"]), verified=True)
        visit(f"link page {n} new", client.get(right["Location"] + "?new=1"), verified=True)
        visit(f"open311 request {n} json", client.get(f"/open311/v2/requests/{n}.json"))
        visit(f"open311 request {n} xml", client.get(f"/open311/v2/requests/{n}.xml"))
        visit(
            f"open311 by id {n}", client.get("/open311/v2/requests.json", {"service_request_id": n})
        )
        visit(
            f"rate {n} wrong digits",
            client.post("/track/rate/", {"n": n, "digits": "0000", "stars": "1"}),
        )
    visit(
        "rate open case",
        client.post("/track/rate/", {"token": running.public_token, "stars": "1"}),
        verified=True,
    )
    rated = visit(
        "rate closed case",
        client.post(
            "/track/rate/", {"token": closed.public_token, "stars": "1", "comment": "还是有味道"}
        ),
        verified=True,
    )
    visit("after rating", client.get(rated["Location"]), verified=True)
    visit(
        "second rating",
        client.post("/track/rate/", {"token": closed.public_token, "stars": "5"}),
        verified=True,
    )
    visit("lookup after rating", client.get("/track/", {"n": closed.tracking_number}))
    visit(
        "refused report",
        client.post("/track/report/", {"description": "随便看看", "phone": "13500000000"}),
    )
    lat, lng = org.point_in(org.grids["east-v1-g2"])
    leaky_post = {
        "api_key": raw_key,
        "service_code": "baolu-laji",
        "lat": lat,
        "long": lng,
        "description": DESCRIPTION,
        "first_name": "三丰",
        "last_name": "张",
        "email": "zsf@example.cn",
        "phone": CITIZEN_PHONE,
    }
    visit("open311 post json", client.post("/open311/v2/requests.json", leaky_post))
    visit("open311 post xml", client.post("/open311/v2/requests.xml", leaky_post))
    visit("open311 requests after posts", client.get("/open311/v2/requests.json"))
    visit("open311 requests after posts xml", client.get("/open311/v2/requests.xml"))
    settings.PUBLIC_RATE_LIMITS = {"lookup_ip": "1/h"}
    for _ in range(2):
        last = client.get("/track/", {"n": closed.tracking_number}, REMOTE_ADDR="10.9.9.9")
    assert last.status_code == 429
    visit("rate limited", last)

    assert len(responses) > 40
    tokens = [c.public_token for c in Case.objects.all()]
    for name, response, verified in responses:
        assert response.status_code < 500, name
        # The link token is the second factor: only pages reached with it may carry it.
        assert_clean(name, response, forbidden, secrets_allowed=() if verified else tokens)
        if not verified:
            assert "尾号" not in response.content.decode(), (
                f"{name}: shows the reporter's phone digits"
            )
    # The cases' own free text never shows, even to the reporter.
    assert not any("张三丰" in r.content.decode() for _, r, _ in responses)

    # Photos: the public one is served without metadata; the private one and originals are not.
    view = client.get("/track/", {"n": closed.tracking_number}).content.decode()
    assert f"/{private_photo.pk}/" not in view
    served = [
        client.get(f"/track/p/{closed.tracking_number}/{p.pk}/{size}.jpg")
        for p in closed.photos.filter(is_public=True)
        for size in ("web", "thumb")
    ]
    assert served and all(r.status_code == 200 for r in served)
    for response in served:
        image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
        assert not image.getexif()
    assert (
        client.get(f"/track/p/{closed.tracking_number}/{private_photo.pk}/web.jpg").status_code
        == 404
    )
