"""Recon jobs: create (enqueue after commit) and run (idempotent, resumable).

A phantom job simulates its cases one at a time into a work folder and hands each case to the
study's DICOM import (:func:`readerstudy.imports.services.import_dicom`), which blinds the
series and stores them all-or-nothing; then the case's phantom ground truth goes into the
study's reference standard (source ``phantom``). A case whose series are all in the study is
skipped, so running a job twice, or again after a worker was killed mid-job, creates no
duplicate and no half-written series.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.utils import InterfaceError, OperationalError
from django.db import transaction

from readerstudy.jobs.lifecycle import job_fail, job_finish, job_heartbeat, job_progress, job_running
from readerstudy.studies.models import Series, Study
from recon import export
from recon.models import ReconJob
from recon.pipeline import TRUTH_ARM, available_arms
from recon.protocols import DEFAULT_PROTOCOL_SET, protocol_set as load_protocol_set

log = logging.getLogger(__name__)

_PARAMETER_KEYS = {"cases", "seed", "first_case", "protocol_set", "sequences", "arms", "recon_matrix", "slices", "spacing_mm"}


def _study_arms_for(study: Study, protocol_set: str, arms: list[str] | None) -> list[str]:
    protocols = load_protocol_set(protocol_set)
    possible = available_arms(protocols[0])
    study_arms = set(study.arms.values_list("name", flat=True))
    if arms:
        unknown = [a for a in arms if a not in possible]
        if unknown:
            raise ValidationError(f"the recon worker cannot make arms {unknown}; it makes {possible}")
        missing = [a for a in arms if a not in study_arms]
        if missing:
            raise ValidationError(f"arms {missing} do not exist in study {study.name!r}")
        return list(arms)
    # Default: every arm the worker can make that the study has, except Truth (never read).
    chosen = [a for a in possible if a in study_arms and a != TRUTH_ARM]
    if not chosen:
        raise ValidationError(f"study {study.name!r} has none of the arms {possible}")
    return chosen


def _sequences_for(study: Study, protocol_set: str, sequences: list[str] | None) -> list[str]:
    names = [p.name for p in load_protocol_set(protocol_set)]
    study_seqs = set(study.sequences.values_list("name", flat=True))
    wanted = list(sequences) if sequences else [n for n in names if n in study_seqs]
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise ValidationError(f"protocol set {protocol_set!r} has no sequences {unknown}")
    missing = [s for s in wanted if s not in study_seqs]
    if missing:
        raise ValidationError(f"sequences {missing} do not exist in study {study.name!r}")
    if not wanted:
        raise ValidationError(f"study {study.name!r} has none of the sequences {names}")
    return wanted


def recon_job_create(
    *, study: Study, actor, cases: int, seed: int, first_case: int = 0,
    protocol_set: str = DEFAULT_PROTOCOL_SET, sequences: list[str] | None = None,
    arms: list[str] | None = None, recon_matrix: int | None = None, slices: int | None = None,
    spacing_mm: float = 0.8, enqueue: bool = True,
) -> ReconJob:
    """Validate the request against the study design, store a queued job and enqueue it after
    the surrounding transaction commits."""
    if cases < 1 or cases > 500:
        raise ValidationError("cases must be between 1 and 500")
    try:
        seq_names = _sequences_for(study, protocol_set, sequences)
        arm_names = _study_arms_for(study, protocol_set, arms)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    job = ReconJob(
        study=study, created_by=actor, kind=ReconJob.Kind.PHANTOM,
        parameters={
            "cases": int(cases), "seed": int(seed), "first_case": int(first_case), "protocol_set": protocol_set,
            "sequences": seq_names, "arms": arm_names, "recon_matrix": recon_matrix, "slices": slices,
            "spacing_mm": float(spacing_mm),
        },
    )
    job.full_clean()
    job.save()
    if enqueue:
        from recon.tasks import recon_job_task

        transaction.on_commit(lambda: recon_job_task.delay(job.pk))
    return job


def _update(job_id: int, *, progress: int | None = None, message: str = "", **fields: Any) -> None:
    """Where the job is (the heartbeat of the job lifecycle, with progress and message)."""
    if progress is None:
        job_heartbeat(ReconJob, job_id, **({"message": message[:255]} if message else {}), **fields)
    else:
        job_progress(ReconJob, job_id, progress, message, **fields)


def _work_dir(job: ReconJob) -> Path:
    return Path(settings.MEDIA_ROOT) / "recon_work" / job.public_id


def _case_done(study: Study, label: str, sequences: list[str], arms: list[str]) -> bool:
    have = set(
        Series.objects.filter(case__study=study, case__label=label).values_list("sequence__name", "arm__name")
    )
    wanted = {(s, a) for s in sequences for a in arms}
    if have & wanted and not wanted <= have:
        raise ValidationError(
            f"case {label} already has some but not all of the series this job makes "
            f"(missing {sorted(wanted - have)}); use another first_case or remove the case"
        )
    return wanted <= have


def recon_job_run(job_id: int) -> ReconJob:
    """Run (or resume) a job through the job lifecycle (:func:`readerstudy.jobs.lifecycle.job_running`:
    claim, heartbeat, temporary folder). A finished job is left alone, and so is a job another live
    worker is running (a duplicate delivery); a job whose worker died resumes where it stopped."""
    with job_running(ReconJob, job_id) as job:
        if job is not None:
            _run(job)
    return ReconJob.objects.get(pk=job_id)


def _run(job: ReconJob) -> None:
    from readerstudy.imports.errors import DicomImportError
    from readerstudy.imports.services import import_dicom
    from readerstudy.studies.services import reference_standard_import

    p = job.parameters
    unknown = set(p) - (_PARAMETER_KEYS if job.kind == ReconJob.Kind.PHANTOM else _REAL_PARAMETER_KEYS)
    study = job.study
    work = _work_dir(job)
    created = list(job.result.get("series_created", []))
    try:
        if job.kind != ReconJob.Kind.PHANTOM:
            if unknown:
                raise ValidationError(f"unknown job parameters {sorted(unknown)}")
            job_finish(ReconJob, job.pk, message="done", result=_run_real(job, work, created), error="")
            return
        if unknown:
            raise ValidationError(f"unknown job parameters {sorted(unknown)}")
        n = int(p["cases"])
        for i in range(p.get("first_case", 0), p.get("first_case", 0) + n):
            label = export.case_label(i)
            done_before = _case_done(study, label, p["sequences"], p["arms"])
            _update(job.pk, message=f"case {label}: {'already imported' if done_before else 'simulating'}")
            rows, reference, _ = (None, None, None)
            if not done_before:
                case_dir = work / label
                shutil.rmtree(case_dir, ignore_errors=True)  # leftovers of a killed attempt
                rows, reference, _ = export.export_case(
                    case_dir, label, export.case_seed(p["seed"], i), protocol_set=p["protocol_set"],
                    sequences=p["sequences"], arms=p["arms"], recon_matrix=p.get("recon_matrix"),
                    slices=p.get("slices"), spacing_mm=p.get("spacing_mm", 0.8),
                )
                export.write_manifest(case_dir, rows)
                _update(job.pk, message=f"case {label}: importing")
                try:
                    result = import_dicom(
                        study=study, source=case_dir, mapping=case_dir / "manifest.csv", actor=job.created_by,
                        series_source="phantom",
                    )
                    created += [s.public_id for s in result.series]
                except DicomImportError:
                    # A concurrent run of the same job may have imported this case meanwhile.
                    if not _case_done(study, label, p["sequences"], p["arms"]):
                        raise
                shutil.rmtree(case_dir, ignore_errors=True)
            else:
                from recon.phantom import case_findings

                reference = [(label, f.level, f.finding, f.present) for f in case_findings(export.case_seed(p["seed"], i))]
            reference_standard_import(
                study=study, source="phantom",
                rows=[{"case": c, "level": lv, "finding": f, "present": pr, "source": "phantom"} for c, lv, f, pr in reference],
            )
            done = i - p.get("first_case", 0) + 1
            _update(job.pk, progress=int(100 * done / n), result={"series_created": created, "cases_done": done})
        job_finish(ReconJob, job.pk, message="done", result={"series_created": created, "cases_done": n}, error="")
    except (ValidationError, ValueError, DicomImportError) as exc:
        detail = getattr(exc, "errors", None) or getattr(exc, "messages", None) or [str(exc)]
        log.warning("recon job %s failed: %s", job.pk, detail)
        error = "; ".join(str(d) for d in detail) if isinstance(detail, list) else str(detail)
        job_fail(ReconJob, job.pk, error, result={**ReconJob.objects.get(pk=job.pk).result, "series_created": created})
    except (OperationalError, InterfaceError, ConnectionError):
        raise  # the task retries these; the job resumes with the cases not yet imported
    except Exception as exc:  # noqa: BLE001 - any other error must not leave the job "running" forever
        log.exception("recon job %s failed with an internal error", job.pk)
        job_fail(ReconJob, job.pk, f"internal error ({type(exc).__name__}: {exc}); the cases imported before it are complete",
                 result={"series_created": created})
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Real data: imported Standard / Fast series, raw k-space files

_REAL_PARAMETER_KEYS = {"items", "arms", "protocol_set", "noise_sd", "background_roi", "seed"}
REAL_KIND_ARMS = {
    "standard": ["Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"],
    "fast": ["Fast-DL25", "Fast-DL50", "Fast-DL75"],
    "kspace": ["Standard", "Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"],
}


def raw_root() -> Path:
    """Where raw k-space files are dropped for jobs (``RECON_RAW_ROOT``, default MEDIA_ROOT/raw)."""
    return Path(os.environ.get("RECON_RAW_ROOT") or Path(settings.MEDIA_ROOT) / "raw")


def _raw_path(rel: str) -> Path:
    root = raw_root().resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.is_file():
        raise ValidationError(f"raw file {rel!r} is not a file under the raw-data folder {root}")
    return path


def recon_job_create_real(
    *, study: Study, actor, kind: str, series: list[str] | None = None, raw_files: list[dict] | None = None,
    arms: list[str] | None = None, protocol_set: str = DEFAULT_PROTOCOL_SET, noise_sd: float | None = None,
    background_roi: dict | None = None, seed: int = 0, enqueue: bool = True,
) -> ReconJob:
    """A job that makes arms from real data: ``kind`` ``standard`` or ``fast`` with imported
    series (public ids), or ``kspace`` with raw files (``[{"path", "case", "sequence"}]``, paths
    under :func:`raw_root`). Validated against the study; enqueued after commit."""
    from recon.noise import check_noise_sd
    from recon.protocols import get_protocol

    if kind not in REAL_KIND_ARMS:
        raise ValidationError(f"kind must be one of {sorted(REAL_KIND_ARMS)}, not {kind!r}")
    if noise_sd is not None:
        try:
            noise_sd = check_noise_sd(noise_sd)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
    possible = REAL_KIND_ARMS[kind]
    study_arms = set(study.arms.values_list("name", flat=True))
    wanted = list(arms) if arms else [a for a in possible if a in study_arms]
    bad = [a for a in wanted if a not in possible]
    if bad:
        raise ValidationError(f"a {kind} job cannot make arms {bad}; it makes {possible}")
    missing = [a for a in wanted if a not in study_arms]
    if missing:
        raise ValidationError(f"arms {missing} do not exist in study {study.name!r}")
    if not wanted:
        raise ValidationError(f"study {study.name!r} has none of the arms a {kind} job makes ({possible})")
    items = []
    if kind in ("standard", "fast"):
        if not series:
            raise ValidationError("choose at least one imported series")
        found = {s.public_id: s for s in Series.objects.filter(case__study=study, public_id__in=series).select_related("case", "sequence", "arm")}
        unknown = [s for s in series if s not in found]
        if unknown:
            raise ValidationError(f"series {unknown} are not in study {study.name!r}")
        for sid in series:
            s = found[sid]
            if kind == "standard":
                try:
                    protocol = get_protocol(s.sequence.name, protocol_set)
                except ValueError as exc:
                    raise ValidationError(f"series {sid} ({s.case.label}, {s.sequence.name}): {exc}") from exc
                if protocol.arm("Fast").acceleration > 1:
                    raise ValidationError(
                        f"{protocol.protocol_set}/{protocol.name}: the Fast uses parallel imaging, which cannot be simulated "
                        "from magnitude images (coil sensitivities are gone); use raw k-space or a scanner Fast")
            items.append({"series": sid})
    else:
        if not raw_files:
            raise ValidationError("give at least one raw file")
        study_seqs = set(study.sequences.values_list("name", flat=True))
        for f in raw_files:
            if not {"path", "case", "sequence"} <= set(f):
                raise ValidationError("each raw file needs path, case and sequence")
            _raw_path(f["path"])
            if f["sequence"] not in study_seqs:
                raise ValidationError(f"sequence {f['sequence']!r} does not exist in study {study.name!r}")
            items.append({"raw": f["path"], "case": f["case"], "sequence": f["sequence"]})
    if background_roi is not None:
        try:
            r0, r1 = (int(x) for x in background_roi["rows"])
            c0, c1 = (int(x) for x in background_roi["cols"])
        except (KeyError, TypeError, ValueError):
            raise ValidationError("background_roi must be {'rows': [r0, r1], 'cols': [c0, c1]}") from None
        if not (0 <= r0 < r1 and 0 <= c0 < c1):
            raise ValidationError("background_roi: empty or negative ranges")
        background_roi = {"rows": [r0, r1], "cols": [c0, c1]}
    job = ReconJob(
        study=study, created_by=actor, kind=kind,
        parameters={"items": items, "arms": wanted, "protocol_set": protocol_set, "noise_sd": noise_sd,
                    "background_roi": background_roi, "seed": int(seed)},
    )
    job.full_clean()
    job.save()
    if enqueue:
        from recon.tasks import recon_job_task

        transaction.on_commit(lambda: recon_job_task.delay(job.pk))
    return job


def _targets_done(study: Study, label: str, sequence: str, arms: list[str]) -> bool:
    return _case_done(study, label, [sequence], arms)


def _run_real(job: ReconJob, work: Path, created: list[str]) -> dict:
    """Each item (series or raw file) -> recon_series into the work folder -> import. Progress
    and the noise used are recorded per item; items already imported are skipped."""
    import numpy as np

    from readerstudy.imports.errors import DicomImportError
    from readerstudy.imports.services import import_dicom
    from recon.realdata import recon_series

    p = job.parameters
    study = job.study
    items = p["items"]
    per_item = dict(job.result.get("items", {}))
    n = len(items)
    for i, item in enumerate(items):
        key = item.get("series") or item["raw"]
        if job.kind == ReconJob.Kind.KSPACE:
            label, sequence, source = item["case"], item["sequence"], _raw_path(item["raw"])
        else:
            s = Series.objects.select_related("case", "sequence").get(public_id=item["series"], case__study=study)
            label, sequence, source = s.case.label, s.sequence.name, None
        where = f"{i + 1}/{n} ({label}, {sequence})"
        if _targets_done(study, label, sequence, p["arms"]):
            _update(job.pk, message=f"series {where}: already made", progress=int(100 * (i + 1) / n))
            continue
        item_dir = work / f"{i:04d}"
        shutil.rmtree(item_dir, ignore_errors=True)  # leftovers of a killed attempt
        item_dir.mkdir(parents=True)
        if source is None:
            source = item_dir / "source"
            source.mkdir()
            for inst in s.instances.order_by("index"):
                shutil.copyfile(Path(settings.MEDIA_ROOT) / inst.path, source / f"{inst.index:05d}.dcm")
        mask = None
        roi = p.get("background_roi")
        if roi and job.kind == ReconJob.Kind.STANDARD:
            import pydicom

            first = pydicom.dcmread(next(iter(sorted(source.iterdir()))), stop_before_pixels=True)
            mask = np.zeros((s.num_instances, int(first.Rows), int(first.Columns)), bool)
            mask[:, roi["rows"][0] : roi["rows"][1], roi["cols"][0] : roi["cols"][1]] = True

        def progress(pct: int, msg: str, i=i, where=where) -> None:
            _update(job.pk, message=f"series {where}: {msg}", progress=int(100 * (i + pct / 100) / n))

        out = item_dir / "out"
        try:
            rows = recon_series(source, out, kind=job.kind, sequence=sequence, protocol_set_name=p["protocol_set"],
                                noise_sd=p.get("noise_sd"), case=label, seed=p.get("seed", 0), background_mask=mask,
                                progress=progress, arms=p["arms"])
        except ValueError as exc:
            raise ValidationError(f"series {where}: {exc}") from exc
        info = json.loads((out / "recon.json").read_text())
        keep = rows
        mapping = out / "manifest.csv"
        _update(job.pk, message=f"series {where}: importing")
        try:
            result = import_dicom(study=study, source=out, mapping=mapping, actor=job.created_by, series_source="recon")
            created += [x.public_id for x in result.series]
        except DicomImportError:
            if not _targets_done(study, label, sequence, p["arms"]):
                raise
        per_item[key] = {"case": label, "sequence": sequence, "arms": [r["arm"] for r in keep],
                         "noise_sd": info.get("noise_sd"), "noise_method": info.get("noise_method"),
                         "bits_stored": info.get("bits_stored")}
        shutil.rmtree(item_dir, ignore_errors=True)
        _update(job.pk, progress=int(100 * (i + 1) / n),
                result={"series_created": created, "items": per_item, "items_done": i + 1})
    return {"series_created": created, "items": per_item, "items_done": n}
