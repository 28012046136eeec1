"""Celery tasks of the recon worker: thin; the work is in :mod:`recon.services`.

``recon_job_task(job_id)`` is acknowledged late: a worker killed mid-job gets the job
redelivered, and :func:`recon.services.recon_job_run` resumes it, skipping cases already in
the study (each case is imported all-or-nothing, so nothing half-written is ever visible).
Transient infrastructure errors (database or broker connection) are retried with backoff.
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

    recon_job_run(job_id)
