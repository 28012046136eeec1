"""Every workspace page renders for the study's coordinator and is a 404 for a reader, another
coordinator and (login page aside) anyone logged out; the same for every workspace endpoint and
the unblinding key."""

from __future__ import annotations

import pytest
from django.test import Client

from readerstudy.studies import services
from readerstudy.workspace.selectors import STEPS

pytestmark = pytest.mark.django_db


def page_urls(study):
    urls = [f"/workspace/studies/{study.pk}/setup/{slug}/" for slug, _ in STEPS]
    return urls + [f"/workspace/studies/{study.pk}/{p}/" for p in ("preview", "dashboard", "close")] + [
        f"/workspace/studies/{study.pk}/preview/?layout=pair", f"/workspace/studies/{study.pk}/"]


def api_urls(study, read_id, session_id):
    """Every endpoint the workspace's pages call."""
    base = f"/api/studies/{study.pk}"
    gets = [f"{base}/checklist/", f"{base}/unblinding-key/", f"{base}/unblinding-key/?file=csv",
            f"{base}/answers/?file=csv", f"{base}/answers/?file=xlsx", f"{base}/answers/?file=parquet",
            f"{base}/reads/", f"{base}/recon-jobs/", f"{base}/sessions/"]
    posts = [f"{base}/status/", f"{base}/schedule/preview/", f"{base}/schedule/", f"{base}/login-links/",
             f"{base}/reads/{read_id}/reopen/", f"{base}/sessions/{session_id}/override/", f"{base}/recon-jobs/"]
    return gets, posts


@pytest.fixture
def locked(scheduled_study):
    study, sessions = scheduled_study.study, scheduled_study.sessions
    services.study_set_status(study=study, status="locked", reason="done")
    return study, sessions


def test_coordinator_sees_every_page(scheduled_study, coordinator):
    study = scheduled_study.study
    client = Client()
    client.force_login(coordinator)
    for url in page_urls(study):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
    draft = services.study_create(name="Fresh", created_by=coordinator)
    for url in page_urls(draft):
        assert client.get(url, follow=True).status_code == 200, url
    assert b"You do not coordinate" not in client.get("/workspace/").content


def test_setup_pages_show_empty_states(coordinator):
    study = services.study_create(name="Fresh", created_by=coordinator)
    client = Client()
    client.force_login(coordinator)
    assert b"No sequences yet" in client.get(f"/workspace/studies/{study.pk}/setup/design/").content
    assert b"No cases yet" in client.get(f"/workspace/studies/{study.pk}/setup/cases/").content
    assert b"No items yet" in client.get(f"/workspace/studies/{study.pk}/setup/questionnaire/").content
    page = client.get(f"/workspace/studies/{study.pk}/setup/publish/").content.decode()
    assert "Fix:</strong> no sequences" in page and f'href="/workspace/studies/{study.pk}/setup/design/"' in page


@pytest.mark.parametrize("who", ["reader", "other_coordinator", "anonymous"])
def test_nobody_else_reaches_pages_or_endpoints(locked, who, request, other_coordinator):
    study, sessions = locked
    services.study_create(name="Theirs", created_by=other_coordinator)
    client = Client()
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    for url in page_urls(study):
        response = client.get(url)
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
        else:
            assert response.status_code == 404, url
    read_id = sessions[0].reads.first().public_id
    gets, posts = api_urls(study, read_id, sessions[0].public_id)
    expected = {403} if who == "anonymous" else {404}
    for url in gets:
        assert client.get(url).status_code in expected | ({401} if who == "anonymous" else set()), url
    for url in posts:
        assert client.post(url, {}, content_type="application/json").status_code in expected | {401}, url
    assert not study.audit_events.filter(object_type="studies.unblinding_key").exists()


def test_item_form_offers_the_sequences_and_the_api_takes_them(coordinator, client_for):
    study = services.study_create(name="Two sequences", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.sequence_create(study=study, name="SAG T1")
    services.questionnaire_apply_template(study=study, template="seed000")
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/workspace/studies/{study.pk}/setup/questionnaire/").content.decode()
    assert 'name="sequences" value="SAG T1"' in page
    item = study.items.first()
    # What the page's script sends for one ticked sequence.
    response = client_for(coordinator).patch(f"/api/studies/{study.pk}/items/{item.pk}/", {"sequences": ["SAG T1"]}, format="json")
    assert response.status_code == 200, response.json()
    assert list(item.sequences.values_list("name", flat=True)) == ["SAG T1"]
    page = client.get(f"/workspace/studies/{study.pk}/setup/questionnaire/").content.decode()
    assert 'value="SAG T1" data-type="list" checked' in page


def test_import_from_a_server_folder_as_the_cases_page_sends_it(coordinator, client_for, settings, tmp_path,
                                                                 django_capture_on_commit_callbacks):
    from fixtures.make_fixture_dicom import make_fixture_dicom

    fixture = make_fixture_dicom(tmp_path / "incoming", cases=1, sequences=("SAG T1",), slices=2, size=16)
    settings.IMPORT_FOLDER_ROOTS = [str(tmp_path)]
    study = services.study_create(name="Folder", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T1")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    client = Client()
    client.force_login(coordinator)
    assert str(tmp_path) in client.get(f"/workspace/studies/{study.pk}/setup/cases/").content.decode()
    with open(fixture.mapping_csv, "rb") as mapping, django_capture_on_commit_callbacks(execute=True):
        response = client_for(coordinator).post(
            f"/api/studies/{study.pk}/imports/", {"folder": str(fixture.root), "mapping": mapping}, format="multipart")
    assert response.status_code == 202, response.json()
    job = client_for(coordinator).get(f"/api/studies/{study.pk}/imports/{response.json()['public_id']}/").json()
    assert job["state"] == "succeeded" and job["series_created"] == 2


def test_the_former_workspace_api_redirects_to_the_owning_endpoints(scheduled_study, coordinator, client_for):
    study = scheduled_study.study
    client = client_for(coordinator)
    response = client.get(f"/api/studies/{study.pk}/workspace/answers/?file=xlsx")
    assert response.status_code == 308 and response["Location"] == f"/api/studies/{study.pk}/answers/?file=xlsx"
    moved = client.post(f"/api/studies/{study.pk}/workspace/schedule-preview/", {"design": {"kind": "independent"}},
                        format="json", follow=True)
    assert moved.status_code == 200 and moved.json()["design"]["kind"] == "independent"
    assert client.get(f"/api/studies/{study.pk}/workspace/checklist/", follow=True).json()["status"] == "published"
    assert client.post(f"/api/studies/{study.pk}/workspace/publish/", {}, format="json").status_code == 404
