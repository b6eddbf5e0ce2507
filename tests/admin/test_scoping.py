"""Crossing the lines: every way into another desk's cases is closed, even by guessing ids."""

import csv
import io

import pytest
from openpyxl import load_workbook

from apps.cases.models import Case, Status
from apps.desk.admin import photo_src
from tests.admin.conftest import add_photo, at_town, num, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_towns(org):
    """One case waiting at each town's desk, each with a photo."""
    east, west = (
        at_town(org, description="东镇的垃圾"),
        at_town(org, town="west", description="西镇的垃圾"),
    )
    return {
        "east": east,
        "west": west,
        "east_photo": add_photo(east),
        "west_photo": add_photo(west),
    }


def test_a_town_dispatcher_lists_only_their_own_towns_cases(two_towns, desk):
    page = desk["td"].get("/admin/cases/case/").content.decode()
    assert num(two_towns["east"]) in page
    assert num(two_towns["west"]) not in page


def test_it_refuses_to_open_a_foreign_towns_case_by_guessing_its_id(two_towns, desk):
    west = two_towns["west"]
    response = desk["td"].get(f"/admin/cases/case/{west.pk}/change/", follow=True)
    body = response.content.decode()
    assert response.redirect_chain and response.redirect_chain[0][1] == 302
    assert num(west) not in body and "西镇的垃圾" not in body
    assert "不存在" in body  # the same answer as for an id that does not exist


def test_a_nonexistent_id_reads_the_same_as_a_foreign_one(two_towns, desk):
    missing = desk["td"].get("/admin/cases/case/999999/change/")
    foreign = desk["td"].get(f"/admin/cases/case/{two_towns['west'].pk}/change/")
    assert missing.status_code == foreign.status_code == 302
    assert missing["Location"] == foreign["Location"]


def test_it_refuses_to_act_on_a_foreign_towns_case(org, two_towns, desk):
    west = two_towns["west"]
    response = desk["td"].post(
        f"/admin/cases/case/{west.pk}/act/dispatch/",
        {"dispatch-lead_unit": org.units["west-cg"].pk},
    )
    assert response.status_code == 302
    west.refresh_from_db()
    assert west.status == Status.ACCEPTED and west.lead_unit_id is None
    assert not west.events.filter(action="dispatch").exists()


def test_it_refuses_to_serve_a_foreign_towns_photo_at_the_url_the_desk_uses(two_towns, desk):
    own, foreign = two_towns["east_photo"], two_towns["west_photo"]
    page = desk["td"].get("/admin/cases/case/").content.decode()
    assert photo_src(own, "thumb").replace("&", "&amp;") in page
    assert desk["td"].get(photo_src(own, "thumb")).status_code == 200
    assert desk["td"].get(photo_src(foreign, "thumb")).status_code == 404
    assert desk["td"].get(photo_src(foreign, "web")).status_code == 404
    assert desk["td_w"].get(photo_src(foreign, "web")).status_code == 200


def test_the_photo_list_and_the_photo_page_hide_foreign_photos(two_towns, desk):
    listing = desk["td"].get("/admin/cases/casephoto/").content.decode()
    assert num(two_towns["east"]) in listing and num(two_towns["west"]) not in listing
    response = desk["td"].get(f"/admin/cases/casephoto/{two_towns['west_photo'].pk}/change/")
    assert response.status_code == 302


def test_the_csv_export_holds_only_the_users_scope_even_when_filtered_for_another_town(
    org, two_towns, desk
):
    west_town = org.towns["west"].pk
    for query in ("", f"?town={west_town}"):
        response = desk["td"].get(f"/admin/cases/case/export.csv{query}")
        assert response.status_code == 200
        rows = list(
            csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")))
        )
        numbers = {row[0] for row in rows[1:]}
        assert num(two_towns["west"]) not in numbers
        if not query:
            assert numbers == {num(two_towns["east"])}


def test_the_excel_export_holds_only_the_users_scope(two_towns, desk):
    response = desk["td"].get("/admin/cases/case/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "流水号"
    assert [row[0] for row in rows[1:]] == [num(two_towns["east"])]


def test_the_history_export_follows_the_filters_and_the_scope(two_towns, desk):
    page = desk["td"].get("/admin/cases/caseevent/", {"action__exact": "escalate"}).content.decode()
    assert "/admin/cases/caseevent/export.csv?action__exact=escalate" in page
    response = desk["td"].get("/admin/cases/caseevent/export.csv", {"action__exact": "escalate"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(row[1], row[2]) for row in rows[1:]] == [(num(two_towns["east"]), "上报上级")]


def test_exporting_selected_foreign_ids_exports_nothing_foreign(two_towns, desk):
    response = desk["td"].post(
        "/admin/cases/case/",
        {
            "action": "export_selected_csv",
            "_selected_action": [two_towns["west"].pk, two_towns["east"].pk],
        },
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert num(two_towns["east"]) in body and num(two_towns["west"]) not in body


def test_search_cannot_find_a_foreign_tracking_number(two_towns, desk):
    response = desk["td"].get("/admin/cases/case/", {"q": num(two_towns["west"])})
    assert response.context["cl"].result_count == 0
    assert response.context["map_points"] == []
    assert "西镇的垃圾" not in response.content.decode()


def test_search_finds_an_own_case_by_its_number_however_it_is_typed(two_towns, desk):
    east = two_towns["east"]
    for typed in (east.tracking_number, num(east), num(east).lower().replace("-", " ")):
        cl = desk["td"].get("/admin/cases/case/", {"q": typed}).context["cl"]
        assert [c.pk for c in cl.result_list] == [east.pk], typed


def test_autocomplete_of_cases_answers_only_within_the_scope(two_towns, desk):
    def found(client, term):
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": "cases", "model_name": "caseevent", "field_name": "case", "term": term},
        )
        assert response.status_code == 200
        return {int(row["id"]) for row in response.json()["results"]}

    west = two_towns["west"]
    assert found(desk["td"], "垃圾") == {two_towns["east"].pk}
    assert found(desk["td"], num(west)) == set() and found(desk["td"], "西镇") == set()
    assert found(desk["td_w"], num(west)) == {west.pk}


def test_bulk_dispatch_ignores_foreign_ids(org, two_towns, desk):
    west = two_towns["west"]
    desk["td"].post(
        "/admin/cases/case/",
        {
            "action": "dispatch_selected",
            "_selected_action": [west.pk],
            "apply": "1",
            "lead_unit": org.units["east-cg"].pk,
        },
    )
    west.refresh_from_db()
    assert west.status == Status.ACCEPTED and west.lead_unit_id is None


def test_the_history_list_shows_only_events_of_cases_in_scope(two_towns, desk):
    page = desk["td"].get("/admin/cases/caseevent/").content.decode()
    assert num(two_towns["east"]) in page and num(two_towns["west"]) not in page


def test_the_filters_offer_only_the_users_own_units(org, two_towns, desk):
    page = desk["td"].get("/admin/cases/case/").content.decode()
    assert org.units["east-cg"].name in page
    assert org.units["west-cg"].name not in page and "西镇" not in page


def test_the_county_dispatcher_sees_both_towns_and_may_filter_by_town(org, two_towns, desk):
    page = desk["cd"].get("/admin/cases/case/").content.decode()
    assert num(two_towns["east"]) in page and num(two_towns["west"]) in page
    filtered = desk["cd"].get("/admin/cases/case/", {"town": org.towns["west"].pk}).content.decode()
    assert num(two_towns["west"]) in filtered and num(two_towns["east"]) not in filtered


def test_the_dashboard_numbers_are_scoped(two_towns, desk):
    east = desk["td"].get("/admin/desk/stats.json").json()
    county = desk["cd"].get("/admin/desk/stats.json").json()
    assert east["open_total"] == 1 and county["open_total"] == 2
    assert east["waiting_total"] == 1  # the east case waits for dispatch at the east desk
    assert county["waiting_total"] == 0  # nothing sits at the county desk


def test_a_department_handler_has_no_admin_at_all(two_towns, desk):
    for url in (
        "/admin/",
        "/admin/cases/case/",
        f"/admin/cases/case/{two_towns['east'].pk}/change/",
        "/admin/desk/stats.json",
        "/admin/cases/case/export.csv",
    ):
        response = desk["dh"].get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_village_handler_sees_only_their_village(org, desk):
    own = report(org, grid="east-v1-g2", description="本村")
    neighbour = report(org, grid="east-v2-g1", description="邻村")
    page = desk["vh"].get("/admin/cases/case/").content.decode()
    assert num(own) in page and num(neighbour) not in page
    assert desk["vh"].get(f"/admin/cases/case/{neighbour.pk}/change/").status_code == 302


def test_a_leader_reads_but_every_action_post_is_refused(org, two_towns, desk):
    east = two_towns["east"]
    page = desk["leader"].get(f"/admin/cases/case/{east.pk}/change/")
    assert page.status_code == 200 and num(east) in page.content.decode()
    assert 'class="ld-action-form"' not in page.content.decode()
    for action, data in [
        ("dispatch", {"dispatch-lead_unit": org.units["east-cg"].pk}),
        ("escalate", {"escalate-reason": "x"}),
        ("urge", {}),
        ("reject", {"reject-reason": "invalid", "reject-note": "x"}),
    ]:
        assert (
            desk["leader"].post(f"/admin/cases/case/{east.pk}/act/{action}/", data).status_code
            == 403
        )
    desk["leader"].post(
        "/admin/cases/case/", {"action": "urge_overdue", "_selected_action": [east.pk]}
    )
    east.refresh_from_db()
    assert east.status == Status.ACCEPTED and east.urge_count == 0
    assert (
        list(Case.objects.get(pk=east.pk).events.values_list("action", flat=True))[-1] == "escalate"
    )


def test_nobody_edits_or_deletes_a_case_or_its_history_in_the_admin(two_towns, desk):
    east = two_towns["east"]
    event = east.events.first()
    assert (
        desk["td"].post(f"/admin/cases/case/{east.pk}/change/", {"description": "改写"}).status_code
        == 403
    )
    assert (
        desk["td"].post(f"/admin/cases/case/{east.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert (
        desk["td"].post(f"/admin/cases/caseevent/{event.pk}/change/", {"note": "改写"}).status_code
        == 403
    )
    assert (
        desk["td"].post(f"/admin/cases/caseevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert desk["td"].get("/admin/cases/case/add/").status_code == 403
    east.refresh_from_db()
    assert east.description == "东镇的垃圾"
