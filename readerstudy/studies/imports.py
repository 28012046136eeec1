"""The upload endpoint's side of a DICOM import: check where the files come from, store the
upload, parse the mapping, and hand over to ``dicom_import.import_job_create`` (which enqueues
the worker after commit). Validation, blinding and atomic storage live in ``dicom_import``."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from .dicom_import import DicomImportError, import_job_create, parse_mapping_csv, rules_from_dict, store_upload
from .models import ImportJob, Study


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


def _as_validation_error(exc: DicomImportError) -> ValidationError:
    return ValidationError([f"{e['file']}: {e['problem']}" for e in exc.errors])


def import_job_submit(*, study: Study, actor, archive=None, folder: str | None = None, mapping=None, rules=None) -> ImportJob:
    """Create an ImportJob for a zip upload (``archive``) or a server ``folder``.

    ``mapping`` is an uploaded CSV file, ``rules`` a dict of header rules (docs/import.md).
    """
    if study.status == Study.Status.LOCKED:
        raise ValidationError(f"study '{study.name}' is locked; nothing can be imported")
    try:
        if mapping is not None:
            try:
                text = mapping.read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ValidationError(f"mapping file {mapping.name!r} is not UTF-8 text: {exc}") from exc
            parsed = parse_mapping_csv(text, name=getattr(mapping, "name", "mapping.csv"))
        else:
            if not isinstance(rules, dict):
                raise ValidationError("rules must be a JSON object (see docs/import.md)")
            parsed = rules_from_dict(rules)
        source = _allowed_folder(folder) if folder else store_upload(archive)
    except DicomImportError as exc:
        raise _as_validation_error(exc) from exc
    return import_job_create(study=study, source_path=source, mapping=parsed, actor=actor)
