"""The recon worker's series through the import: every arm of a case × sequence is served with the
same header (the reference arm's window, not one that follows each arm's noise) and passes
dciodvfy."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from readerstudy.imports.blinding import PER_INSTANCE
from readerstudy.imports.representation import FrameValues, default_window
from readerstudy.imports.selectors import representation_problems
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import Instance
from readerstudy.studies.services import arm_create, sequence_create, study_create
from recon.export import export_case, write_manifest

from . import real_dicom as rd

pytestmark = pytest.mark.django_db


def test_recon_arms_are_served_alike_and_valid(coordinator, tmp_path, settings):
    study = study_create(name="Recon through import", created_by=coordinator)
    for name in ("SAG T1", "AX T2"):
        sequence_create(study=study, name=name)
    arm_create(study=study, name="Standard", is_reference=True)
    arm_create(study=study, name="Fast")
    rows, _, _ = export_case(tmp_path / "out", "C001", 7, sequences=["SAG T1", "AX T2"], arms=["Standard", "Fast"],
                             recon_matrix=64, slices=3, spacing_mm=2.0)
    manifest = write_manifest(tmp_path / "out", rows)
    import_dicom(study=study, source=tmp_path / "out", mapping=manifest, series_source="phantom")

    media = Path(settings.MEDIA_ROOT)
    by_slice: dict[tuple[str, int], dict[str, pydicom.Dataset]] = defaultdict(dict)
    for instance in Instance.objects.select_related("series__sequence", "series__arm"):
        by_slice[(instance.series.sequence.name, instance.index)][instance.series.arm.name] = pydicom.dcmread(media / instance.path)
    assert len(by_slice) == 6
    for (sequence, index), arms in by_slice.items():
        standard, fast = arms["Standard"], arms["Fast"]
        for elem in standard:
            if elem.keyword not in PER_INSTANCE:
                assert fast[elem.tag].value == elem.value, (sequence, index, elem.keyword)
    # The served window is the Standard arm's own; the Fast arm's would differ (more noise).
    for sequence in ("SAG T1", "AX T2"):
        source = sorted((tmp_path / "out" / "C001" / sequence.replace(" ", "_") / "Fast").glob("*.dcm"))
        fast_own = default_window([FrameValues(pydicom.dcmread(p).pixel_array) for p in source])
        served = by_slice[(sequence, 0)]["Fast"]
        assert (float(served.WindowCenter), float(served.WindowWidth)) != fast_own
    assert representation_problems(study) == []
    if shutil.which("dciodvfy"):
        for arms in list(by_slice.values())[:2]:
            for ds in arms.values():
                path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
                ds.save_as(path)
                assert rd.dciodvfy_errors(path) == []
