"""Recovery in every worker: when it starts (before taking jobs) and every JOB_SWEEP_SECONDS."""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)
_stop = threading.Event()


def _sweep_once() -> None:
    from .lifecycle import jobs_recover

    try:
        acted = jobs_recover()
        if acted:
            log.warning("job recovery: %s", acted)
    except Exception:  # never stop a worker over it; the next sweep tries again
        log.exception("job recovery failed")
    finally:
        connection.close()


def _sweeper() -> None:
    while not _stop.wait(settings.JOB_SWEEP_SECONDS):
        _sweep_once()


@worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    _sweep_once()
    _stop.clear()
    threading.Thread(target=_sweeper, daemon=True, name="job-recovery").start()


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs) -> None:
    _stop.set()
