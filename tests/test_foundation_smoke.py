import pytest
from django.contrib.auth.models import Group

from apps.org.models import Role


@pytest.mark.django_db
def test_every_role_has_a_permission_group_created_by_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


@pytest.mark.django_db
def test_town_dispatcher_group_may_change_cases_but_grid_worker_may_not():
    td = Group.objects.get(name=Role.TOWN_DISPATCHER).permissions.values_list("codename", flat=True)
    gw = Group.objects.get(name=Role.GRID_WORKER).permissions.values_list("codename", flat=True)
    assert "change_case" in td
    assert "change_case" not in gw
