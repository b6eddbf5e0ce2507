"""The live desk counters on every admin page: rendered with the current numbers for a desk,
absent for anyone without one."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.notify.helpers import at_town_desk


def page_for(user, path="/admin/cases/case/") -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_town_dispatchers_admin_pages_carry_the_live_counters(org):
    at_town_desk(org)
    html = page_for(org.users["td"])
    assert 'id="notify-desk"' in html
    assert (
        '<b data-notify-count="new">1</b>' in html
        and '<b data-notify-count="overdue">0</b>' in html
    )
    assert "notify/live.js" in html and "notify/desk.js" in html


@pytest.mark.django_db
def test_another_towns_desk_counts_only_its_own_cases(org):
    at_town_desk(org)
    assert '<b data-notify-count="new">0</b>' in page_for(org.users["td_w"])


@pytest.mark.django_db
def test_staff_without_a_desk_get_no_counters(org):
    admin = User.objects.create_superuser("root", password="x-pass-123")
    assert "notify-desk" not in page_for(admin, "/admin/")
