from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("readerstudy.api_urls")),
    path("reading/", include("readerstudy.reading.urls")),
    path("workspace/", include("readerstudy.workspace.urls")),
    path("reports/", include("readerstudy.reports.urls")),
    path("", include("readerstudy.studies.urls")),
]

handler400 = "readerstudy.errors.bad_request"
handler403 = "readerstudy.errors.permission_denied"
handler404 = "readerstudy.errors.page_not_found"
handler500 = "readerstudy.errors.server_error"
