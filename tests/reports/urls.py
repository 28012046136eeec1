"""The project's URLs plus the reports' (until readerstudy/urls.py and api_urls.py include them)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from readerstudy.reports import apis as reports_apis
from readerstudy.urls import urlpatterns as project_urls

router = DefaultRouter()
router.register(r"studies/(?P<study_pk>\d+)/reports", reports_apis.ReportViewSet, basename="study-report")

urlpatterns = [
    path("reports/", include("readerstudy.reports.urls")),
    path("api/", include(router.urls)),
    *project_urls,
]
