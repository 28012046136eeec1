"""The three real-data recon kinds on a real Celery worker process, started through the API
(the worker fixture of tests/test_worker.py: filesystem broker + SQLite by default)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from readerstudy.studies.models import Series
from readerstudy.studies.services import arm_create, sequence_create, study_create
from recon.models import ReconJob
from tests.test_worker import worker  # noqa: F401 - the fixture

from .test_real_jobs import ARMS, _import

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(job_id: str, worker_info, timeout_s: float = 300) -> ReconJob:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = ReconJob.objects.get(public_id=job_id)
        if job.state in ("succeeded", "failed"):
            return job
        assert worker_info["process"].poll() is None, worker_info["log"].read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job.state} at {job.progress}%: {job.message}")


def test_standard_fast_and_kspace_jobs_on_a_real_worker(tmp_path, worker, coordinator):  # noqa: F811
    from .test_rawdata import _kspace, _object, _write_ismrmrd

    study = study_create(name="Worker recon", created_by=coordinator)
    sequence_create(study=study, name="SAG T2 FS")
    arm_create(study=study, name="Standard", is_reference=True)
    for a in ARMS:
        arm_create(study=study, name=a)
    standard = _import(study, coordinator, tmp_path, name="siemens", case="C001", arm="Standard", noise_sd=20.0)
    fast = _import(study, coordinator, tmp_path, name="siemens", case="C002", arm="Fast", noise_sd=28.0, seed=1)
    raw = Path(settings.MEDIA_ROOT) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    obj = _object()
    _write_ismrmrd(raw / "p3.h5", [_kspace(obj, 0.5, rng), _kspace(obj, 0.5, rng)])

    client = APIClient()
    client.force_authenticate(coordinator)
    url = f"/api/studies/{study.pk}/recon-jobs/"
    bodies = [
        {"kind": "standard", "series": [standard.public_id]},
        {"kind": "fast", "series": [fast.public_id]},
        {"kind": "kspace", "raw_files": [{"path": "p3.h5", "case": "C003", "sequence": "SAG T2 FS"}]},
    ]
    ids = []
    for body in bodies:
        r = client.post(url, body, format="json")
        assert r.status_code == 201, r.content
        ids.append(r.json()["public_id"])
    for job_id in ids:
        job = _wait(job_id, worker)
        assert job.state == "succeeded", (job.kind, job.error, worker["log"].read_text()[-3000:])
        assert job.progress == 100
    made = Series.objects.filter(case__study=study, source="recon")
    assert sorted(made.filter(case__label="C001").values_list("arm__name", flat=True)) == sorted(ARMS)
    assert sorted(made.filter(case__label="C002").values_list("arm__name", flat=True)) == ["Fast-DL25", "Fast-DL50", "Fast-DL75"]
    assert sorted(made.filter(case__label="C003").values_list("arm__name", flat=True)) == sorted(("Standard",) + ARMS)
    status = client.get(f"{url}{ids[0]}/").json()
    assert status["result"]["items"][standard.public_id]["noise_method"] == "background air"
