"""Roles and hardening: the coordinator permission, the workspace for coordinators only, login and
token lockout and throttling, password reset only with mail, CSP, the API schema behind login."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from readerstudy.studies import services
from readerstudy.studies.models import Study
from readerstudy.studies.permissions import can_create_studies

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def test_creating_a_study_needs_the_coordinator_permission(make_user, reader):
    api = APIClient()
    api.force_authenticate(reader)
    response = api.post("/api/studies/", {"name": "Mine"}, format="json")
    assert response.status_code == 403 and "coordinator permission" in response.json()["detail"]
    assert not Study.objects.exists()

    colleague = make_user("colleague")
    call_command("grant_coordinator", "colleague")
    colleague.refresh_from_db()
    assert can_create_studies(colleague)
    api.force_authenticate(colleague)
    assert api.post("/api/studies/", {"name": "Theirs"}, format="json").status_code == 201
    call_command("grant_coordinator", "colleague", "--revoke")
    colleague = type(colleague).objects.get(pk=colleague.pk)  # fresh permission cache
    api.force_authenticate(colleague)
    assert api.post("/api/studies/", {"name": "Another"}, format="json").status_code == 403
    # What they already coordinate stays theirs.
    assert api.get(f"/api/studies/{Study.objects.get(name='Theirs').pk}/").status_code == 200


def test_readers_cannot_reach_the_workspace(coordinator, reader):
    study = services.study_create(name="S", created_by=coordinator)
    client = Client()
    client.force_login(reader)
    response = client.get("/workspace/")
    assert response.status_code == 403 and "Not allowed" in response.content.decode()
    assert client.get(f"/workspace/studies/{study.pk}/").status_code == 404
    assert client.get("/workspace/studies/999999/").status_code == 404
    client.force_login(coordinator)
    assert client.get("/workspace/").status_code == 200


def _login_form(client, username, password):
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    return client.post("/accounts/login/", {"username": username, "password": password,
                                            "csrfmiddlewaretoken": token}, REMOTE_ADDR="10.0.0.7")


def test_login_form_locks_out_after_repeated_wrong_passwords(make_user, settings):
    make_user("reader9", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login_form(client, "reader9", "wrong").status_code == 200  # the form again, with its error
    locked = _login_form(client, "reader9", "wrong")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    # Now even the right password is refused, from this address...
    assert _login_form(client, "reader9", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but not from another one (a stranger cannot lock a reader out everywhere).
    other = Client()
    page = other.get("/accounts/login/")
    ok = other.post("/accounts/login/", {"username": "reader9", "password": PASSWORD,
                                         "csrfmiddlewaretoken": page.cookies["csrftoken"].value}, REMOTE_ADDR="10.0.0.8")
    assert ok.status_code == 302


def test_token_endpoint_locks_out_and_is_throttled(make_user, settings):
    make_user("api-user", password=PASSWORD)
    api = APIClient(REMOTE_ADDR="10.0.0.9")
    statuses = [api.post("/api/auth/token/", {"username": "api-user", "password": "wrong"}, format="json").status_code
                for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses == [400] * settings.AXES_FAILURE_LIMIT
    # Locked out: the right password gets no token.
    right = api.post("/api/auth/token/", {"username": "api-user", "password": PASSWORD}, format="json")
    assert right.status_code in (400, 403, 429) and "token" not in right.json()
    api.credentials()
    assert APIClient(REMOTE_ADDR="10.0.0.11").post(
        "/api/auth/token/", {"username": "api-user", "password": PASSWORD}, format="json").status_code == 200
    # The throttle: at most 10 requests a minute from one address, whatever they carry.
    other = APIClient(REMOTE_ADDR="10.0.0.10")
    codes = [other.post("/api/auth/token/", {"username": f"nobody{i}", "password": "x"}, format="json").status_code
             for i in range(11)]
    assert codes[:10] == [400] * 10 and codes[10] == 429


def test_password_reset_is_hidden_without_mail():
    assert Client().get("/accounts/password_reset/").status_code == 404


def test_pages_carry_a_content_security_policy(coordinator):
    client = Client()
    client.force_login(coordinator)
    for url in ("/accounts/login/", "/", "/workspace/", "/api/docs/"):
        response = client.get(url)
        policy = response.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy and "object-src 'none'" in policy, url
        assert "'unsafe-eval'" not in policy and "script-src 'self' 'wasm-unsafe-eval'" in policy, url
    docs = client.get("/api/docs/").content.decode()
    assert "<script>" not in docs.replace(" ", "")  # Swagger UI's start-up script is a file (CSP)


def test_api_schema_and_docs_need_a_login():
    anonymous = APIClient()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    assert anonymous.get("/api/docs/").status_code in (401, 403)
