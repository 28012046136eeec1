"""Recon jobs through the study import: idempotent, resumable, blinded, with the phantom's
reference standard."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from readerstudy.studies.models import ReferenceStandard, Series
from readerstudy.studies.services import arm_create, sequence_create, study_create
from recon import services as recon_services
from recon.models import ReconJob
from recon.phantom import FINDINGS, LEVELS
from recon.services import recon_job_create, recon_job_run

SMALL = {"recon_matrix": 64, "slices": 3, "spacing_mm": 2.0}


@pytest.fixture
def study(coordinator):
    s = study_create(name="Phantom study", created_by=coordinator)
    for name in ("SAG T1", "AX T2"):
        sequence_create(study=s, name=name)
    arm_create(study=s, name="Standard", is_reference=True)
    arm_create(study=s, name="Fast")
    return s


def _job(study, coordinator, **kw):
    params = dict(cases=2, seed=4, **SMALL)
    params.update(kw)
    return recon_job_create(study=study, actor=coordinator, **params)


@pytest.mark.django_db
def test_job_through_the_worker_imports_blinded_series_and_reference_standard(study, coordinator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = _job(study, coordinator)
    job.refresh_from_db()
    assert job.state == ReconJob.State.SUCCEEDED, job.error
    assert job.progress == 100 and job.worker_host and job.started_at and job.finished_at and job.attempts == 1
    series = Series.objects.filter(case__study=study)
    assert series.count() == 2 * 2 * 2  # cases x sequences x arms (Truth is never imported by default)
    assert set(series.values_list("source", flat=True)) == {"phantom"}
    assert {s.num_instances for s in series} == {3}
    assert set(series.values_list("case__label", flat=True)) == {"C001", "C002"}
    ref = ReferenceStandard.objects.filter(case__study=study)
    assert ref.count() == 2 * len(LEVELS) * len(FINDINGS)
    assert set(ref.values_list("source", flat=True)) == {"phantom"}


@pytest.mark.django_db
def test_running_a_job_twice_or_a_second_identical_job_creates_no_duplicates(study, coordinator):
    job = _job(study, coordinator, enqueue=False)
    recon_job_run(job.pk)
    before = set(Series.objects.values_list("public_id", flat=True))
    again = recon_job_run(job.pk)  # redelivered after success: left alone
    assert again.state == ReconJob.State.SUCCEEDED and again.attempts == 1
    second = _job(study, coordinator, enqueue=False)
    second = recon_job_run(second.pk)
    assert second.state == ReconJob.State.SUCCEEDED, second.error
    assert set(Series.objects.values_list("public_id", flat=True)) == before
    assert ReferenceStandard.objects.filter(case__study=study).count() == 2 * len(LEVELS) * len(FINDINGS)


@pytest.mark.django_db
def test_a_worker_killed_mid_job_leaves_only_whole_cases_and_the_redelivery_finishes(study, coordinator, monkeypatch):
    job = _job(study, coordinator, enqueue=False)
    real_export = recon_services.export.export_case

    def dies_on_second_case(out_dir, label, *args, **kwargs):
        if label == "C002":
            real_export(out_dir, label, *args, **kwargs)  # half the work is on disk...
            raise KeyboardInterrupt("worker killed")  # ...and the process goes away
        return real_export(out_dir, label, *args, **kwargs)

    monkeypatch.setattr(recon_services.export, "export_case", dies_on_second_case)
    with pytest.raises(KeyboardInterrupt):
        recon_job_run(job.pk)
    job.refresh_from_db()
    assert job.state == ReconJob.State.RUNNING  # as a lost worker leaves it; acks_late redelivers
    visible = Series.objects.filter(case__study=study)
    assert set(visible.values_list("case__label", flat=True)) == {"C001"} and visible.count() == 4
    monkeypatch.setattr(recon_services.export, "export_case", real_export)
    job = recon_job_run(job.pk)
    assert job.state == ReconJob.State.SUCCEEDED and job.attempts == 2
    assert Series.objects.filter(case__study=study).count() == 8


@pytest.mark.django_db
def test_job_requests_are_checked_against_the_study_design(study, coordinator):
    with pytest.raises(ValidationError, match="do not exist in study"):
        _job(study, coordinator, arms=["Truth"], enqueue=False)
    with pytest.raises(ValidationError, match="no sequences"):
        _job(study, coordinator, sequences=["COR T1"], enqueue=False)
    with pytest.raises(ValidationError, match="between 1 and 500"):
        _job(study, coordinator, cases=0, enqueue=False)


@pytest.mark.django_db
def test_a_clash_with_existing_series_fails_the_job_with_a_clear_error(study, coordinator):
    recon_job_run(_job(study, coordinator, cases=1, sequences=["SAG T1"], enqueue=False).pk)
    job = recon_job_run(_job(study, coordinator, cases=1, enqueue=False).pk)
    assert job.state == ReconJob.State.FAILED
    assert "some but not all" in job.error


@pytest.mark.django_db
def test_recon_study_command_inline(study):
    call_command("recon_study", study.name, "--cases", "1", "--seed", "2", "--inline", "--matrix", "64", "--slices", "3",
                 "--spacing-mm", "2.0", "--sequences", "SAG T1")
    assert Series.objects.filter(case__study=study).count() == 2


@pytest.mark.django_db
def test_api_starts_a_job_and_shows_its_progress(study, coordinator, reader, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(coordinator)
    base = f"/api/studies/{study.pk}/recon-jobs/"
    body = {"cases": 1, "seed": 3, "recon_matrix": 64, "slices": 2, "sequences": ["SAG T1"]}
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(base, body, format="json")
    assert resp.status_code == 201, resp.content
    rows = client.get(base).json()["results"]
    assert rows[0]["state"] == "succeeded" and rows[0]["progress"] == 100
    assert client.get(f"{base}{rows[0]['public_id']}/").json()["progress"] == 100
    # Someone who does not coordinate the study sees nothing (404), whatever they send.
    client.force_authenticate(reader)
    assert client.get(base).status_code == 404
    assert client.post(base, body, format="json").status_code == 404
    # A bad request names the field.
    client.force_authenticate(coordinator)
    bad = client.post(base, {"cases": 0, "seed": 1}, format="json")
    assert bad.status_code == 400 and "cases" in bad.json()
    # The noise-free Truth is for measurement only: a study job may not ask for it.
    assert client.post(base, {"cases": 1, "seed": 3, "arms": ["Truth"]}, format="json").status_code == 400


@pytest.mark.django_db
def test_a_starting_worker_requeues_jobs_whose_worker_died(study, coordinator, django_capture_on_commit_callbacks):
    from readerstudy.jobs.lifecycle import jobs_recover

    job = _job(study, coordinator, cases=1, sequences=["SAG T1"], enqueue=False)
    # As a worker killed mid-job leaves it on a broker without redelivery: running, dead pid.
    ReconJob.objects.filter(pk=job.pk).update(state=ReconJob.State.RUNNING, worker_host=f"{__import__('socket').gethostname()}:999999")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_recover() == {"recon.ReconJob": [job.pk]}
    job.refresh_from_db()
    assert job.state == ReconJob.State.SUCCEEDED and Series.objects.filter(case__study=study).count() == 2
    assert jobs_recover() == {}  # nothing left to recover


@pytest.mark.django_db
def test_a_duplicate_delivery_leaves_a_job_that_another_live_worker_runs_alone(study, coordinator):
    from django.utils import timezone

    job = _job(study, coordinator, cases=1, sequences=["SAG T1"], enqueue=False)
    ReconJob.objects.filter(pk=job.pk).update(state=ReconJob.State.RUNNING, worker_host="other-host:1", heartbeat_at=timezone.now())
    assert recon_job_run(job.pk).state == ReconJob.State.RUNNING
    assert not Series.objects.filter(case__study=study).exists()


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_job_with_its_name_instead_of_leaving_it_running(study, coordinator, monkeypatch):
    job = _job(study, coordinator, cases=1, sequences=["SAG T1"], enqueue=False)

    def broken(*args, **kwargs):
        raise ImportError("PyWavelets is not installed")

    monkeypatch.setattr(recon_services.export, "export_case", broken)
    recon_job_run(job.pk)
    job.refresh_from_db()
    assert job.state == ReconJob.State.FAILED
    assert "internal error (ImportError: PyWavelets is not installed)" in job.error
    assert Series.objects.filter(case__study=study).count() == 0
