"""Celery tasks of the recon worker: thin; the work is in :mod:`recon.services`.

``recon_job_task(job_id)`` is acknowledged late: a worker killed mid-job gets the job
redelivered, and :func:`recon.services.recon_job_run` resumes it, skipping cases already in
the study (each case is imported all-or-nothing, so nothing half-written is ever visible).
Transient infrastructure errors (database or broker connection) are retried with backoff. For
brokers that do not redeliver a dead worker's unacknowledged messages (the embedded filesystem
transport), a starting worker re-enqueues jobs whose worker is gone (``worker_ready``).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)


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
    from readerstudy.jobs.lifecycle import job_running
    from recon.models import ReconJob
    from recon.services import recon_job_run

    # recon_job_run claims and counts attempts itself; the wrapper adds the heartbeat thread, the
    # temporary folder and the shared recovery (readerstudy/jobs).
    with job_running(ReconJob, job_id, count_attempt=False) as job:
        if job is not None:
            recon_job_run(job_id)


@worker_ready.connect
def _recover_lost_jobs(**_kwargs) -> None:
    """A starting worker re-enqueues recon jobs whose worker died (see recon_jobs_recover)."""
    try:
        from recon.services import recon_jobs_recover

        recon_jobs_recover()
    except Exception:  # never keep a worker from starting
        log.exception("recovering lost recon jobs failed")
