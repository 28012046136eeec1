"""Reads about what an import stored."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pydicom
from django.conf import settings

from readerstudy.studies.models import Instance, Study

from .blinding import PER_INSTANCE

# Compared by ``studies.services.geometry_mismatches`` already (matrix, spacing, orientation, count).
GEOMETRY_CHECKED_ELSEWHERE = frozenset({"Rows", "Columns", "PixelSpacing", "ImageOrientationPatient"})
LOSSY_ATTRIBUTES = frozenset({"LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"})


def _value(ds: pydicom.Dataset, keyword: str) -> str:
    if keyword not in ds:
        return "absent"
    value = ds[keyword].value
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value) if value not in (None, "") else "empty"


def representation_problems(study: Study) -> list[str]:
    """Differences between the arms of a case × sequence that the import could not equalise.

    The import stores all arms of a case × sequence with one representation, the reference arm's
    window and MR attributes (:mod:`readerstudy.imports.representation`, :mod:`.blinding`). What
    it cannot change without changing what the reader sees remains: slice thickness, a
    different lossy compression history, arms imported before their reference arm (window),
    values no common 16-bit representation holds. Each is one line naming the case, sequence,
    attribute and the arms' values; the publish checklist shows them. The served header of the
    first image of every series is compared, attribute by attribute, except what identifies an
    instance (UIDs, position, instance number, pixel data) and the in-plane geometry that
    ``geometry_mismatches`` reports.
    """
    first = (
        Instance.objects.filter(series__case__study=study, index=0)
        .select_related("series__case", "series__sequence", "series__arm")
        .order_by("series__case__label", "series__sequence__order", "series__arm__order")
    )
    groups: dict[tuple[str, str], list[tuple[str, pydicom.Dataset | None, float | None]]] = defaultdict(list)
    media = Path(settings.MEDIA_ROOT)
    for instance in first:
        series = instance.series
        try:
            ds = pydicom.dcmread(media / instance.path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError, ValueError):
            ds = None
        groups[(series.case.label, series.sequence.name)].append((series.arm.name, ds, series.slice_thickness_mm))
    problems = []
    for (case, sequence), arms in groups.items():
        if len(arms) < 2:
            continue
        where = f"case {case}, {sequence}"
        thickness = {arm: t for arm, _, t in arms}
        if len(set(thickness.values())) > 1:
            described = ", ".join(f"{arm} {t if t is not None else 'unknown'} mm" for arm, t in thickness.items())
            problems.append(f"{where}: slice thickness differs between arms ({described})")
        # A missing or unreadable stored file is the storage's problem (serving reports it), not
        # a difference between arms; the readable ones are still compared.
        arms = [a for a in arms if a[1] is not None]
        keywords = sorted({e.keyword for _, ds, _ in arms for e in ds if e.keyword} - PER_INSTANCE - GEOMETRY_CHECKED_ELSEWHERE - {"SliceThickness"})
        for keyword in keywords:
            values = {arm: _value(ds, keyword) for arm, ds, _ in arms}
            if len(set(values.values())) > 1:
                what = "lossy compression history" if keyword in LOSSY_ATTRIBUTES else "served header"
                described = ", ".join(f"{arm} {v}" for arm, v in values.items())
                problems.append(f"{where}: {keyword} differs between arms ({what}: {described})")
    return problems
