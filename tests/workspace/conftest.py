"""Fixtures of the workspace tests; the study fixtures are the suite-wide combined ones
(``scheduled_study``, ``answered_study`` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def other_coordinator(make_user):
    return make_user("coord2")
