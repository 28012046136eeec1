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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from readerstudy.studies import audit
from readerstudy.studies.models import Arm, Case, Instance, Sequence, Series, Study, UIDMapping

from . import blinding
from .decoding import ALWAYS_LOSSY, LOSSY_METHOD_BY_SYNTAX
from .errors import Problems, fail
from .frames import FrameError, frame_pixels
from .mapping import PlannedSeries
from .representation import (
    FrameValues,
    Representation,
    common_representation,
    default_window,
    own_representation,
    to_stored,
)


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


@dataclass
class _DecodedSeries:
    plan: PlannedSeries
    datasets: dict[int, pydicom.Dataset]  # file index -> full dataset (pixel data kept encoded)
    values: list[FrameValues]  # in the order of plan.frames
    lossy: dict[int, blinding.LossyHistory]


def _compression_ratio(ds: pydicom.Dataset) -> float | None:
    raw = ds.get("PixelData")
    if raw is None or not raw:
        return None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    expanded = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8 * frames
    return expanded / len(raw) if len(raw) else None


def _decode_series(p: PlannedSeries, problems: Problems) -> _DecodedSeries | None:
    datasets: dict[int, pydicom.Dataset] = {}
    arrays: dict[int, list[np.ndarray]] = {}
    wanted: dict[int, list] = {}
    for i, fr in p.frames:
        wanted.setdefault(i, []).append(fr)
    ok = True
    for i, frames in wanted.items():
        f = p.files[i]
        try:
            ds = pydicom.dcmread(f.path)
            if "PixelData" not in ds:
                problems.add(f.rel, "no pixel data")
                ok = False
                continue
            array = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem
            problems.add(f.rel, f"pixel data unreadable: {exc}")
            ok = False
            continue
        try:
            arrays[i] = frame_pixels(array, frames, rows=int(ds.Rows), columns=int(ds.Columns))
        except FrameError as exc:
            problems.add(f.rel, str(exc))
            ok = False
            continue
        datasets[i] = ds
    if not ok:
        return None
    values: list[FrameValues] = []
    taken = {i: 0 for i in arrays}
    for i, fr in p.frames:
        values.append(FrameValues(arrays[i][taken[i]], fr.slope, fr.intercept))
        taken[i] += 1
    lossy = {}
    for i, ds in datasets.items():
        syntax = str(ds.file_meta.TransferSyntaxUID)
        method = LOSSY_METHOD_BY_SYNTAX.get(syntax)
        lossy[i] = blinding.lossy_history(
            ds, syntax=syntax, lossy_method=method, always_lossy=syntax in ALWAYS_LOSSY,
            ratio=_compression_ratio(ds) if method else None,
        )
        # Keep headers, drop the (possibly large) pixel data: the decoded values are kept instead.
        del ds.PixelData
    return _DecodedSeries(p, datasets, values, lossy)


def _stored_profile(study: Study, case: str, sequence: str) -> blinding.SeriesProfile | None:
    """The profile the reference arm of ``case`` × ``sequence`` was stored with, if it was."""
    first = (
        Instance.objects.filter(
            series__case__study=study, series__case__label=case, series__sequence__name=sequence,
            series__arm__is_reference=True, index=0,
        )
        .values_list("path", flat=True)
        .first()
    )
    if not first:
        return None
    try:
        ds = pydicom.dcmread(Path(settings.MEDIA_ROOT) / first, stop_before_pixels=True)
        return blinding.SeriesProfile(
            window=(float(ds.WindowCenter), float(ds.WindowWidth)),
            scanning_sequence=blinding._multi(ds.get("ScanningSequence")) or ("SE",),
            sequence_variant=blinding._multi(ds.get("SequenceVariant")) or ("NONE",),
        )
    except Exception:  # noqa: BLE001 - an unreadable stored file: fall back to the arm's own
        return None


def _profile_from(decoded: _DecodedSeries) -> blinding.SeriesProfile:
    first = decoded.datasets[decoded.plan.frames[0][0]]
    scanning, variant = blinding.mr_type1_of(first)
    return blinding.SeriesProfile(window=default_window(decoded.values), scanning_sequence=scanning, sequence_variant=variant)


def stage_group(
    study: Study,
    group: list[PlannedSeries],
    reference_arms: set[str],
    staging: Path,
    problems: Problems,
) -> list[StagedSeries]:
    """Decode, normalise and write the blinded copies of the arms of one case × sequence.

    All arms get one representation (:func:`common_representation`) and the reference arm's
    profile: from the reference series in this import, else from the one already stored, else
    (no reference yet) each arm its own, which the publish checklist then reports.
    """
    decoded = [d for d in (_decode_series(p, problems) for p in group) if d is not None]
    if len(decoded) != len(group):
        return []
    common = common_representation([d.values for d in decoded])
    reps: dict[int, Representation] = {}
    for n, d in enumerate(decoded):
        if common is not None:
            reps[n] = common
            continue
        first = d.datasets[d.plan.frames[0][0]]
        own = own_representation(
            d.values, bits_stored=int(first.get("BitsStored", 16) or 16), signed=int(first.get("PixelRepresentation", 0)) == 1
        )
        if own is None:
            problems.add(d.plan.where, "the frames' rescale values cannot be stored losslessly in one 16-bit representation")
            return []
        reps[n] = own
    references = [d for d in decoded if d.plan.arm in reference_arms]
    shared = _profile_from(references[0]) if references else _stored_profile(study, group[0].case, group[0].sequence)
    out = []
    for n, d in enumerate(decoded):
        out.append(_write_series(d, reps[n], shared or _profile_from(d), staging))
    return out


def _write_series(d: _DecodedSeries, rep: Representation, profile: blinding.SeriesProfile, staging: Path) -> StagedSeries:
    p = d.plan
    first = d.datasets[p.frames[0][0]]
    uids = blinding.BlindedUIDs(study=blinding.new_uid(), series=blinding.new_uid(), frame_of_reference=blinding.new_uid())
    original_study = str(first.StudyInstanceUID) if "StudyInstanceUID" in first else ""
    original_series = str(first.SeriesInstanceUID)
    frames_of_reference = sorted({str(ds.FrameOfReferenceUID) for ds in d.datasets.values() if ds.get("FrameOfReferenceUID")})
    staged = []
    for index, ((i, frame), values) in enumerate(zip(p.frames, d.values)):
        ds = d.datasets[i]
        sop_uid = blinding.new_uid()
        out = blinding.blind_frame(
            ds,
            frame=frame,
            stored=to_stored(values, rep),
            representation=rep,
            profile=profile,
            lossy=d.lossy[i],
            uids=uids,
            sop_instance_uid=sop_uid,
            series_description=p.sequence,
            instance_number=index + 1,
        )
        buffer = io.BytesIO()
        out.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        rel = _opaque_rel_path()
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        staged.append(
            StagedInstance(index, target, rel, len(data), hashlib.sha256(data).hexdigest(), sop_uid, str(ds.SOPInstanceUID))
        )
    return StagedSeries(p, uids, original_study, original_series, frames_of_reference, staged)


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
    skipped: list[dict] = field(default_factory=list)  # [{series_description, modality, images, folder}]


def commit_staged(
    study: Study,
    staged: list[StagedSeries],
    sequences: dict[str, Sequence],
    arms: dict[str, Arm],
    cases: dict[str, Case],
    series_source: str,
    source_name: str,
    skipped: list[dict] | None = None,
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
                # A multi-frame original maps to its first frame's instance (the rest share its UID).
                first_by_original: dict[str, str] = {}
                for i in s.instances:
                    first_by_original.setdefault(i.original_sop_uid, i.sop_uid)
                mappings += [
                    UIDMapping(series=series, kind=UIDMapping.Kind.INSTANCE, original_uid=o, blinded_uid=b)
                    for o, b in first_by_original.items()
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
                    "skipped": [{"series_description": s["series_description"], "images": s["images"]} for s in skipped or []],
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
    return ImportResult(series=created_series, instances=n_instances, cases_created=created_cases, skipped=list(skipped or []))

