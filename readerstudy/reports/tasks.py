"""Celery task of the report area: thin and idempotent; enqueued on commit by
:func:`readerstudy.reports.services.report_request`."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="reports.build", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def report_build_task(report_pk: int) -> None:
    # A worker lost mid-build redelivers the task; report_build rebuilds a "running" report
    # from scratch and leaves a finished one alone.
    from readerstudy.jobs.lifecycle import job_running

    from .models import Report
    from .services import report_build

    with job_running(Report, report_pk) as job:  # heartbeat, temporary folder, recovery (readerstudy/jobs)
        if job is not None:
            report_build(report_pk=report_pk)
