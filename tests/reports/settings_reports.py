"""The project settings with the reports app installed (until readerstudy/settings.py lists it)."""

from readerstudy.settings import *  # noqa: F401,F403
from readerstudy.settings import INSTALLED_APPS

if "readerstudy.reports" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "readerstudy.reports"]
ROOT_URLCONF = "tests.reports.urls"
