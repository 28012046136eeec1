"""Validation of a planned import before anything is written: one series is one stack of one
patient with uniform geometry; names exist in the study; nothing is imported twice."""

from __future__ import annotations

import numpy as np
import pydicom

from readerstudy.studies.models import Arm, Case, Sequence, Series, Study

from .decoding import transfer_syntax_problem
from .errors import Problems
from .frames import Frame, FrameError, frames_of
from .mapping import PlannedSeries

SPACING_TOLERANCE_MM = 1e-3
ORIENTATION_TOLERANCE = 1e-4

PIXEL_MODULE = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")


def _file_frames(f, ds: pydicom.Dataset, problems: Problems) -> list[Frame] | None:
    """The frames of one file, or None after adding the file's problem."""
    modality = str(ds.get("Modality", "") or "")
    if modality.upper() != "MR":
        problems.add(f.rel, f"modality is {modality or 'missing'}, expected MR")
        return None
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    problem = transfer_syntax_problem(syntax) if syntax else None
    if problem:
        problems.add(f.rel, problem)
        return None
    missing = [k for k in PIXEL_MODULE if k not in ds or ds[k].value in (None, "", [])]
    if missing:
        problems.add(f.rel, f"broken or incomplete DICOM file: missing {', '.join(missing)}")
        return None
    if int(ds.BitsAllocated) not in (8, 16):
        problems.add(f.rel, f"BitsAllocated {ds.BitsAllocated} is not supported (8 or 16)")
        return None
    try:
        frames = frames_of(ds)
    except FrameError as exc:
        problems.add(f.rel, str(exc))
        return None
    if len(frames) > 1 and not _one_stack(f.rel, frames, problems):
        return None
    return frames


def _normal(orientation) -> np.ndarray:
    return np.cross(np.array(orientation[:3]), np.array(orientation[3:]))


def _one_stack(rel: str, frames: list[Frame], problems: Problems) -> bool:
    """A multi-frame object must hold one stack: one orientation, one frame per position."""
    orientations = {tuple(round(v, 4) for v in fr.orientation) for fr in frames}
    if len(orientations) > 1:
        problems.add(
            rel,
            f"multi-frame object with {len(frames)} frames in {len(orientations)} orientations: several stacks "
            "in one object; export each stack as its own series",
        )
        return False
    normal = _normal(frames[0].orientation)
    distances = sorted(round(float(np.dot(fr.position, normal)) / SPACING_TOLERANCE_MM) for fr in frames)
    distinct = len(set(distances))
    if distinct != len(frames):
        problems.add(
            rel,
            f"multi-frame object with {len(frames)} frames at only {distinct} distinct slice positions: several "
            "stacks, echoes or phases in one object; export each as its own series",
        )
        return False
    return True


def validate_series(p: PlannedSeries, headers: dict[str, pydicom.Dataset], problems: Problems) -> None:
    hs = [headers[f.rel] for f in p.files]
    p.headers = hs
    per_file: list[list[Frame]] = []
    for f, ds in zip(p.files, hs):
        frames = _file_frames(f, ds, problems)
        if frames is not None:
            per_file.append(frames)
    if len(per_file) != len(p.files):
        return
    ok = True
    ref = hs[0]
    ref_file = p.files[0].rel
    uids = {str(ds.SeriesInstanceUID) for ds in hs}
    if len(uids) > 1:
        problems.add(
            p.where, f"holds {len(uids)} different series (SeriesInstanceUID); map each one by its own path or UID"
        )
        return
    ref_patient = (str(ref.get("PatientID", "")), str(ref.get("PatientName", "")))
    ref_frame = per_file[0][0]
    ref_orient = ref_frame.orientation
    items: list[tuple[int, Frame]] = []
    for i, (f, ds, frames) in enumerate(zip(p.files, hs, per_file)):
        if (str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))) != ref_patient:
            problems.add(f.rel, f"patient differs from {ref_file}: a series must hold one patient")
            ok = False
        for fr in frames:
            where = f.rel if len(frames) == 1 else f"{f.rel} frame {fr.number}" + (f" tile {fr.tile + 1}" if fr.tile is not None else "")
            if (fr.rows, fr.columns) != (ref_frame.rows, ref_frame.columns):
                problems.add(where, f"{fr.rows}×{fr.columns} pixels differs from {ref_frame.rows}×{ref_frame.columns} in {ref_file}")
                ok = False
            elif max(abs(a - b) for a, b in zip(fr.pixel_spacing, ref_frame.pixel_spacing)) > SPACING_TOLERANCE_MM:
                problems.add(where, f"pixel spacing {list(fr.pixel_spacing)} differs from {list(ref_frame.pixel_spacing)} in {ref_file}")
                ok = False
            elif max(abs(a - b) for a, b in zip(fr.orientation, ref_orient)) > ORIENTATION_TOLERANCE:
                problems.add(where, f"image orientation differs from {ref_file}")
                ok = False
            else:
                items.append((i, fr))
            if not ok:
                break
    if not ok:
        return
    normal = _normal(ref_orient)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        problems.add(ref_file, "ImageOrientationPatient is not two orthogonal unit vectors")
        return

    def label(item: tuple[int, Frame]) -> str:
        i, fr = item
        rel = p.files[i].rel
        return rel if len(per_file[i]) == 1 else f"{rel} frame {fr.number}" + (f" tile {fr.tile + 1}" if fr.tile is not None else "")

    distances = np.array([float(np.dot(fr.position, normal)) for _, fr in items])
    order = list(np.argsort(distances, kind="stable"))
    sorted_d = distances[order]
    if len(sorted_d) > 1:
        gaps = np.diff(sorted_d)
        if np.any(gaps < SPACING_TOLERANCE_MM):
            dup = int(np.argmin(gaps))
            problems.add(
                label(items[order[dup + 1]]),
                f"same slice position as {label(items[order[dup]])} (several echoes, phases or series in one?)",
            )
            return
        median = float(np.median(gaps))
        if np.max(np.abs(gaps - median)) > max(0.01, 0.01 * median):
            problems.add(p.where, f"slice spacing along the normal is not uniform ({gaps.min():.3f}–{gaps.max():.3f} mm)")
            return
    if p.expected_slices is not None and p.expected_slices != len(items):
        problems.add(p.where, f"{len(items)} images, the mapping says slices={p.expected_slices}")
        return
    p.frames = [items[int(i)] for i in order]
    thickness = ref_frame.thickness_mm
    p.geometry = {
        "rows": ref_frame.rows,
        "columns": ref_frame.columns,
        "pixel_spacing_mm": [round(v, 6) for v in ref_frame.pixel_spacing],
        "slice_thickness_mm": thickness,
        "image_orientation": [round(v, 6) for v in ref_orient],
        "num_instances": len(items),
    }


def validate_plan(
    study: Study, planned: list[PlannedSeries], headers: dict[str, pydicom.Dataset], create_cases: bool, problems: Problems
) -> tuple[dict[str, Sequence], dict[str, Arm], dict[str, Case]]:
    sequences = {s.name: s for s in study.sequences.all()}
    arms = {a.name: a for a in study.arms.all()}
    cases = {c.label: c for c in study.cases.all()}
    keys: dict[tuple[str, str, str], str] = {}
    for p in planned:
        key = (p.case, p.sequence, p.arm)
        if p.sequence not in sequences:
            known = ", ".join(sorted(sequences)) or "none"
            problems.add(p.where, f"unknown sequence {p.sequence!r} (the study has: {known})")
        if p.arm not in arms:
            known = ", ".join(sorted(arms)) or "none"
            problems.add(p.where, f"unknown arm {p.arm!r} (the study has: {known})")
        if p.case not in cases and not create_cases:
            problems.add(p.where, f"unknown case {p.case!r} (cases are not created by this import)")
        if len(p.case) > Case._meta.get_field("label").max_length:
            problems.add(p.where, f"case label {p.case!r} is too long")
        if key in keys:
            problems.add(p.where, f"{'/'.join(key)} is also assigned to {keys[key]}")
        keys[key] = p.where
        identities = set()
        for f in p.files:
            ds = headers[f.rel]
            identities |= {str(ds.get("PatientID", "")).strip(), str(ds.get("PatientName", "")).strip()}
        if p.case.strip() in identities - {""}:
            problems.add(p.where, f"case label {p.case!r} is the patient's name or ID; use a pseudonym")
    existing = set(
        Series.objects.filter(case__study=study).values_list("case__label", "sequence__name", "arm__name")
    )
    for p in planned:
        if (p.case, p.sequence, p.arm) in existing:
            problems.add(p.where, f"{p.case}/{p.sequence}/{p.arm} already has a series in this study")
    originals = {str(headers[p.files[0].rel].SeriesInstanceUID): p for p in planned}
    for uid in Series.objects.filter(case__study=study, original_series_instance_uid__in=list(originals)).values_list(
        "original_series_instance_uid", flat=True
    ):
        problems.add(originals[uid].where, "this series (SeriesInstanceUID) was already imported into the study")
    sop_seen: dict[str, str] = {}
    for p in planned:
        for f in p.files:
            sop = str(headers[f.rel].SOPInstanceUID)
            if sop in sop_seen:
                problems.add(f.rel, f"same SOPInstanceUID as {sop_seen[sop]}")
            sop_seen[sop] = f.rel
    return sequences, arms, cases

