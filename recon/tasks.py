"""Celery tasks of the recon worker: thin; the work is in :mod:`recon.services`.

``recon_job_task(job_id)`` runs :func:`recon.services.recon_job_run`, which goes through the one
job lifecycle of every worker job (:mod:`readerstudy.jobs`: claim, heartbeat, progress, finish,
fail, and recovery of a job whose worker died, when a worker starts and periodically). The task
is acknowledged late: a worker killed mid-job gets the job redelivered (Redis, RabbitMQ) or
re-queued by the recovery sweep (the filesystem transport), and the run resumes, skipping cases
and series already in the study (each is imported all-or-nothing). Transient infrastructure
errors (database or broker connection) are retried with backoff.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="recon.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, ConnectionError),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def recon_job_task(job_id: int) -> None:
    from recon.services import recon_job_run

    # recon_job_run wraps its work in readerstudy.jobs.lifecycle.job_running itself (it is also
    # run inline, by `recon_study --inline` and tests): claim, heartbeat, temporary folder.
    recon_job_run(job_id)
