"""API for the field app's "show the citizen" card, mounted at /api/citizen-link/."""

from django.urls import path

from apps.public import api

urlpatterns = [
    path("<int:pk>/", api.CitizenLinkView.as_view(), name="api-citizen-link"),
    path("<int:pk>/qr.svg", api.CitizenQrView.as_view(), name="api-citizen-qr"),
]
