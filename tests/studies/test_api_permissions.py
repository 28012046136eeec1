"""Every URL of the API, tried as each role: anonymous, a reader of the study, a coordinator of
another study, and the study's own coordinator."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from readerstudy import api_urls
from readerstudy.reading.models import Read
from readerstudy.studies.models import Invitation, Membership
from readerstudy.studies import invitations, services
from tests.factories import small_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(coordinator, reader, other_reader, make_user):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader, other_reader])
    stranger = make_user("coord-other")
    services.study_create(name="Other study", created_by=stranger)
    _, invitation_token = invitations.invitation_issue(study=study, username="invited-person", actor=coordinator)
    return {
        "invitation_token": invitation_token,
        "study": study,
        "series": series,
        "sessions": sessions,
        "coordinator": coordinator,
        "reader": reader,
        "other_reader": other_reader,
        "stranger": stranger,
    }


def _kwargs_for(name: str, groups: set[str], world) -> dict:
    study = world["study"]
    objects = {
        "study": study,
        "study-sequence": study.sequences.first(),
        "study-arm": study.arms.first(),
        "study-case": study.cases.first(),
        "study-item": study.items.first(),
        "study-member": Membership.objects.filter(study=study, role="reader").first(),
        "study-invitation": Invitation.objects.filter(study=study).first(),
    }
    kwargs = {}
    if "study_pk" in groups:
        kwargs["study_pk"] = study.pk
    if "pk" in groups:
        basename = re.sub(r"-(detail|status|overview|withdraw)$", "", name)
        kwargs["pk"] = objects[basename].pk
    if "fmt" in groups:
        kwargs["fmt"] = "pdf"
    unknown = groups - {"study_pk", "pk", "public_id", "fmt"}
    assert not unknown, f"{name}: fill the URL parameters {unknown} in this test"
    if "public_id" in groups:
        if name.startswith("study-series"):
            kwargs["public_id"] = world["series"][0].public_id
        elif name.startswith(("study-import", "study-report", "study-recon-job")):
            kwargs["public_id"] = "nonexistent"
        elif name.startswith(("reader-session", "study-session")):
            kwargs["public_id"] = world["sessions"][0].public_id
        elif name.startswith(("reader-read", "study-read-")):
            kwargs["public_id"] = Read.objects.filter(session=world["sessions"][0]).first().public_id
    return kwargs


def api_urls_to_try(world) -> list[tuple[str, str]]:
    urls = []
    for pattern in api_urls.router.urls:
        groups = set(pattern.pattern.regex.groupindex)
        if "format" in groups or pattern.name in {"api-root"}:
            continue
        kwargs = _kwargs_for(pattern.name, groups, world)
        path = "/api/" + pattern.pattern.regex.pattern.lstrip("^").rstrip("$")
        for key, value in kwargs.items():
            path = re.sub(rf"\(\?P<{key}>[^)]*\)", str(value), path)
        urls.append((pattern.name, path))
    return urls


COORDINATOR_ONLY = ("study",)  # basenames starting with these are coordinator endpoints
READER_ONLY = ("reader-",)


def test_every_coordinator_endpoint_refuses_readers_strangers_and_anonymous(world):
    urls = api_urls_to_try(world)
    assert len(urls) > 20, urls
    clients = {}
    for role in ("reader", "other_reader", "stranger", "coordinator"):
        client = APIClient()
        client.force_authenticate(world[role])
        clients[role] = client
    anonymous = APIClient()
    checked = 0
    for name, path in urls:
        if not name.startswith(COORDINATOR_ONLY):
            continue
        for method in ("get", "post", "patch", "delete"):
            response = getattr(anonymous, method)(path, {}, format="json")
            assert response.status_code in (401, 403, 405), (method, path, response.status_code)
            for role in ("reader", "other_reader", "stranger"):
                response = getattr(clients[role], method)(path, {}, format="json")
                if name in ("study-list",) and method in ("get", "post"):
                    # Listing shows only one's own studies; creating a study needs the
                    # coordinator permission, which none of these has (the stranger coordinates
                    # a study it was given, but may not create more).
                    if method == "get":
                        ids = [s["id"] for s in response.json()["results"]]
                        assert world["study"].pk not in ids
                    else:
                        assert response.status_code == 403, (role, response.content[:200])
                    continue
                assert response.status_code in (404, 405), (role, method, path, response.status_code, response.content[:200])
                checked += 1
        response = clients["coordinator"].get(path)
        assert response.status_code in (200, 404, 405), (path, response.status_code)
        if "nonexistent" not in path:
            assert response.status_code in (200, 405), (path, response.status_code)
    assert checked > 100


def test_reader_endpoints_show_only_own_reads_and_never_the_arm(world):
    reader_client = APIClient()
    reader_client.force_authenticate(world["reader"])
    other = APIClient()
    other.force_authenticate(world["other_reader"])
    coordinator = APIClient()
    coordinator.force_authenticate(world["coordinator"])

    sessions = reader_client.get("/api/reader/sessions/").json()["results"]
    assert [s["public_id"] for s in sessions] == [world["sessions"][0].public_id]
    assert sessions[0]["state"] == "open"

    read = Read.objects.filter(session=world["sessions"][0]).first()
    response = reader_client.get(f"/api/reader/reads/{read.public_id}/")
    assert response.status_code == 200
    body = response.content.decode()
    # The sequence name is shown on the image overlay (the same for every arm of the case).
    assert response.json()["sequence"] == read.series.sequence.name
    for word in ("Standard", "Fast", "C001", "C002", read.series.series_instance_uid, "arm"):
        assert word not in body, word
    assert all(url.startswith("/wado/instances/") for url in response.json()["instances"])

    # Another reader, and a coordinator, get 404 for this reader's read and session.
    for client in (other, coordinator):
        assert client.get(f"/api/reader/reads/{read.public_id}/").status_code == 404
        assert client.get(f"/api/reader/sessions/{world['sessions'][0].public_id}/").status_code == 404


def test_reader_cannot_open_a_read_of_a_session_not_yet_open(coordinator, reader):
    study, series, sessions = small_study(coordinator=coordinator, readers=[reader], open_session=False)
    client = APIClient()
    client.force_authenticate(reader)
    assert client.get("/api/reader/sessions/").json()["results"][0]["state"] == "locked"
    read = Read.objects.filter(session=sessions[0]).first()
    assert client.get(f"/api/reader/reads/{read.public_id}/").status_code == 404


def test_token_authentication_and_schema(world):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "coord", "password": "correct-horse-battery"}, format="json")
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get(f"/api/studies/{world['study'].pk}/").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/studies/{study_pk}/imports/" in schema.content


def test_deleting_a_case_that_has_series_is_a_clear_conflict(coordinator):
    study, series, _ = small_study(coordinator=coordinator, publish=False)
    client = APIClient()
    client.force_authenticate(coordinator)
    case = study.cases.get(label="C001")
    response = client.delete(f"/api/studies/{study.pk}/cases/{case.pk}/")
    assert response.status_code == 409
    assert "series" in response.json()["detail"] and "still refer to it" in response.json()["detail"]
    assert study.cases.filter(pk=case.pk).exists()
    # A duplicate name is a validation error naming the field, not a server error.
    response = client.post(f"/api/studies/{study.pk}/sequences/", {"name": "SAG T2 FS"}, format="json")
    assert response.status_code == 400, response.content


def test_api_docs_page_loads_its_assets_from_this_server(coordinator):
    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn." not in page and "jsdelivr" not in page


def test_folder_import_refuses_folders_outside_the_allowed_roots(coordinator, settings, tmp_path):
    from readerstudy.studies import services as study_services
    from readerstudy.studies.models import ImportJob

    allowed = tmp_path / "incoming"
    allowed.mkdir()
    settings.IMPORT_FOLDER_ROOTS = [str(allowed)]
    study = study_services.study_create(name="Folder", created_by=coordinator)
    client = APIClient()
    client.force_authenticate(coordinator)
    rules = {"case": {"field": "PatientID", "pseudonymize": "C{:03d}"},
             "sequence": {"field": "SeriesDescription", "regex": [["(?i)sag t1", "SAG T1"]]},
             "arm": {"field": "ProtocolName", "regex": [["(?i)fast", "Fast"]]}}
    for folder in ("/etc", str(allowed / ".." / "elsewhere"), str(tmp_path)):
        response = client.post(f"/api/studies/{study.pk}/imports/", {"folder": folder, "rules": rules}, format="json")
        assert response.status_code == 400, (folder, response.content)
        assert "outside the import folders" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_withdrawn_reader_loses_the_api_and_the_images_at_once(world, client):
    """One rule for the reader API and /wado/: withdrawal ends both in the same moment."""
    from django.test import Client

    reader = world["reader"]
    read = Read.objects.filter(session=world["sessions"][0]).order_by("position").first()
    browser = Client()
    browser.force_login(reader)
    urls = browser.get(f"/api/reader/reads/{read.public_id}/").json()["instances"]
    plain = urls[0].split("?")[0]
    api = APIClient()
    api.force_authenticate(reader)
    # (the factory's instances have no files: a granted GET is a 404 only for the missing file,
    # so the check is on the permission decision itself)
    from readerstudy.reading.serving import _credential_from, _instance_by_token, instance_for

    session_key = browser.cookies["sessionid"].value
    token = urls[0].split("?a=")[1]
    public_id = plain.rsplit("/", 1)[1]
    assert _instance_by_token(_credential_from("", session_key), public_id, token) is not None
    assert instance_for(reader, public_id) is not None
    membership = Membership.objects.get(study=world["study"], user=reader, role="reader")
    services.membership_withdraw(membership=membership, reason="left the study")
    assert api.get(f"/api/reader/reads/{read.public_id}/").status_code == 404
    assert api.get("/api/reader/sessions/").json()["results"] == []
    assert _instance_by_token(_credential_from("", session_key), public_id, token) is None
    assert instance_for(reader, public_id) is None
    for url in (urls[0], plain):
        assert browser.get(url).status_code == 404
    # The other reader of the study still reads.
    other = APIClient()
    other.force_authenticate(world["other_reader"])
    assert other.get("/api/reader/sessions/").json()["results"]


def test_inviting_is_for_the_study_coordinator_and_the_link_only_for_the_invited_username(world):
    """The invitation endpoints in the matrix above are coordinator-only (404 for everyone else);
    here the link's page, for each role: it never makes anyone but the invited username a reader."""
    from django.test import Client

    study = world["study"]
    path = f"/invitations/{world['invitation_token']}/"
    for role in ("reader", "other_reader", "stranger", "coordinator"):
        client = Client()
        client.force_login(world[role])
        assert client.get(path).status_code == 403, role  # signed in as someone else
        assert client.post(path).status_code == 403, role
    assert not Membership.objects.filter(study=study, user__username="invited-person").exists()
    assert Client().get(path).status_code == 200  # anonymous: sign in as the username, or a new account
    assert Client().get("/invitations/x/").status_code == 404
    # The API replies of the coordinator endpoints: listing shows the state, never a user id.
    client = APIClient()
    client.force_authenticate(world["coordinator"])
    listed = client.get(f"/api/studies/{study.pk}/invitations/").json()["results"]
    assert [(i["username"], i["state"]) for i in listed] == [("invited-person", "invited")]
    assert set(listed[0]) == {"id", "username", "email", "state", "created_at", "expires_at", "accepted_at"}
