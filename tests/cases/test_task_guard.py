"""The delivery counter every task carries: success clears it, failures and deaths add up, and a
task delivered too often is quarantined instead of running again (run in-process here; the
worker tests kill a real worker)."""

import uuid

import pytest

from apps.cases.models import QuarantinedTask
from apps.cases.task_guard import deliveries_so_far, max_deliveries, quarantined_task_release
from config.celery import app

pytestmark = pytest.mark.django_db

RUNS: list[str] = []


@app.task(name="tests.cases.sometimes_fails")
def sometimes_fails(token: str, fail: bool) -> str:
    RUNS.append(token)
    if fail:
        raise RuntimeError("照片解码失败")
    return token


@app.task(name="tests.cases.a_sweep", poison_key="id")
def a_sweep(token: str) -> None:
    RUNS.append(token)


def test_a_successful_task_leaves_no_count_behind():
    token = uuid.uuid4().hex
    assert sometimes_fails.apply(args=[token, False]).get() == token
    assert deliveries_so_far("tests.cases.sometimes_fails", [token, False]) == 0


def test_failures_add_up_and_the_delivery_after_the_limit_is_quarantined_not_run():
    token = uuid.uuid4().hex
    for attempt in range(1, max_deliveries() + 1):
        sometimes_fails.apply(args=[token, True])
        assert deliveries_so_far("tests.cases.sometimes_fails", [token, True]) == attempt
    assert RUNS.count(token) == max_deliveries()
    sometimes_fails.apply(args=[token, True])
    assert RUNS.count(token) == max_deliveries()  # quarantined: not run again
    quarantined = QuarantinedTask.objects.get(task_name="tests.cases.sometimes_fails")
    assert quarantined.args == [token, True] and quarantined.deliveries == max_deliveries()
    assert "照片解码失败" in quarantined.last_error
    sometimes_fails.apply(args=[token, True])
    assert QuarantinedTask.objects.count() == 1  # one record per piece of work


def test_a_released_task_runs_again():
    token = uuid.uuid4().hex
    for _ in range(max_deliveries() + 1):
        sometimes_fails.apply(args=[token, True])
    quarantined = QuarantinedTask.objects.get(task_name="tests.cases.sometimes_fails")
    quarantined_task_release(quarantined=quarantined, resend=False)
    quarantined.refresh_from_db()
    assert quarantined.released_at is not None
    assert deliveries_so_far("tests.cases.sometimes_fails", [token, True]) == 0
    sometimes_fails.apply(args=[token, True])
    assert RUNS.count(token) == max_deliveries() + 1


def test_other_arguments_are_other_work():
    token = uuid.uuid4().hex
    for _ in range(max_deliveries() + 1):
        sometimes_fails.apply(args=[token, True])
    assert sometimes_fails.apply(args=[token, False]).get() == token


def test_a_payload_free_beat_task_counts_each_message_on_its_own():
    """One bad minute must not quarantine every later sweep."""
    token = uuid.uuid4().hex
    for _ in range(max_deliveries() + 2):
        a_sweep.apply(args=[token])  # a new task id each time, like each beat send
    assert RUNS.count(token) == max_deliveries() + 2
    assert not QuarantinedTask.objects.exists()


DONE: set[str] = set()


@app.task(
    name="tests.cases.maybe_moot",
    done_already=staticmethod(lambda token, fail: token in DONE),
)
def maybe_moot(token: str, fail: bool) -> None:
    RUNS.append(token)
    if fail:
        raise RuntimeError("失败")


def test_a_delivery_whose_work_is_done_already_is_neither_counted_nor_run():
    """A backlog's route_case messages whose case a batch routed: one read, no count, no run."""
    token = uuid.uuid4().hex
    maybe_moot.apply(args=[token, True])
    assert deliveries_so_far("tests.cases.maybe_moot", [token, True]) == 1
    DONE.add(token)
    maybe_moot.apply(args=[token, True])
    assert RUNS.count(token) == 1
    assert deliveries_so_far("tests.cases.maybe_moot", [token, True]) == 1
