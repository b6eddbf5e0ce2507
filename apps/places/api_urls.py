"""The places API, mounted at /api/places/ (see config/urls.py)."""

from django.urls import path

from apps.places import api

urlpatterns = [
    path("", api.PlaceListView.as_view(), name="api-places"),
    path("near/", api.PlaceNearView.as_view(), name="api-places-near"),
    path("kinds/", api.PlaceKindsView.as_view(), name="api-place-kinds"),
    path("import/", api.PlaceImportView.as_view(), name="api-places-import"),
    path("<int:pk>/", api.PlaceDetailView.as_view(), name="api-place-detail"),
    path("<int:pk>/actions/<slug:action>/", api.PlaceActionView.as_view(), name="api-place-action"),
]
