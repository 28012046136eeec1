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
