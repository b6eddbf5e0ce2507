"""The step buttons on a case's page.

The page offers the steps of ``apps.cases.steps`` that have a place on the desk (``Step.desk``),
each with a form built from its inputs (``apps.desk.forms.step_form``), and takes them through
the workflow service (``Step.take``).
"""

from __future__ import annotations

from apps.cases import steps
from apps.cases.models import Case
from apps.desk import forms as admin_forms


def _desk_step(action: str) -> steps.Step | None:
    step = steps.step(action)
    return step if step is not None and step.desk is not None else None


def _take_step(step: steps.Step, case: Case, user, form: admin_forms.StepForm) -> str:
    """Run one step through the workflow service; returns what to tell the user."""
    values = form.service_kwargs()
    step.take(case, user, values)
    return step.done_message(values)
