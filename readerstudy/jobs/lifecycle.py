"""Claim, heartbeat, progress, finish, fail and recover: the life of every worker job.

A job's Celery task is acknowledged late (a worker that dies mid-job leaves the message to be
redelivered on brokers that can: Redis after its visibility timeout, RabbitMQ at once) and wraps
its work in :func:`job_running`, which records the worker process running it, keeps a heartbeat
while it runs, and gives it a private temporary folder. :func:`jobs_recover`, run when a worker
starts and every ``JOB_SWEEP_SECONDS`` in every worker, finds running jobs whose worker is gone
(its process on this host is dead, or its heartbeat is older than ``JOB_STALE_SECONDS``), sweeps
their temporary files and queues them again, or fails them after ``JOB_MAX_ATTEMPTS``; and queues
again jobs whose message was lost (the filesystem broker does not redeliver). The run functions
are idempotent: a finished job is left alone, a duplicate delivery of a live job is ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import JobState

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``host:pid`` of the process running a job."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.JOB_STALE_SECONDS)


def stale_q(now=None) -> Q:
    """Jobs that claim to be running (or queued) but whose worker has not been heard of lately."""
    old = (now or timezone.now()) - _stale_after()
    return Q(state__in=[JobState.RUNNING, JobState.QUEUED]) & (
        Q(heartbeat_at__lt=old) | Q(heartbeat_at__isnull=True, created_at__lt=old)
    )


def worker_process_gone(worker_host: str) -> bool:
    """Whether the worker process named by ``worker_host`` ("host:pid") is known to be gone: it ran on
    this machine and its process no longer exists or is a zombie. Another machine's worker: False."""
    host, _, pid = worker_host.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A killed worker whose parent has not reaped it yet is a zombie: signal 0 still succeeds.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


# --- the steps of a job ---------------------------------------------------------------------------


def job_claim(model, pk: int, *, count_attempt: bool = True):
    """Mark job ``pk`` running in this process; ``None`` if it is finished, gone, or being run by
    another live worker (a duplicate delivery)."""
    now = timezone.now()
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED):
            return None
        fresh = job.heartbeat_at is not None and job.heartbeat_at > now - _stale_after()
        if job.state == JobState.RUNNING and fresh and job.worker_host not in ("", worker_id()) and not worker_process_gone(job.worker_host):
            return None
        fields = {"state": JobState.RUNNING, "worker_host": worker_id(), "heartbeat_at": now,
                  "started_at": job.started_at or now}
        if count_attempt:
            fields["attempts"] = job.attempts + 1
        model.objects.filter(pk=pk).update(**fields)
        for key, value in fields.items():
            setattr(job, key, value)
    return job


def job_heartbeat(model, pk: int, **fields) -> None:
    """The worker is alive (and, with ``fields``, where it is)."""
    model.objects.filter(pk=pk, state=JobState.RUNNING).update(heartbeat_at=timezone.now(), **fields)


def job_progress(model, pk: int, percent: int, message: str = "", **fields) -> None:
    """Progress 0-99 (100 is for :func:`job_finish`), an optional message and the kind's own
    fields (e.g. a resumable job's partial result); also a heartbeat."""
    fields["progress"] = max(0, min(99, int(percent)))
    if message:
        fields["message"] = message[:255]
    job_heartbeat(model, pk, **fields)


def job_finish(model, pk: int, **fields) -> None:
    model.objects.filter(pk=pk).update(state=JobState.SUCCEEDED, progress=100, finished_at=timezone.now(), **fields)


def job_fail(model, pk: int, error: str, **fields) -> None:
    """Failed with ``error`` (shown to the coordinator); only a job that is not already finished."""
    model.objects.filter(pk=pk, state__in=[JobState.QUEUED, JobState.RUNNING]).update(
        state=JobState.FAILED, error=str(error)[:10000], finished_at=timezone.now(), **fields
    )
    from .kinds import kind_of

    kind = kind_of(model)
    job = model.objects.filter(pk=pk).first()
    if kind is not None and job is not None:
        kind.sweep(job)


def job_temp_dir(job) -> Path:
    """The private temporary folder of a job (under VAR_DIR, swept when the job ends or is lost)."""
    return Path(settings.VAR_DIR) / "job-tmp" / f"{job._meta.label_lower}-{job.pk}"


class _Heartbeat(threading.Thread):
    def __init__(self, model, pk: int, interval: float):
        super().__init__(daemon=True, name=f"heartbeat-{model._meta.label_lower}-{pk}")
        self.model, self.pk, self.interval = model, pk, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    job_heartbeat(self.model, self.pk)
                except Exception:  # a database hiccup must not kill the job; the next beat retries
                    log.warning("heartbeat of %s %s failed", self.model.__name__, self.pk, exc_info=True)
        finally:
            connection.close()


@contextlib.contextmanager
def job_running(model, pk: int, *, count_attempt: bool = True) -> Iterator[object | None]:
    """What a job's task wraps its work in.

    Records this worker process on the job (claim), beats every ``JOB_HEARTBEAT_SECONDS`` while
    the block runs, and points ``tempfile`` at the job's private folder, removed afterwards (a
    killed worker's folder is removed by :func:`jobs_recover`). Yields the job, or None when
    there is nothing to do (finished, or another live worker has it); the block should then
    return at once (the run functions are idempotent, so running them anyway is also safe).
    """
    job = job_claim(model, pk, count_attempt=count_attempt)
    if job is None:
        yield None
        return
    temp = job_temp_dir(job)
    temp.mkdir(parents=True, exist_ok=True)
    previous_tempdir = tempfile.tempdir
    tempfile.tempdir = str(temp)
    beat = _Heartbeat(model, pk, settings.JOB_HEARTBEAT_SECONDS)
    beat.start()
    try:
        yield job
    finally:
        beat.stopped.set()
        beat.join(timeout=10)
        tempfile.tempdir = previous_tempdir
        shutil.rmtree(temp, ignore_errors=True)


# --- recovery ---------------------------------------------------------------------------------------


def jobs_recover(*, now=None) -> dict[str, list[int]]:
    """Re-queue (or fail, after JOB_MAX_ATTEMPTS) every job whose worker is gone; re-send lost
    queued jobs. Returns ``{kind label: [job ids acted on]}``."""
    from .kinds import KINDS

    now = now or timezone.now()
    acted: dict[str, list[int]] = {}
    for kind in KINDS:
        model = kind.model()
        with transaction.atomic():
            candidates = model.objects.select_for_update(skip_locked=True).filter(
                Q(state=JobState.RUNNING) | stale_q(now)
            )
            for job in candidates:
                if job.state == JobState.RUNNING:
                    lost = worker_process_gone(job.worker_host) or (job.heartbeat_at or job.started_at or job.created_at) < now - _stale_after()
                    if not lost:
                        continue
                    kind.sweep(job, temporary_only=True)
                    if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                        model.objects.filter(pk=job.pk).update(
                            state=JobState.FAILED, finished_at=now,
                            error=f"its worker stopped {job.attempts} times while running it "
                                  "(killed, out of memory, or the machine went down); request it again",
                        )
                        job.state = JobState.FAILED
                        kind.sweep(job)
                        log.warning("%s %s failed: worker lost %s times", kind.label, job.pk, job.attempts)
                    else:
                        model.objects.filter(pk=job.pk).update(
                            state=JobState.QUEUED, heartbeat_at=now, worker_host="",
                            message="queued again: the worker running it stopped",
                        )
                        transaction.on_commit(lambda k=kind, pk=job.pk: k.enqueue(pk))
                        log.warning("%s %s queued again: its worker %s was lost", kind.label, job.pk, job.worker_host)
                else:  # queued and not picked up for JOB_STALE_SECONDS: its message may be lost
                    model.objects.filter(pk=job.pk).update(heartbeat_at=now)
                    transaction.on_commit(lambda k=kind, pk=job.pk: k.enqueue(pk))
                acted.setdefault(kind.label, []).append(job.pk)
    return acted
