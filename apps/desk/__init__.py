"""The command desk (指挥台): the Django admin as the dispatchers' and leaders' working screen.

This room holds the admin site (``site.py``: the branded site whose index is the dashboard,
``apps.py``: the config that makes it the default site), the admin classes of the workflow's
models (``admin/``: the case list and case page, history, photos, extension requests, and the
case configuration — categories, routing, time limits, work calendar), the forms behind the
case page's buttons (``forms.py``), the step buttons' dispatch (``actions.py``), the list filters
(``filters.py``), CSV/Excel export (``export.py``), the dashboard's numbers (``dashboard.py``),
its templates, static files and template tags.

The desk only reads through ``apps.cases.selectors`` and changes cases only through the
workflow service (``apps.cases.services``); it adds no rules of its own. Other apps' admin
classes (org, accounts, notify, public) stay in their own apps and land on this site.
"""
