"""Fixtures shared by every area. Areas add their own in tests/<area>/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from readerstudy.celery import app as celery_app


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test gets its own MEDIA_ROOT, so 'media unchanged' checks see only its own files."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's million rounds cost about a second per user on a shared 2-core machine; tests
    # create many users and never test a password's strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run inline unless a test starts a real worker (marker ``worker``)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def make_user(db):
    def _make(username: str, password: str = "correct-horse-battery", **extra):
        return get_user_model().objects.create_user(username=username, password=password, **extra)

    return _make


@pytest.fixture
def coordinator(make_user):
    from readerstudy.studies.permissions import coordinator_grant

    user = make_user("coord")
    coordinator_grant(user=user)  # may create studies (the coordinator permission)
    return user


@pytest.fixture
def reader(make_user):
    return make_user("reader1")


@pytest.fixture
def other_reader(make_user):
    return make_user("reader2")


@pytest.fixture
def client_for():
    """client_for(user): an API client logged in as ``user`` (session auth, like the browser)."""
    from rest_framework.test import APIClient

    def _client(user):
        client = APIClient()
        client.force_login(user)
        return client

    return _client


# --- combined fixtures (built through the services: tests/factories.py) --------------------------


@dataclass
class StudyWorld:
    """A published study, its coordinator and readers, its series (case x arm order) and each
    reader's session (in the order of ``readers``)."""

    study: object
    series: list
    sessions: list
    coordinator: object
    readers: list


@pytest.fixture
def scheduled_study(coordinator, reader, other_reader) -> StudyWorld:
    """A published study with two readers and the scheduler's schedule: 2 cases x 1 sequence x
    2 arms, the seed 000 questionnaire, a reference standard, one open session per reader."""
    from tests.factories import small_study

    study, series, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader])
    return StudyWorld(study, series, sessions, coordinator, [reader, other_reader])


@pytest.fixture
def answered_study(scheduled_study) -> StudyWorld:
    """``scheduled_study`` after the first reader answered and submitted their whole session
    through the answer service (the second reader has not started)."""
    from tests.factories import reads_submit_all

    reads_submit_all(scheduled_study.sessions[0], scheduled_study.readers[0])
    scheduled_study.sessions[0].refresh_from_db()
    return scheduled_study
