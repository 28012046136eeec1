from django.urls import path

from . import serving, views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
    path("wado/instances/<str:public_id>", serving.instance_file, name="instance-file"),
]
