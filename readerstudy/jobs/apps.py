from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "readerstudy.jobs"
    label = "jobs"
    verbose_name = "Worker jobs"

    def ready(self) -> None:
        from . import worker  # noqa: F401  (connects the worker signals)
