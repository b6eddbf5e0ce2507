"""群众短信 in the desk: each town reads its own delivery log, numbers masked; a failed message
can be sent again."""

from __future__ import annotations

import pytest

from apps.cases import services as workflow
from apps.sms.models import SmsMessage, SmsStatus
from tests.conftest import grant_role_permissions
from tests.public.conftest import citizen_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sms_permissions(org):
    grant_role_permissions("sms", "0002_desk_permissions")


@pytest.fixture
def messages(org):
    east = citizen_case(org, phone="13911110000")
    west = citizen_case(org, grid_key="west-v1-g1", phone="13822221111")
    workflow.case_accept(case=east, actor=org.users["vh"])
    workflow.case_accept(case=west, actor=org.users["vh_w"])
    made = [
        SmsMessage.objects.create(
            case=case, kind="tracking", phone=case.reporter_phone, text="t", status=status
        )
        for case, status in ((east, SmsStatus.FAILED), (west, SmsStatus.SENT))
    ]
    return made


def test_a_town_dispatcher_reads_only_their_towns_messages_with_numbers_masked(
    client, org, messages
):
    east, west = messages
    client.force_login(org.users["td"])
    body = client.get("/admin/sms/smsmessage/").content.decode()
    assert "139****0000" in body and "13911110000" not in body
    assert "138****1111" not in body  # the west town's message is not listed
    assert client.get(f"/admin/sms/smsmessage/{west.pk}/change/").status_code in (302, 404)
    detail = client.get(f"/admin/sms/smsmessage/{east.pk}/change/")
    assert detail.status_code == 200 and "13911110000" not in detail.content.decode()


def test_a_failed_message_is_queued_again_by_the_desk(client, org, messages):
    east, west = messages
    client.force_login(org.users["td"])
    response = client.post(
        "/admin/sms/smsmessage/",
        {"action": "retry", "_selected_action": [east.pk, west.pk]},
        follow=True,
    )
    assert "已重新排队 1 条短信" in response.content.decode()
    east.refresh_from_db()
    west.refresh_from_db()
    assert east.status == SmsStatus.QUEUED and west.status == SmsStatus.SENT


def test_a_grid_worker_has_no_sms_screen(client, org, messages):
    client.force_login(org.users["gw"])
    assert client.get("/admin/sms/smsmessage/").status_code in (302, 403)
