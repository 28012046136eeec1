"""Error pages: friendly for people, JSON for the API, never Django's debug page; a saturated
database is a 503 with Retry-After, not a 500."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_no_raise():
    return Client(raise_request_exception=False)


def test_missing_page_is_the_friendly_404(client_no_raise, reader):
    client_no_raise.force_login(reader)
    response = client_no_raise.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not found" in body and "URLconf" not in body and "readerstudy.urls" not in body


def test_api_404_is_json(client_no_raise):
    response = client_no_raise.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "message",
    [
        "connection failed: FATAL:  sorry, too many clients already",
        "couldn't get a connection after 10.00 sec",
        "database is locked",
    ],
)
def test_saturated_database_is_503_with_retry_after(client_no_raise, reader, monkeypatch, message):
    client_no_raise.force_login(reader)

    def saturated(self):
        raise OperationalError(message)

    # The session is read lazily when the view first looks at the user: the failure happens
    # inside the request, before any of our code runs.
    monkeypatch.setattr(SessionStore, "load", saturated)
    page = client_no_raise.get("/reading/")
    assert page.status_code == 503
    assert int(page["Retry-After"]) > 0
    assert "Busy, please retry" in page.content.decode()
    api = client_no_raise.get("/api/reader/sessions/")
    assert api.status_code == 503 and int(api["Retry-After"]) > 0
    assert "retry" in api.json()["detail"].lower()


def test_other_database_errors_stay_500_with_the_friendly_page(client_no_raise, reader, monkeypatch):
    client_no_raise.force_login(reader)

    def broken(self):
        raise OperationalError("no such table: django_session")

    monkeypatch.setattr(SessionStore, "load", broken)
    response = client_no_raise.get("/reading/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert "Traceback" not in response.content.decode()
