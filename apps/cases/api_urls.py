"""The case API, mounted at /api/ (see config/urls.py)."""

from django.urls import path

from apps.accounts.views import TokenObtainView
from apps.cases import api

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("me/", api.MeView.as_view(), name="api-me"),
    path("categories/", api.CategoryTreeView.as_view(), name="api-categories"),
    path("reports/", api.ReportCreateView.as_view(), name="api-report-create"),
    path(
        "reports/<uuid:client_uuid>/photos/", api.ReportPhotoView.as_view(), name="api-report-photo"
    ),
    path("cases/mine/", api.MyCasesView.as_view(), name="api-cases-mine"),
    path("tasks/", api.MyTasksView.as_view(), name="api-tasks"),
    path("cases/<int:pk>/", api.CaseDetailView.as_view(), name="api-case-detail"),
    path(
        "cases/<int:pk>/actions/<slug:action>/",
        api.CaseActionView.as_view(),
        name="api-case-action",
    ),
    path("photos/<int:pk>/<slug:size>/", api.PhotoFileView.as_view(), name="api-photo"),
]
