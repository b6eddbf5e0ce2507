"""Every per-process copy (map index, work calendar, category tree and time limits, API callers)
moves its shared version only once the change is committed (``SharedVersion.changed``): a copy
rebuilt elsewhere while the change is pending keeps the old rows under the old version, and is
rebuilt from the new rows once the version moves. Never old rows under a new version."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from apps.cases import clock, reference
from apps.cases.models import WorkCalendarDay
from apps.core.models import SharedVersionRow
from apps.core.versions import SharedVersion
from apps.org import credentials, geo
from tests.factories import BASE_LAT, BASE_LNG, SIDE, square

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


def elsewhere(read: Callable[[], T]) -> T:
    """``read()`` on a thread and a database connection of its own: another request of this
    process, and for the database another process, while this thread's transaction is open."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = read()
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def committed(version: SharedVersion) -> int:
    """The shared version as every other process reads it."""
    return elsewhere(lambda: SharedVersionRow.objects.get(key=version.key).version)


def test_the_map_index(org_tx, settings):
    settings.GRID_INDEX_RECHECK_S = 0
    grid = org_tx.grids["east-v1-g1"]
    far_lng, far_lat = BASE_LNG + 1.0, BASE_LAT + 1.0
    far = (far_lat + SIDE / 2, far_lng + SIDE / 2)
    assert geo.locate(*far) is None
    before = committed(geo.GRID_VERSION)
    with transaction.atomic():
        grid.boundary = square(far_lng, far_lat)
        grid.save()
        geo.invalidate()
        assert committed(geo.GRID_VERSION) == before  # nothing moves before the commit
        # Another request rebuilds meanwhile: from the rows as they were, under the old number.
        during = elsewhere(geo.get_index)
        assert during.version == before and during.locate(*far, 0.0) is None
        assert geo.locate(*far).grid_id == grid.pk  # this transaction sees its own rows
    after = committed(geo.GRID_VERSION)
    assert after != before
    rebuilt = elsewhere(geo.get_index)
    assert rebuilt is not during and rebuilt.version == after
    assert rebuilt.locate(*far, 0.0).grid_id == grid.pk


def test_the_work_calendar(transactional_db, settings):
    settings.CALENDAR_RECHECK_S = 0
    monday = dt.date(2031, 3, 3)

    def copy_elsewhere() -> tuple[int, bool]:
        return clock._calendar_version(), clock.is_workday(monday)

    assert clock.is_workday(monday)
    before = committed(clock.CALENDAR_VERSION)
    with transaction.atomic():
        WorkCalendarDay.objects.create(date=monday, is_workday=False, note="测试假日")
        clock.calendar_changed()
        assert committed(clock.CALENDAR_VERSION) == before
        assert elsewhere(copy_elsewhere) == (before, True)
        assert not clock.is_workday(monday)
    after = committed(clock.CALENDAR_VERSION)
    assert after != before
    assert elsewhere(copy_elsewhere) == (after, False)
    assert not clock.is_workday(monday)


def test_the_category_tree_and_time_limits(org_tx, settings):
    settings.REFERENCE_RECHECK_S = 0
    rubbish = org_tx.categories["rubbish"]
    assert reference.active_leaf(rubbish.pk) is not None
    before = committed(reference.VERSION)
    with transaction.atomic():
        rubbish.is_active = False
        rubbish.save()  # post_save: reference.invalidate()
        assert committed(reference.VERSION) == before
        during = elsewhere(reference.get)
        assert during.version == before and during.categories[rubbish.pk].is_active
        assert reference.active_leaf(rubbish.pk) is None
    after = committed(reference.VERSION)
    assert after != before
    rebuilt = elsewhere(reference.get)
    assert rebuilt.version == after and not rebuilt.categories[rubbish.pk].is_active
    assert reference.active_leaf(rubbish.pk) is None


def test_api_callers(org_tx, settings):
    settings.CREDENTIALS_RECHECK_S = 0
    token = Token.objects.create(user=org_tx.users["gw"])
    key = token.key
    assert credentials.token_user(key) is not None
    before = committed(credentials.VERSION)
    with transaction.atomic():
        token.delete()  # post_delete: credentials.invalidate()
        assert committed(credentials.VERSION) == before
        assert elsewhere(lambda: credentials.token_user(key)) is not None
        assert credentials._by_token[key].version == before  # kept under the old number only
        assert credentials.token_user(key) is None
    after = committed(credentials.VERSION)
    assert after != before
    assert elsewhere(lambda: credentials.token_user(key)) is None
    assert credentials.token_user(key) is None


def test_a_change_rolled_back_moves_nothing_and_no_copy_built_inside_it_stays_current():
    version = SharedVersion("test:rolled-back-change", "X", 3600.0)
    first = version.current()
    inside = []
    with pytest.raises(RuntimeError), transaction.atomic():
        version.changed(lambda: None)
        inside.append(version.current())  # what a copy built from this transaction's rows is under
        raise RuntimeError
    assert inside[0] != first
    assert committed(version) == first
    assert version.current() == first


def test_several_changes_in_one_transaction_move_the_version_once_and_each_drops_the_copy():
    version = SharedVersion("test:several-changes", "X", 3600.0)
    first = version.current()
    seen = []
    with transaction.atomic():
        version.changed(lambda: None)
        seen.append(version.current())
        version.changed(lambda: None)
        seen.append(version.current())
        assert len(connection.run_on_commit) == 1
    assert len({first, *seen}) == 3
    assert committed(version) not in (first, *seen)
    assert version.current() == committed(version)


def test_the_shared_row_is_written_after_the_commit_not_held_by_the_change():
    # Written inside the change's transaction, the row would stay locked (PostgreSQL) until a
    # long import commits, and every other change of the same copy would wait for it.
    version = SharedVersion("test:written-after-commit", "X", 0.0)
    first = version.current()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as inside:
            version.changed(lambda: None)
        assert not [q for q in inside if "sharedversionrow" in q["sql"].lower()]
    assert committed(version) != first
