"""``/reports/`` (include with namespace "reports")."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("studies/<int:study_pk>/", views.report_page, name="page"),
    path("studies/<int:study_pk>/generate/", views.report_generate, name="generate"),
    path("studies/<int:study_pk>/<str:public_id>/<str:fmt>/", views.report_download, name="download"),
]
