"""Blinded copies written to a staging folder, then rows and files committed together (files are
moved into MEDIA_ROOT as the last step of the transaction; removed again if it fails)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from readerstudy.studies import audit
from readerstudy.studies.models import Arm, Case, Instance, Sequence, Series, Study, UIDMapping

from . import blinding
from .errors import Problems, fail
from .mapping import PlannedSeries


@dataclass
class StagedInstance:
    index: int
    staged: Path
    rel_path: str
    size: int
    sha256: str
    sop_uid: str
    original_sop_uid: str


@dataclass
class StagedSeries:
    plan: PlannedSeries
    uids: blinding.BlindedUIDs
    original_study_uid: str
    original_series_uid: str
    original_frame_uids: list[str]
    instances: list[StagedInstance]


def _opaque_rel_path() -> str:
    token = secrets.token_hex(16)
    return f"dicom/{token[:2]}/{token}.dcm"


def stage_series(
    p: PlannedSeries, sequence_name: str, staging: Path, problems: Problems
) -> StagedSeries | None:
    datasets: list[pydicom.Dataset] = []
    arrays: list[np.ndarray] = []
    for i in p.order:
        f = p.files[i]
        try:
            ds = pydicom.dcmread(f.path)
            if "PixelData" not in ds:
                problems.add(f.rel, "no pixel data")
                continue
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem
            problems.add(f.rel, f"pixel data unreadable: {exc}")
            continue
        if pixels.shape != (int(ds.Rows), int(ds.Columns)):
            problems.add(f.rel, f"pixel data has shape {pixels.shape}, expected {int(ds.Rows)}×{int(ds.Columns)}")
            continue
        datasets.append(ds)
        arrays.append(pixels)
    if len(datasets) != len(p.order):
        return None
    first = datasets[0]
    window = blinding.default_window(
        arrays, float(first.get("RescaleSlope", 1) or 1), float(first.get("RescaleIntercept", 0) or 0)
    )
    uids = blinding.BlindedUIDs(study=blinding.new_uid(), series=blinding.new_uid(), frame_of_reference=blinding.new_uid())
    uid_map = blinding.UIDMap()
    original_study = str(first.StudyInstanceUID) if "StudyInstanceUID" in first else ""
    original_series = str(first.SeriesInstanceUID)
    frames = sorted({str(ds.FrameOfReferenceUID) for ds in datasets if ds.get("FrameOfReferenceUID")})
    if original_study:
        uid_map[original_study] = uids.study
    uid_map[original_series] = uids.series
    for frame in frames:
        uid_map[frame] = uids.frame_of_reference
    staged = []
    for index, (ds, pixels) in enumerate(zip(datasets, arrays)):
        original_sop = str(ds.SOPInstanceUID)
        new_sop = uid_map.replace(original_sop)
        out = blinding.blind_dataset(
            ds,
            pixels=pixels,
            uids=uids,
            uid_map=uid_map,
            series_description=sequence_name,
            instance_number=index + 1,
            window=window,
        )
        buffer = io.BytesIO()
        out.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        rel = _opaque_rel_path()
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        staged.append(
            StagedInstance(index, target, rel, len(data), hashlib.sha256(data).hexdigest(), new_sop, original_sop)
        )
    return StagedSeries(p, uids, original_study, original_series, frames, staged)


def make_staging_dir() -> Path:
    base = Path(settings.MEDIA_ROOT) / ".staging"
    for _ in range(5):
        base.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(dir=base))
        except FileNotFoundError:  # another import removed the empty base meanwhile
            continue
    raise OSError(f"cannot create a staging folder under {base}")


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # only succeeds when no other import is staging


@dataclass
class ImportResult:
    """What an import stored."""

    series: list[Series]
    instances: int
    cases_created: list[str]


def commit_staged(
    study: Study,
    staged: list[StagedSeries],
    sequences: dict[str, Sequence],
    arms: dict[str, Arm],
    cases: dict[str, Case],
    series_source: str,
    source_name: str,
) -> ImportResult:
    media = Path(settings.MEDIA_ROOT)
    moved: list[Path] = []
    made_dirs: list[Path] = []
    created_cases: list[str] = []
    created_series: list[Series] = []
    n_instances = 0
    try:
        with transaction.atomic():
            for s in staged:
                p = s.plan
                case = cases.get(p.case)
                if case is None:
                    case = Case(study=study, label=p.case)
                    case.full_clean()
                    case.save()
                    cases[p.case] = case
                    created_cases.append(p.case)
                series = Series(
                    case=case,
                    sequence=sequences[p.sequence],
                    arm=arms[p.arm],
                    study_instance_uid=s.uids.study,
                    series_instance_uid=s.uids.series,
                    frame_of_reference_uid=s.uids.frame_of_reference,
                    original_series_instance_uid=s.original_series_uid,
                    source=series_source,
                    **p.geometry,
                )
                try:
                    series.full_clean()
                except ValidationError as exc:
                    raise fail(p.where, "; ".join(exc.messages)) from None
                series.save()
                created_series.append(series)
                Instance.objects.bulk_create(
                    [
                        Instance(
                            series=series,
                            index=i.index,
                            sop_instance_uid=i.sop_uid,
                            original_sop_instance_uid=i.original_sop_uid,
                            path=i.rel_path,
                            size_bytes=i.size,
                            sha256=i.sha256,
                        )
                        for i in s.instances
                    ]
                )
                n_instances += len(s.instances)
                mappings = [UIDMapping(series=series, kind=UIDMapping.Kind.SERIES, original_uid=s.original_series_uid, blinded_uid=s.uids.series)]
                if s.original_study_uid:
                    mappings.append(UIDMapping(series=series, kind=UIDMapping.Kind.STUDY, original_uid=s.original_study_uid, blinded_uid=s.uids.study))
                mappings += [
                    UIDMapping(series=series, kind=UIDMapping.Kind.FRAME_OF_REFERENCE, original_uid=f, blinded_uid=s.uids.frame_of_reference)
                    for f in s.original_frame_uids
                ]
                mappings += [
                    UIDMapping(series=series, kind=UIDMapping.Kind.INSTANCE, original_uid=i.original_sop_uid, blinded_uid=i.sop_uid)
                    for i in s.instances
                ]
                UIDMapping.objects.bulk_create(mappings)
            audit.record(
                action="event",
                object_type="studies.import",
                study_id=study.pk,
                summary=f"imported {len(created_series)} series ({n_instances} instances) from {source_name}"[:255],
                changes={
                    "series": [x.public_id for x in created_series],
                    "cases_created": created_cases,
                    "source": source_name,
                },
            )
            # Last step inside the transaction: files appear only together with their rows.
            for s in staged:
                for i in s.instances:
                    final = media / i.rel_path
                    for parent in reversed(final.relative_to(media).parents):
                        d = media / parent
                        if parent != Path(".") and not d.exists():
                            d.mkdir()
                            made_dirs.append(d)
                    if final.exists():
                        raise FileExistsError(f"{i.rel_path} exists")
                    os.replace(i.staged, final)
                    moved.append(final)
    except BaseException:
        for f in moved:
            with contextlib.suppress(OSError):
                f.unlink()
        for d in reversed(made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return ImportResult(series=created_series, instances=n_instances, cases_created=created_cases)

