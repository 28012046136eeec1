"""Every job kind recovers after its worker process is killed with SIGKILL: a real worker takes
the job, is stopped and killed mid-job, and another worker's recovery sweep queues the job again
and runs it to the end; the job's temporary files are gone and no worker process is left."""

from __future__ import annotations

import os
import signal
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from fixtures.make_fixture_dicom import make_fixture_dicom
from readerstudy.jobs.models import JobState
from readerstudy.reading import services as reading
from readerstudy.reading.models import Read
from readerstudy.reports import services as report_services
from readerstudy.reports.models import Report
from readerstudy.studies import services
from readerstudy.studies.models import ImportJob, Series
from recon.models import ReconJob
from tests.factories import small_study
from tests.workers import Workers

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout: float, what: str, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    text = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{text}")


def _kill_mid_job_and_recover(tmp_path, settings, model, submit, *, kill_when=None, at_kill=None):
    """``kill_when(job)``: when to kill (default: as soon as the job runs); ``at_kill(job)``: what to
    record while the worker is frozen (returned as the third value)."""
    workers = Workers(tmp_path, settings, JOB_SWEEP_SECONDS="2", JOB_HEARTBEAT_SECONDS="1")
    try:
        logs = []
        for name in ("a", "b"):
            _, log = workers.start(name)
            logs.append(log)
        for log in logs:
            _wait(lambda log=log: log.exists() and "ready." in log.read_text(), 120, f"{log.name} ready", logs)
        job = submit()

        def running():
            job.refresh_from_db()
            return job.state == JobState.RUNNING and job.worker_host and (kill_when is None or kill_when(job))

        _wait(running, 120, "the job to start", logs)
        pid = int(job.worker_host.rsplit(":", 1)[1])  # solo pool: the worker process itself
        os.killpg(pid, signal.SIGSTOP)  # freeze it mid-job, look, then kill it
        job.refresh_from_db()
        assert job.state == JobState.RUNNING, "the job finished before the worker could be killed"
        temp = workers.var_dir / "job-tmp" / f"{job._meta.label_lower}-{job.pk}"
        assert temp.is_dir()
        recorded = at_kill(job) if at_kill else None
        os.killpg(pid, signal.SIGKILL)

        def finished():
            job.refresh_from_db()
            return job.state in (JobState.SUCCEEDED, JobState.FAILED)

        _wait(finished, 300, "the surviving worker to recover and finish the job", logs)
        assert job.state == JobState.SUCCEEDED, (job.error, [p.read_text()[-3000:] for p in logs])
        assert int(job.worker_host.rsplit(":", 1)[1]) != pid
        # The task removes the job's temporary folder right after the run function has finished it.
        _wait(lambda: not temp.exists(), 30, "the job's temporary folder to be removed", logs)
        return job, logs, recorded
    finally:
        left = workers.stop_all()
        assert not left, f"worker processes left behind: {left}"


def test_import_job_recovers_after_its_worker_is_killed(tmp_path, settings, coordinator):
    study = services.study_create(name="Recovery study", created_by=coordinator)
    for name in ("SAG T2 FS", "SAG T1"):
        services.sequence_create(study=study, name=name)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    fixture = make_fixture_dicom(tmp_path / "src", cases=2, slices=24, size=96)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(fixture.root.rglob("*.dcm")):
            zf.write(path, path.relative_to(fixture.root).as_posix())

    def submit():
        client = APIClient()
        client.force_authenticate(coordinator)
        with archive.open("rb") as fh, fixture.mapping_csv.open("rb") as mapping:
            response = client.post(f"/api/studies/{study.pk}/imports/", {"archive": fh, "mapping": mapping}, format="multipart")
        assert response.status_code == 202, response.content
        return ImportJob.objects.get(public_id=response.json()["public_id"])

    job, _, _ = _kill_mid_job_and_recover(tmp_path, settings, ImportJob, submit)
    assert job.attempts == 2 and job.series_created == 8
    assert Series.objects.filter(case__study=study).count() == 8  # all of it, once
    assert not Path(job.source_path).exists()  # the staged upload is swept


def test_report_recovers_after_its_worker_is_killed(tmp_path, settings, coordinator, reader):
    study, _, sessions = small_study(coordinator=coordinator, readers=[reader])
    for i, read in enumerate(Read.objects.filter(session=sessions[0]).order_by("position")):
        reading.read_start(read=read, reader=reader)
        values = [{"item": k, "level": "", "value": 2 + i % 3} for k in
                  ("apparent_snr", "anatomy_discernment", "diagnostic_confidence", "overall_quality")]
        values.append({"item": "artifacts", "level": "", "value": i % 2})
        reading.read_submit(read=read, reader=reader, submission_id=f"sub-{read.pk:08d}", answers=values)

    job, _, _ = _kill_mid_job_and_recover(
        tmp_path, settings, Report, lambda: report_services.report_request(study=study, actor=coordinator)
    )
    assert job.attempts == 2 and job.files
    assert all((Path(django_settings.MEDIA_ROOT) / f).is_file() for f in job.files.values())


def test_recon_job_recovers_after_its_worker_is_killed_and_resumes_where_it_stopped(tmp_path, settings, coordinator):
    from recon.services import recon_job_create

    study = services.study_create(name="Recon recovery", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T1")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")

    def submit():
        # Cases big enough (about a second or two each) to be killed between the first and the last.
        return recon_job_create(study=study, actor=coordinator, cases=3, seed=3, sequences=["SAG T1"],
                                arms=["Standard", "Fast"], recon_matrix=256, slices=24, spacing_mm=2.0)

    def first_case_done(job):
        return job.result.get("cases_done", 0) >= 1

    def series_so_far(job):
        assert job.result.get("cases_done", 0) < 3, "the job finished before the worker could be killed"
        return set(Series.objects.filter(case__study=study).values_list("public_id", flat=True))

    job, _, before_kill = _kill_mid_job_and_recover(
        tmp_path, settings, ReconJob, submit, kill_when=first_case_done, at_kill=series_so_far)
    assert job.attempts == 2  # claimed by the killed worker, then by the one that recovered it
    assert job.result["cases_done"] == 3 and job.progress == 100 and job.error == ""
    series = set(Series.objects.filter(case__study=study).values_list("public_id", flat=True))
    assert len(series) == 3 * 2  # cases x arms: nothing duplicated, nothing half-written
    # It resumed: what the killed attempt imported is kept as it was (not made again).
    assert before_kill and before_kill <= series
    assert set(job.result["series_created"]) == series
    assert not (Path(django_settings.MEDIA_ROOT) / "recon_work" / job.public_id).exists()
