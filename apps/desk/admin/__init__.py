"""The command desk's case screens and the case configuration, in the Django admin.

Rules every screen here follows:

- **Scope.** Every queryset starts from ``cases_visible_to(user)`` (cases, history, photos,
  extension requests); pickers and filters offer only what the user's desk covers. An id
  outside the scope reads exactly like an id that does not exist.
- **No editing of cases or history.** Case fields are read-only; a case changes only through
  the action buttons on its page (and the bulk actions), each of which calls the workflow
  service (``apps.cases.services``), which checks ``rules.allowed_actions`` and says why not.
  Buttons are offered only for what ``allowed_actions`` allows; a POST needs the
  ``cases.change_case`` permission (leaders only read).
- **100,000 cases.** The list joins what it shows (``list_select_related``), prefetches one
  page of photos, never counts the unfiltered table, and filters by indexed columns.

The screens live in their own modules, each registering its admin classes on import
(``django.contrib.admin`` autodiscovers this package): ``cases`` (the case list) with
``case_page`` (a case's page and its step buttons), ``history`` (history, photos, extension
requests) and ``configuration`` (categories, routing, time limits, work calendar) and ``places`` (the places
register: kinds, places with their cases and history, the import page).
"""

from apps.desk.admin import cases, configuration, history, places  # noqa: F401 - they register
from apps.desk.admin.base import photo_src

__all__ = ["photo_src"]
