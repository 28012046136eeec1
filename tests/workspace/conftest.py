"""Fixtures of the workspace tests: API clients for a coordinator, another coordinator and a reader,
and a published study built through the services (tests/factories.small_study)."""

from __future__ import annotations

import pytest

from tests.factories import small_study


@pytest.fixture
def other_coordinator(make_user):
    return make_user("coord2")


@pytest.fixture
def published(coordinator, reader, other_reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader])
    return study, series, sessions
