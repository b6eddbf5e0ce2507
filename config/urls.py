from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.views import DeskPasswordChangeView
from apps.org.views import home

SWAGGER_CDN = "https://cdn.jsdelivr.net"

# Chinese error pages that say what to do (apps/org/error_views.py).
handler400 = "apps.org.error_views.bad_request"
handler403 = "apps.org.error_views.permission_denied"
handler404 = "apps.org.error_views.page_not_found"
handler500 = "apps.org.error_views.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The desk's password page (first-login change included), also behind the admin's own link.
    path("accounts/password/", DeskPasswordChangeView.as_view(), name="password_change"),
    path("admin/password_change/", DeskPasswordChangeView.as_view()),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so no inline script needs a nonce;
    # Swagger UI itself comes from its CDN, allowed on this page only.
    path(
        "api/docs/",
        csp_update({"script-src": SWAGGER_CDN, "style-src": SWAGGER_CDN, "img-src": SWAGGER_CDN})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("api/org/", include("apps.org.api_urls")),
    path("api/citizen-link/", include("apps.public.api_urls")),
    path("api/places/", include("apps.places.api_urls")),
    path("api/", include("apps.cases.api_urls")),
    path("api/notifications/", include("apps.notify.api_urls")),
    path("field/", include("apps.field.urls")),
    path("track/", include("apps.public.urls")),
    path("open311/v2/", include("apps.public.open311_urls")),
    path("evaluation/", include("apps.evaluation.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
