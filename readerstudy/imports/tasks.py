"""Celery tasks of the study area: thin, idempotent, enqueued after commit.

``import_job_task(job_id)`` runs :func:`readerstudy.imports.services.import_job_run`; enqueue it
through :func:`readerstudy.imports.services.import_job_create`, which does so on commit.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="studies.import_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_job_task(job_id: int) -> None:
    # Late acknowledgement: a worker lost mid-import redelivers the job; import_job_run re-runs a
    # running job (the interrupted import stored nothing) and ignores a finished one.
    from readerstudy.jobs.lifecycle import job_running

    from readerstudy.studies.models import ImportJob

    from .services import import_job_run

    with job_running(ImportJob, job_id) as job:  # heartbeat, temporary folder, recovery (readerstudy/jobs)
        if job is not None:
            import_job_run(job_id)
