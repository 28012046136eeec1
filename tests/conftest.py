"""Fixtures shared by every area. Areas add their own in tests/<area>/conftest.py."""

from __future__ import annotations

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
