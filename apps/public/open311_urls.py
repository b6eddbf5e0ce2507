"""Open311 GeoReport v2, mounted at /open311/v2/ (see apps/public/open311.py)."""

from django.urls import re_path

from apps.public import open311

app_name = "open311"

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    re_path(r"^discovery" + FMT, open311.discovery, name="discovery"),
    re_path(r"^services" + FMT, open311.service_list, name="services"),
    re_path(r"^services/(?P<code>[-\w]{1,40})" + FMT, open311.service_definition, name="service"),
    re_path(r"^requests" + FMT, open311.requests_view, name="requests"),
    # Tracking numbers may end in a check symbol outside [0-9A-Z]: * ~ $ = (Crockford).
    re_path(
        r"^requests/(?P<request_id>[-\w *~$=]{1,40})" + FMT, open311.request_detail, name="request"
    ),
]
