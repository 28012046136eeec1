from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "readerstudy.ops"
    label = "ops"
    verbose_name = "Operations"
