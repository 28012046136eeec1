"""The job kinds: model, Celery task, and what a lost or failed job leaves behind to sweep.

Models and tasks are named, not imported, so this module depends on no area's code."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.apps import apps
from django.conf import settings


@dataclass(frozen=True)
class JobKind:
    label: str  # app_label.ModelName
    task: str  # the Celery task name; called with the job's primary key
    leftovers: Callable[[object], list[Path]] = field(default=lambda job: [])  # files of a lost/failed run

    def model(self):
        return apps.get_model(self.label)

    def enqueue(self, pk: int) -> None:
        """Send the job's task. Through the registered task object, so its options apply and
        ``task_always_eager`` runs it inline (``send_task`` always goes to the broker); by name
        only when no process-local task of that name exists (a web process need not load every
        area's tasks)."""
        from readerstudy.celery import app

        app.loader.import_default_modules()  # the autodiscovered tasks modules (once per process)
        task = app.tasks.get(self.task)
        if task is not None:
            task.apply_async(args=[pk])
        else:
            app.send_task(self.task, args=[pk])

    def sweep(self, job, *, temporary_only: bool = False) -> None:
        """Remove the job's temporary folder and (when it failed) its partial outputs."""
        from .lifecycle import job_temp_dir

        paths = [job_temp_dir(job)]
        if not temporary_only:
            paths += self.leftovers(job)
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink(missing_ok=True)


def _import_leftovers(job) -> list[Path]:
    # The uploaded archive, once the job has failed for good (a folder import's source is not ours).
    source = Path(job.source_path)
    uploads = Path(settings.VAR_DIR) / "import-uploads"
    return [source] if source.parent.resolve() == uploads.resolve() else []


def _recon_leftovers(job) -> list[Path]:
    return [Path(settings.MEDIA_ROOT) / "recon_work" / job.public_id]


def _report_leftovers(job) -> list[Path]:
    return [Path(settings.MEDIA_ROOT) / "reports" / job.public_id]


KINDS = (
    JobKind("studies.ImportJob", "studies.import_job", _import_leftovers),
    JobKind("recon.ReconJob", "recon.run_job", _recon_leftovers),
    JobKind("reports.Report", "reports.build", _report_leftovers),
)


def kind_of(model) -> JobKind | None:
    return next((k for k in KINDS if k.label.lower() == model._meta.label_lower), None)
