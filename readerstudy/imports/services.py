"""DICOM import: a zip or a folder of MR series in, blinded Series and Instances out, all or nothing.

Public interface (stable; the recon worker and the upload endpoint call it)::

    import_dicom(*, study, source, mapping, actor, progress=None,
                 create_cases=True, series_source="import") -> ImportResult

``source``
    A ``Path`` to a zip archive or a folder. Files are found recursively; hidden files,
    ``__MACOSX/``, ``DICOMDIR`` and text side files (``.csv .json .toml .txt .md``) are skipped,
    every other file must be a readable DICOM image.
``mapping``
    Assigns every series to (case, sequence, arm). One of
    - :class:`MappingTable` from a CSV (:func:`load_mapping_csv` / :func:`parse_mapping_csv`):
      columns ``case,sequence,arm`` and, per row, one selector: ``path`` (a folder or file
      relative to the source root; every file under it belongs to the row) or
      ``series_instance_uid``; an optional ``slices`` column is checked against the number of
      files. The recon worker's ``manifest.csv`` (``case,sequence,arm,path,slices``) is such a
      CSV. Other columns are an error. If every file lies under one top folder that no mapping
      path names (a zipped folder), that folder is stripped first.
    - :class:`HeaderRules` from JSON or TOML (:func:`load_rules` / :func:`parse_rules`): per target
      (``case``, ``sequence``, ``arm``) a header ``field`` and an exact ``map`` and/or a list of
      ``regex`` ``[pattern, value]`` pairs (first match wins; ``\\1`` expands groups); for the case,
      ``pseudonymize = "C{:03d}"`` labels the distinct field values, sorted, with the first labels
      of that pattern not used in the study yet. A later import of the same patient therefore
      makes a *new* case: import all arms of a patient together, or use a ``map``.
    - a ``Path`` or ``str`` to such a file (``.csv`` → table, ``.json``/``.toml`` → rules).
``actor``
    The user the audit log names (``None`` for system jobs).
``progress``
    Optional ``callable(percent: int, message: str)``.
``create_cases``
    Cases named by the mapping but missing in the study are created (default). Sequences and arms
    must exist: an unknown one is an error, because a typo there would silently make a new arm.
``series_source``
    Stored in ``Series.source`` ("import", "recon", "phantom").
``skip_unmapped``
    Series the mapping or rules do not name are left out and listed in ``ImportResult.skipped``
    (``[{series_description, modality, images, folder}]``) instead of being an error.

Validation (every problem is collected, then :class:`DicomImportError` is raised with all of
them as ``errors = [{"file": ..., "problem": ...}]``; ``file`` is relative to the source root):
MR only: MR Image Storage, Enhanced MR and Legacy Converted Enhanced MR (split per frame by
:mod:`.frames`; Siemens MOSAIC unpacked), grayscale, a transfer syntax an installed codec
decodes (:mod:`.decoding`), one stack per multi-frame object, one patient and one SeriesInstanceUID per series, identical rows/columns/pixel spacing/
orientation in a series, distinct positions with uniform spacing along the slice normal,
decodable pixel data of the declared size, known sequence and arm, no (case, sequence, arm)
or original series imported twice, a case label that is not the patient's name or ID.

Representation: the arms of one case × sequence are stored alike (:mod:`.representation`,
:class:`.blinding.SeriesProfile`); what cannot be equalised is reported by
:func:`.selectors.representation_problems` on the publish checklist.

Atomicity: headers are validated before anything is written; blinded copies (see
:mod:`readerstudy.imports.blinding`) are written to a staging folder under MEDIA_ROOT; the
Case/Series/Instance/UIDMapping rows are created in one transaction, at whose end the files are
moved (same file system, ``os.replace``) to opaque names ``dicom/<xx>/<random>.dcm``; if
anything fails the moved files are removed and the staging folder deleted, so the database and
MEDIA_ROOT are as before. Do not call it inside an outer transaction that may still roll back:
the files of a rolled-back outer transaction would stay (unreferenced) in MEDIA_ROOT.

Zip safety (checked on the central directory *before* extracting anything, and again while
extracting): absolute names, ``..`` components, NUL bytes, symlinks and other non-regular
entries, encrypted or duplicate entries, more than ``IMPORT_MAX_MEMBERS`` members, a total
expanded size over ``IMPORT_MAX_EXPANDED_BYTES``, a member over 1 MiB compressed more than
``IMPORT_MAX_COMPRESSION_RATIO``:1, an archive over ``IMPORT_MAX_ARCHIVE_BYTES``. Folders are
walked without following links; a symlink in a folder is an error too.

"""

from __future__ import annotations

import contextlib
import logging
import secrets
from pathlib import Path
from typing import IO, Callable

import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from readerstudy.studies import audit
from readerstudy.studies.models import ImportJob, Study

from .archive import source_files
from .errors import DicomImportError, Problems, fail
from .headers import read_header
from .mapping import (
    Mapping,
    MappingTable,
    Skipped,
    coerce_mapping,
    mapping_from_json,
    mapping_to_json,
    parse_mapping_csv,
    plan_from_rules,
    plan_from_table,
    rules_from_dict,
    strip_common_top,
)
from .staging import ImportResult, StagedSeries, commit_staged, make_staging_dir, remove_staging, stage_group
from .validation import validate_plan, validate_series

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]
UPLOAD_DIR_NAME = "import-uploads"


def import_dicom(
    *,
    study: Study,
    source: Path | str,
    mapping: Mapping | Path | str,
    actor=None,
    progress: ProgressCallback | None = None,
    create_cases: bool = True,
    series_source: str = "import",
    skip_unmapped: bool = False,
) -> ImportResult:
    """Import the MR series in ``source`` into ``study`` as blinded copies, all or nothing.

    See the module docstring for the mapping formats, what is validated and how atomicity is
    kept. Raises :class:`DicomImportError` (``.errors``: ``[{"file", "problem"}]``) for any bad
    input; nothing is stored then. With ``skip_unmapped``, series the mapping or the rules do not
    name (localizers, scouts, reports of a whole exam export) are left out and listed in
    ``ImportResult.skipped`` instead of failing the import.
    """
    report = progress or (lambda percent, message: None)
    source = Path(source)
    mapping = coerce_mapping(mapping)
    context = audit.acting_as(actor, reason="DICOM import") if actor is not None else contextlib.nullcontext()
    with context, source_files(source) as files:
        report(5, f"found {len(files)} files")
        if not files:
            raise fail(source.name, "no DICOM files found")
        problems = Problems()
        headers: dict[str, pydicom.Dataset] = {}
        for n, f in enumerate(files):
            ds, problem = read_header(f)
            if problem:
                problems.add(f.rel, problem)
            else:
                headers[f.rel] = ds
            if n % 50 == 0:
                report(5 + int(25 * n / len(files)), "reading headers")
        problems.raise_if_any()
        skipped = Skipped() if skip_unmapped else None
        if isinstance(mapping, MappingTable):
            pairs = [(f, headers[f.rel]) for f in files]
            strip_common_top(files, mapping)
            headers = {f.rel: ds for f, ds in pairs}
            planned = plan_from_table(files, headers, mapping, problems, skipped)
        else:
            planned = plan_from_rules(study, files, headers, mapping, problems, skipped)
        problems.raise_if_any()
        skipped_list = skipped.listing(headers) if skipped is not None else []
        if not planned:
            raise fail(source.name, f"the mapping names none of the {len(skipped_list)} series found; nothing to import")
        for p in planned:
            validate_series(p, headers, problems)
        sequences, arms, cases = validate_plan(study, planned, headers, create_cases, problems)
        problems.raise_if_any()
        report(30, f"validated {len(planned)} series")

        staging = make_staging_dir()
        try:
            staged: list[StagedSeries] = []
            groups: dict[tuple[str, str], list] = {}
            for p in planned:
                groups.setdefault((p.case, p.sequence), []).append(p)
            reference_arms = {name for name, arm in arms.items() if arm.is_reference}
            done = 0
            for group in groups.values():
                staged += stage_group(study, group, reference_arms, staging, problems)
                done += len(group)
                report(30 + int(60 * done / len(planned)), f"blinded {done} of {len(planned)} series")
            problems.raise_if_any()
            result = commit_staged(study, staged, sequences, arms, cases, series_source, source.name, skipped_list)
        finally:
            remove_staging(staging)
    report(100, f"imported {len(result.series)} series" + (f", skipped {len(result.skipped)}" if result.skipped else ""))
    return result




def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / UPLOAD_DIR_NAME


def store_upload(uploaded: IO[bytes], *, suffix: str = ".zip") -> Path:
    """Save an uploaded archive (a Django ``UploadedFile`` or any binary file object) for a job.

    Refuses more than ``IMPORT_MAX_ARCHIVE_BYTES``. The file gets a random name under
    ``VAR_DIR/import-uploads/``; :func:`import_job_run` deletes it when the job is finished.
    """
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{secrets.token_hex(16)}{suffix}"
    written = 0
    chunks = uploaded.chunks() if hasattr(uploaded, "chunks") else iter(lambda: uploaded.read(1024 * 1024), b"")
    try:
        with target.open("xb") as out:
            for chunk in chunks:
                written += len(chunk)
                if written > settings.IMPORT_MAX_ARCHIVE_BYTES:
                    raise fail("upload", f"the archive is larger than {settings.IMPORT_MAX_ARCHIVE_BYTES} bytes")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def import_job_create(
    *, study: Study, source_path: Path | str, mapping: Mapping, actor, skip_unmapped: bool = False
) -> ImportJob:
    """Store a queued ImportJob and enqueue its task once the transaction commits.

    ``skip_unmapped`` travels in the job's mapping JSON (it says how the mapping is applied).
    """
    from .tasks import import_job_task

    stored = mapping_to_json(mapping)
    if skip_unmapped:
        stored["skip_unmapped"] = True
    job = ImportJob(study=study, created_by=actor, source_path=str(source_path), mapping=stored)
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: import_job_task.delay(job.pk))
    return job


def import_job_run(job_id: int) -> None:
    """Run one ImportJob; safe to call twice (a finished job is left as it is)."""
    claimed = ImportJob.objects.filter(
        pk=job_id, state__in=[ImportJob.State.QUEUED, ImportJob.State.RUNNING]
    ).update(state=ImportJob.State.RUNNING, started_at=timezone.now(), progress=0, error="", errors=[], skipped=[])
    if not claimed:
        return
    job = ImportJob.objects.select_related("study", "created_by").get(pk=job_id)
    last = {"percent": -1}

    def progress(percent: int, message: str) -> None:
        if percent >= last["percent"] + 5:
            last["percent"] = percent
            ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(progress=min(percent, 99))

    try:
        mapping = mapping_from_json(job.mapping)
        result = import_dicom(
            study=job.study, source=Path(job.source_path), mapping=mapping, actor=job.created_by, progress=progress,
            skip_unmapped=bool(job.mapping.get("skip_unmapped")),
        )
    except DicomImportError as exc:
        # Only a running job turns failed: if a duplicate delivery already succeeded, it stays so.
        ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
            state=ImportJob.State.FAILED, error=str(exc), errors=exc.errors, finished_at=timezone.now()
        )
    except Exception as exc:  # noqa: BLE001 - recorded on the job for the coordinator, logged in full
        logger.exception("import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id, state=ImportJob.State.RUNNING).update(
            state=ImportJob.State.FAILED,
            error=f"internal error ({type(exc).__name__}); nothing was stored",
            errors=[],
            finished_at=timezone.now(),
        )
    else:
        ImportJob.objects.filter(pk=job_id).update(
            state=ImportJob.State.SUCCEEDED,
            progress=100,
            error="",
            errors=[],
            series_created=len(result.series),
            skipped=result.skipped,
            finished_at=timezone.now(),
        )
    finally:
        source = Path(job.source_path)
        if source.is_file() and source.parent.resolve() == upload_dir().resolve():
            source.unlink(missing_ok=True)


# --- the upload endpoint's side ----------------------------------------------------------------

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


def import_job_submit(
    *, study: Study, actor, archive=None, folder: str | None = None, mapping=None, rules=None, skip_unmapped: bool = False
) -> ImportJob:
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
    return import_job_create(study=study, source_path=source, mapping=parsed, actor=actor, skip_unmapped=skip_unmapped)
