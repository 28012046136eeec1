"""``/workspace/``: the coordinator's pages (include with namespace "workspace")."""

from django.urls import path

from . import views

app_name = "workspace"

urlpatterns = [
    path("", views.index, name="index"),
    path("studies/<int:pk>/", views.study_home, name="study"),
    path("studies/<int:pk>/setup/<slug:step>/", views.setup, name="setup"),
    path("studies/<int:pk>/preview/", views.questionnaire_preview, name="preview"),
    path("studies/<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("studies/<int:pk>/close/", views.close, name="close"),
    path("login/<str:uidb64>/<str:token>/", views.login_link, name="login-link"),
]
