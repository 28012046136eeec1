"""Reader studies of accelerated MRI: the Django project and the study domain."""

from .celery import app as celery_app

__all__ = ("celery_app",)
__version__ = "0.1.0"
