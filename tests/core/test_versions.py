"""Shared versions move with the rows they describe: a process that rebuilds its copy while a
change is on its way never keeps the old rows under the new version."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from apps.cases.models import WorkCalendarDay
from apps.core.versions import SharedVersion

pytestmark = pytest.mark.django_db(transaction=True)


def copy_of(version: SharedVersion) -> tuple[int, set[dt.date]]:
    """What another process does: read the version, then the rows, and keep them under it."""
    number = version.current(recheck=True)
    return number, set(WorkCalendarDay.objects.values_list("date", flat=True))


def test_a_copy_rebuilt_while_a_change_commits_never_pairs_old_rows_with_the_new_version():
    changer, reader = SharedVersion("test:race", "X", 0.0), SharedVersion("test:race", "X", 0.0)
    holiday = dt.date(2026, 10, 1)
    bumped, go = threading.Event(), threading.Event()

    def change() -> None:
        try:
            with transaction.atomic():
                WorkCalendarDay.objects.create(date=holiday, is_workday=False, note="国庆节")
                changer.changed(lambda: None)
                bumped.set()
                go.wait(10)
        finally:
            connection.close()

    before = copy_of(reader)
    thread = threading.Thread(target=change)
    thread.start()
    assert bumped.wait(10)
    during = copy_of(reader)  # the change is made and its bump written, not yet committed
    go.set()
    thread.join(10)
    after = copy_of(reader)

    copies = {number: rows for number, rows in (before, during, after)}
    assert copies[after[0]] == {holiday}
    # Whatever version was read while the change was pending, its rows are the rows of that
    # version: the old version with the old rows, never the new version with the old rows.
    assert during[0] == before[0] and during[1] == set()
    assert after[0] != before[0]


def test_a_rolled_back_bump_leaves_a_version_that_is_never_used_again():
    version = SharedVersion("test:rollback", "X", 0.0)
    first = version.current()
    seen = []
    with pytest.raises(RuntimeError), transaction.atomic():
        version.bump()
        seen.append(version.current())
        raise RuntimeError
    assert version.current() == first
    version.bump()
    assert version.current() not in (first, seen[0])
