from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
]
