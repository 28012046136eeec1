"""Submitting a DICOM import as a job: store the upload, record the ImportJob, enqueue the
worker after commit. The import itself (validation, blinding, atomic storage) is in
``dicom_import.py``; the task that runs it is in ``tasks.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import ImportJob, Study


def upload_dir(job: ImportJob) -> Path:
    return Path(settings.VAR_DIR) / "uploads" / job.public_id


def _allowed_folder(folder: str) -> Path:
    path = Path(folder).expanduser().resolve()
    roots = [Path(r).resolve() for r in settings.IMPORT_FOLDER_ROOTS]
    if not any(path == root or root in path.parents for root in roots):
        raise ValidationError(
            f"folder {folder!r} is outside the import folders this server allows "
            f"(IMPORT_FOLDER_ROOTS: {', '.join(str(r) for r in roots)})"
        )
    if not path.is_dir():
        raise ValidationError(f"folder {folder!r} does not exist or is not a folder")
    return path


def import_job_submit(*, study: Study, actor, archive=None, folder: str | None = None, mapping=None, rules=None) -> ImportJob:
    """Create an ImportJob for a zip upload (``archive``) or a server ``folder`` and enqueue it.

    ``mapping`` is an uploaded CSV file, ``rules`` a dict of header rules (see docs/import.md).
    """
    if study.status == Study.Status.LOCKED:
        raise ValidationError(f"study '{study.name}' is locked; nothing can be imported")
    if archive is not None and archive.size > settings.IMPORT_MAX_ARCHIVE_BYTES:
        raise ValidationError(
            f"archive {archive.name!r} is {archive.size} bytes, over the limit of {settings.IMPORT_MAX_ARCHIVE_BYTES}"
        )
    source = _allowed_folder(folder) if folder else None
    if mapping is not None:
        try:
            mapping_spec = {"csv": mapping.read().decode("utf-8-sig")}
        except UnicodeDecodeError as exc:
            raise ValidationError(f"mapping file {mapping.name!r} is not UTF-8 text: {exc}") from exc
    else:
        mapping_spec = {"rules": rules}

    job = ImportJob(study=study, created_by=actor, source_path=str(source or ""), mapping=mapping_spec)
    job.full_clean(exclude=["source_path"])
    job.save()
    if archive is not None:
        target = upload_dir(job)
        target.mkdir(parents=True, exist_ok=True)
        archive_path = target / "upload.zip"
        try:
            with archive_path.open("wb") as out:
                for chunk in archive.chunks():
                    out.write(chunk)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        job.source_path = str(archive_path)
        ImportJob.objects.filter(pk=job.pk).update(source_path=job.source_path)

    from . import tasks

    transaction.on_commit(lambda: tasks.import_job_task.delay(job.pk))
    return job
