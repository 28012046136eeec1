"""Recon jobs on real data (kinds standard, fast, kspace) through the Celery task (eager, as the
phantom job tests): imported series in, blinded Fast / Fast-DL (and Standard) series out, the
noise used recorded per series, idempotent, and clear failures."""

import csv

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import Series
from readerstudy.studies.services import arm_create, sequence_create, study_create
from recon.models import ReconJob
from recon.services import recon_job_create_real, recon_job_run

from . import real_data

ARMS = ("Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75")


@pytest.fixture
def study(coordinator):
    s = study_create(name="Hospital study", created_by=coordinator)
    sequence_create(study=s, name="SAG T2 FS")
    arm_create(study=s, name="Standard", is_reference=True)
    for a in ARMS:
        arm_create(study=s, name=a)
    return s


def _import(study, coordinator, tmp_path, *, name, case, arm, noise_sd=None, seed=0):
    folder = real_data.series_from(name, tmp_path / f"{case}-{arm}" / "series", slices=2, noise_sd=noise_sd, seed=seed,
                                   description="SAG T2 FS")
    mapping = folder.parent / "mapping.csv"
    with open(mapping, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "sequence", "arm", "path"])
        w.writerow([case, "SAG T2 FS", arm, "series"])
    result = import_dicom(study=study, source=folder.parent, mapping=mapping, actor=coordinator)
    return result.series[0]


def _run(job, capture):
    with capture(execute=True):
        pass
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_standard_job_makes_fast_and_fast_dl_with_the_measured_noise(study, coordinator, tmp_path, django_capture_on_commit_callbacks):
    standard = _import(study, coordinator, tmp_path, name="siemens", case="C001", arm="Standard", noise_sd=20.0)
    with django_capture_on_commit_callbacks(execute=True):
        job = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id])
    job.refresh_from_db()
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    assert job.progress == 100 and job.kind == "standard"
    made = Series.objects.filter(case__study=study, source="recon")
    assert sorted(made.values_list("arm__name", flat=True)) == sorted(ARMS)
    assert set(made.values_list("case__label", flat=True)) == {"C001"}
    item = job.result["items"][standard.public_id]
    assert item["noise_method"] == "background air"
    assert item["noise_sd"] == pytest.approx(real_data.true_sd("siemens", 20.0), rel=0.10)
    # Redelivered or started again: nothing new.
    again = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], enqueue=False)
    again = recon_job_run(again.pk)
    assert again.state == ReconJob.State.SUCCEEDED and made.count() == 4


@pytest.mark.django_db
def test_no_air_fails_the_job_with_how_to_give_sigma_then_a_given_sigma_works(study, coordinator, tmp_path):
    standard = _import(study, coordinator, tmp_path, name="mr_small", case="C002", arm="Standard", noise_sd=10.0)
    job = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], enqueue=False)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.FAILED
    assert "not much darker than the anatomy" in job.error and "noise SD" in job.error and "background ROI" in job.error
    assert not Series.objects.filter(case__study=study, source="recon").exists()
    with pytest.raises(ValidationError, match="noise SD must be"):
        recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], noise_sd=float("nan"))
    job = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], noise_sd=10.0, enqueue=False)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    assert job.result["items"][standard.public_id]["noise_method"] == "given"


@pytest.mark.django_db
def test_background_roi_gives_the_noise(study, coordinator, tmp_path):
    standard = _import(study, coordinator, tmp_path, name="siemens", case="C003", arm="Standard", noise_sd=20.0, seed=4)
    rows, cols = real_data.AIR_BOX["siemens"]
    job = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], arms=["Fast"],
                                background_roi={"rows": [rows.start, rows.stop], "cols": [cols.start, cols.stop]}, enqueue=False)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    item = job.result["items"][standard.public_id]
    assert item["noise_method"] == "background ROI" and item["arms"] == ["Fast"]
    assert item["noise_sd"] == pytest.approx(real_data.true_sd("siemens", 20.0), rel=0.10)


@pytest.mark.django_db
def test_fast_job_makes_the_fast_dl_arms(study, coordinator, tmp_path):
    fast = _import(study, coordinator, tmp_path, name="siemens", case="C004", arm="Fast", noise_sd=25.0)
    job = recon_job_create_real(study=study, actor=coordinator, kind="fast", series=[fast.public_id], enqueue=False)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    made = Series.objects.filter(case__label="C004", source="recon")
    assert sorted(made.values_list("arm__name", flat=True)) == ["Fast-DL25", "Fast-DL50", "Fast-DL75"]


@pytest.mark.django_db
def test_kspace_job_makes_standard_fast_and_fast_dl(study, coordinator, tmp_path, monkeypatch):
    from .test_rawdata import _kspace, _object, _write_ismrmrd

    monkeypatch.setenv("RECON_RAW_ROOT", str(tmp_path / "raw"))
    (tmp_path / "raw").mkdir()
    rng = np.random.default_rng(0)
    obj = _object()
    _write_ismrmrd(tmp_path / "raw" / "patient1.h5", [_kspace(obj, 0.5, rng), _kspace(obj, 0.5, rng)])
    with pytest.raises(ValidationError, match="not a file under the raw-data folder"):
        recon_job_create_real(study=study, actor=coordinator, kind="kspace",
                              raw_files=[{"path": "../x.h5", "case": "C005", "sequence": "SAG T2 FS"}])
    job = recon_job_create_real(study=study, actor=coordinator, kind="kspace",
                                raw_files=[{"path": "patient1.h5", "case": "C005", "sequence": "SAG T2 FS"}], enqueue=False)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    made = Series.objects.filter(case__label="C005", source="recon")
    assert sorted(made.values_list("arm__name", flat=True)) == sorted(("Standard",) + ARMS)


@pytest.mark.django_db
def test_create_refuses_what_cannot_be_made(study, coordinator, tmp_path):
    standard = _import(study, coordinator, tmp_path, name="siemens", case="C006", arm="Standard", noise_sd=20.0)
    with pytest.raises(ValidationError, match="parallel imaging"):
        recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[standard.public_id], protocol_set="parallel")
    with pytest.raises(ValidationError, match="cannot make arms"):
        recon_job_create_real(study=study, actor=coordinator, kind="fast", series=[standard.public_id], arms=["Fast"])
    with pytest.raises(ValidationError, match="not in study"):
        recon_job_create_real(study=study, actor=coordinator, kind="standard", series=["nope"])


@pytest.mark.django_db
def test_api_starts_a_real_data_job(study, coordinator, tmp_path, client):
    standard = _import(study, coordinator, tmp_path, name="siemens", case="C007", arm="Standard", noise_sd=20.0)
    client.force_login(coordinator)
    r = client.post(f"/api/studies/{study.pk}/recon-jobs/", {"kind": "standard", "series": [standard.public_id], "arms": ["Fast"], "noise_sd": 20.0},
                    content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["kind"] == "standard" and r.json()["parameters"]["noise_sd"] == 20.0
    r = client.post(f"/api/studies/{study.pk}/recon-jobs/", {"kind": "standard", "series": [standard.public_id], "noise_sd": -1},
                    content_type="application/json")
    assert r.status_code == 400 and "noise SD must be" in r.content.decode()


@pytest.mark.django_db
def test_a_job_whose_worker_died_after_one_series_resumes_without_duplicates(study, coordinator, tmp_path,
                                                                          django_capture_on_commit_callbacks):
    import socket

    from readerstudy.jobs.lifecycle import jobs_recover

    first = _import(study, coordinator, tmp_path, name="siemens", case="C010", arm="Standard", noise_sd=20.0)
    second = _import(study, coordinator, tmp_path, name="siemens", case="C011", arm="Standard", noise_sd=20.0, seed=5)
    # The first series was made by an earlier attempt (a job for it alone stands in for that).
    done = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[first.public_id], arms=["Fast"], enqueue=False)
    assert recon_job_run(done.pk).state == ReconJob.State.SUCCEEDED
    job = recon_job_create_real(study=study, actor=coordinator, kind="standard", series=[first.public_id, second.public_id],
                                arms=["Fast"], enqueue=False)
    # Killed mid-job on a broker without redelivery: running, its process gone.
    ReconJob.objects.filter(pk=job.pk).update(state=ReconJob.State.RUNNING, worker_host=f"{socket.gethostname()}:999999")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_recover() == {"recon.ReconJob": [job.pk]}
    job.refresh_from_db()
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    made = Series.objects.filter(case__study=study, source="recon")
    assert sorted(made.values_list("case__label", flat=True)) == ["C010", "C011"]  # one Fast each, no duplicate
    assert list(job.result["items"]) == [second.public_id]  # the first was skipped as already made
