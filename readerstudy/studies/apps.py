from pathlib import Path

from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "readerstudy.studies"
    label = "studies"
    verbose_name = "Study design"

    def ready(self) -> None:
        from django.conf import settings

        from readerstudy.celery import ensure_broker_folders

        from . import audit

        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        ensure_broker_folders()
        audit.connect_signals()
