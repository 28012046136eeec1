"""Generating cases from the phantom as the workspace's cases step does, through the recon API
(the recon worker runs inline)."""

from __future__ import annotations

import pytest

from readerstudy.studies import services
from readerstudy.studies.models import ReferenceStandard, Series

pytestmark = pytest.mark.django_db


def test_recon_job_from_the_workspace_creates_series_and_reports_progress(coordinator, client_for, django_capture_on_commit_callbacks):
    study = services.study_create(name="Phantom", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T1")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    client = client_for(coordinator)
    url = f"/api/studies/{study.pk}/recon-jobs/"
    bad = client.post(url, {"cases": 1, "seed": 1, "arms": ["Fast-DL99"]}, format="json")
    assert bad.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):  # the worker's task runs inline (eager)
        response = client.post(url, {"cases": 1, "seed": 2, "recon_matrix": 64, "slices": 2,
                                     "arms": ["Standard", "Fast"]}, format="json")
    assert response.status_code == 201, response.json()
    job = client.get(f"{url}{response.json()['public_id']}/").json()
    assert job["state"] == "succeeded" and job["progress"] == 100
    assert Series.objects.filter(case__study=study).count() == 2
    assert ReferenceStandard.objects.filter(case__study=study, source="phantom").exists()
    assert [j["public_id"] for j in client.get(url).json()["results"]] == [job["public_id"]]
