from django.urls import path

from . import views

urlpatterns = [
    path("", views.worklist, name="reading-worklist"),
    path("sessions/<str:public_id>/", views.session_continue, name="reading-session"),
    path("reads/<str:public_id>/", views.read_page, name="reading-read"),
    path("studies/<int:study_pk>/progress/", views.study_progress, name="reading-study-progress"),
    path("studies/<int:study_pk>/answers.csv", views.answers_export, name="reading-answers-export"),
]
