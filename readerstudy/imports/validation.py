"""Validation of a planned import before anything is written: one series is one stack of one
patient with uniform geometry; names exist in the study; nothing is imported twice."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.uid import MRImageStorage

from readerstudy.studies.models import Arm, Case, Sequence, Series, Study

from .errors import Problems
from .headers import floats
from .mapping import PlannedSeries

ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
SPACING_TOLERANCE_MM = 1e-3
ORIENTATION_TOLERANCE = 1e-4

def validate_series(p: PlannedSeries, headers: dict[str, pydicom.Dataset], problems: Problems) -> None:
    hs = [headers[f.rel] for f in p.files]
    p.headers = hs
    ok = True
    ref = hs[0]
    ref_file = p.files[0].rel
    for f, ds in zip(p.files, hs):
        if str(ds.Modality).upper() != "MR":
            problems.add(f.rel, f"modality is {ds.Modality!s}, expected MR")
            ok = False
            continue
        if ds.SOPClassUID == ENHANCED_MR_STORAGE or int(ds.get("NumberOfFrames", 1) or 1) > 1:
            problems.add(f.rel, "enhanced multi-frame MR is not supported; export single-frame MR images")
            ok = False
            continue
        if ds.SOPClassUID != MRImageStorage:
            problems.add(f.rel, f"SOP class {ds.SOPClassUID} is not MR Image Storage")
            ok = False
            continue
        if int(ds.SamplesPerPixel) != 1 or str(ds.PhotometricInterpretation) not in {"MONOCHROME1", "MONOCHROME2"}:
            problems.add(f.rel, f"not a grayscale image ({ds.PhotometricInterpretation})")
            ok = False
        if int(ds.BitsAllocated) not in (8, 16):
            problems.add(f.rel, f"BitsAllocated {ds.BitsAllocated} is not supported (8 or 16)")
            ok = False
    if not ok:
        return
    uids = {str(ds.SeriesInstanceUID) for ds in hs}
    if len(uids) > 1:
        problems.add(
            p.where, f"holds {len(uids)} different series (SeriesInstanceUID); map each one by its own path or UID"
        )
        return
    ref_patient = (str(ref.get("PatientID", "")), str(ref.get("PatientName", "")))
    ref_spacing = floats(ref.PixelSpacing, 2)
    ref_orient = floats(ref.ImageOrientationPatient, 6)
    if ref_spacing is None or ref_orient is None or min(ref_spacing) <= 0:
        problems.add(ref_file, "PixelSpacing or ImageOrientationPatient is malformed")
        return
    positions = []
    for f, ds in zip(p.files, hs):
        if (str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))) != ref_patient:
            problems.add(f.rel, f"patient differs from {ref_file}: a series must hold one patient")
            ok = False
        if (int(ds.Rows), int(ds.Columns)) != (int(ref.Rows), int(ref.Columns)):
            problems.add(f.rel, f"{ds.Rows}×{ds.Columns} pixels differs from {ref.Rows}×{ref.Columns} in {ref_file}")
            ok = False
        spacing = floats(ds.PixelSpacing, 2)
        if spacing is None or max(abs(a - b) for a, b in zip(spacing, ref_spacing)) > SPACING_TOLERANCE_MM:
            problems.add(f.rel, f"pixel spacing {list(ds.PixelSpacing)} differs from {ref_spacing} in {ref_file}")
            ok = False
        orient = floats(ds.ImageOrientationPatient, 6)
        if orient is None or max(abs(a - b) for a, b in zip(orient, ref_orient)) > ORIENTATION_TOLERANCE:
            problems.add(f.rel, f"image orientation differs from {ref_file}")
            ok = False
        position = floats(ds.ImagePositionPatient, 3)
        if position is None:
            problems.add(f.rel, "ImagePositionPatient is malformed")
            ok = False
        positions.append(position)
    if not ok:
        return
    row_cos, col_cos = np.array(ref_orient[:3]), np.array(ref_orient[3:])
    normal = np.cross(row_cos, col_cos)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        problems.add(ref_file, "ImageOrientationPatient is not two orthogonal unit vectors")
        return
    distances = np.array([float(np.dot(pos, normal)) for pos in positions])
    order = list(np.argsort(distances, kind="stable"))
    sorted_d = distances[order]
    if len(sorted_d) > 1:
        gaps = np.diff(sorted_d)
        if np.any(gaps < SPACING_TOLERANCE_MM):
            dup = int(np.argmin(gaps))
            problems.add(
                p.files[order[dup + 1]].rel,
                f"same slice position as {p.files[order[dup]].rel} (several echoes, phases or series in one?)",
            )
            return
        median = float(np.median(gaps))
        if np.max(np.abs(gaps - median)) > max(0.01, 0.01 * median):
            problems.add(p.where, f"slice spacing along the normal is not uniform ({gaps.min():.3f}–{gaps.max():.3f} mm)")
            return
    if p.expected_slices is not None and p.expected_slices != len(p.files):
        problems.add(p.where, f"{len(p.files)} images, the mapping says slices={p.expected_slices}")
        return
    p.order = [int(i) for i in order]
    thickness = ref.get("SliceThickness")
    p.geometry = {
        "rows": int(ref.Rows),
        "columns": int(ref.Columns),
        "pixel_spacing_mm": [round(v, 6) for v in ref_spacing],
        "slice_thickness_mm": float(thickness) if thickness not in (None, "") else None,
        "image_orientation": [round(v, 6) for v in ref_orient],
        "num_instances": len(p.files),
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

