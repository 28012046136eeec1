"""A real Celery worker process, on whichever broker and database the environment names
(filesystem + SQLite by default; Redis + PostgreSQL in the second CI run), runs an import job
submitted through the API."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from fixtures.make_fixture_dicom import make_fixture_dicom
from readerstudy.studies import services
from readerstudy.studies.models import ImportJob, Instance, Series
from tests.workers import Workers

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, settings):
    """``celery worker`` on a private queue (and broker folder) for this test; none is left behind."""
    workers = Workers(tmp_path, settings)
    proc, log = workers.start()
    yield {"process": proc, "log": log}
    left = workers.stop_all()
    assert not left, f"worker processes outlived SIGTERM: {left}"


def test_import_job_runs_on_a_real_worker(tmp_path, worker, coordinator):
    study = services.study_create(name="Worker study", created_by=coordinator)
    for name in ("SAG T2 FS", "SAG T1"):
        services.sequence_create(study=study, name=name)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    fixture = make_fixture_dicom(tmp_path / "src", cases=1, slices=4, size=32)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(fixture.root.rglob("*.dcm")):
            zf.write(path, path.relative_to(fixture.root).as_posix())

    client = APIClient()
    client.force_authenticate(coordinator)
    with archive.open("rb") as fh, fixture.mapping_csv.open("rb") as mapping:
        response = client.post(f"/api/studies/{study.pk}/imports/", {"archive": fh, "mapping": mapping}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["public_id"]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(public_id=job_id)
        if job.state in ("succeeded", "failed"):
            break
        assert worker["process"].poll() is None, worker["log"].read_text()
        time.sleep(0.5)
    log = worker["log"].read_text() if worker["log"].exists() else ""
    assert job.state == "succeeded", (job.state, job.error, job.errors, log[-3000:])
    assert job.series_created == 4
    assert Series.objects.filter(case__study=study).count() == 4
    for instance in Instance.objects.filter(series__case__study=study):
        assert (Path(settings.MEDIA_ROOT) / instance.path).is_file()
    assert "studies.import_job" in log and "succeeded" in log
    # The job's response and status never carried anything but its opaque id and progress.
    status = client.get(f"/api/studies/{study.pk}/imports/{job_id}/").json()
    assert status["state"] == "succeeded" and status["progress"] == 100
