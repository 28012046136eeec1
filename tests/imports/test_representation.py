"""All arms of a case × sequence are served with one representation and the reference arm's window
and MR attributes; what cannot be equalised is a publish checklist problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from readerstudy.imports import representation as rep
from readerstudy.imports.blinding import PER_INSTANCE
from readerstudy.imports.selectors import representation_problems
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import Series
from readerstudy.studies.services import study_publish_problems

from . import real_dicom as rd
from .test_decoding import stored_instances, write_mapping

SIEMENS = "MR-SIEMENS-DICOM-WithOverlays.dcm"  # 12 bits stored, unsigned


# --- the pure rule ---------------------------------------------------------------------------------


def fv(values, slope=1.0, intercept=0.0, dtype=np.uint16):
    return rep.FrameValues(np.asarray(values, dtype=dtype), slope, intercept)


def test_whole_values_in_int16_need_no_rescale_whatever_the_source():
    assert rep.common_representation([[fv([0, 4095])], [fv([10, 20], 2.0, -5.0)]]) == rep.DEFAULT


def test_values_beyond_int16_are_stored_unsigned():
    assert rep.common_representation([[fv([0, 60000])]]) == rep.Representation(signed=False)


def test_fractional_values_share_the_finest_slope():
    common = rep.common_representation([[fv([0, 4095])], [fv([1, 8191], 0.5)]])
    assert common == rep.Representation(slope=0.5)
    frame = fv([1, 8191], 0.5)
    assert np.array_equal(rep.to_stored(frame, common) * 0.5, frame.values())


def test_per_frame_slopes_share_their_finest_common_step():
    frames = [fv([1, 3], 1.5), fv([1, 3], 2.0)]
    common = rep.common_representation([frames])
    assert common == rep.Representation(slope=0.5)
    for frame in frames:
        assert np.array_equal(rep.to_stored(frame, common) * 0.5, frame.values())


def test_a_slope_of_one_third_is_written_as_a_valid_decimal_string(tmp_path):
    from readerstudy.imports import blinding
    from readerstudy.imports.frames import Frame

    frame = Frame(1, None, 2, 2, (0.3333333333333333, 0.3333333333333333), (1, 0, 0, 0, 1, 0), (-123.4567891234, 0.0, 2e-7),
                  1.0 / 3, 1.0 / 3, 0.0, None)
    out = blinding.blind_frame(
        pydicom.Dataset(), frame=frame, stored=np.zeros((2, 2), "<i2"), representation=rep.Representation(slope=1 / 3),
        profile=blinding.SeriesProfile(window=(10 / 3, 20 / 3)), lossy=blinding.LossyHistory(),
        uids=blinding.BlindedUIDs("2.25.1", "2.25.2", "2.25.3"), sop_instance_uid="2.25.4", series_description="S",
        instance_number=1,
    )
    path = tmp_path / "x.dcm"
    out.save_as(path, enforce_file_format=True)
    back = pydicom.dcmread(path)
    for keyword in ("RescaleSlope", "SliceThickness", "PixelSpacing", "ImagePositionPatient", "WindowCenter"):
        for value in rd.values(back[keyword].value):
            assert len(value) <= 16, (keyword, value)
    assert abs(float(back.RescaleSlope) - 1 / 3) < 1e-12
    if __import__("shutil").which("dciodvfy"):
        assert rd.dciodvfy_errors(path) == []


def test_values_no_16_bit_representation_holds():
    assert rep.common_representation([[fv([0, 65535])], [fv([1, 3], 0.3)]]) is None


# --- through the import --------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def two_arms(tmp_path: Path, *, fast_half_values: bool = False, fast_shift: int = 0, fast_thickness: float | None = None, fast_lossy: bool = False):
    """Standard: the real 12-bit Siemens image as a 3-slice series. Fast: the same patient and
    geometry, written the way another reconstruction would (16 bits, rescale 0.5, other window,
    other MR attributes), optionally with another slice thickness or JPEG-lossy."""
    root = tmp_path / "exam"
    patient = "PAT-REP-1"
    standard = rd.write_series(rd.real(SIEMENS), root / "standard", slices=3, patient_id=patient, thickness_mm=4.0)
    fast = rd.write_series(rd.real(SIEMENS), root / "fast_src" if fast_lossy else root / "fast", slices=3,
                           patient_id=patient, thickness_mm=fast_thickness or 4.0)
    series_uid = generate_uid()
    for k, path in enumerate(fast):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.WindowCenter, ds.WindowWidth = 700 + 50 * k, 1500
        ds.SequenceVariant = ["SK", "SP"]
        ds.EchoTime = 91.0
        if fast_shift:
            ds.PixelData = (ds.pixel_array.astype(np.uint16) + fast_shift).tobytes()
        if fast_half_values:
            stored = ds.pixel_array.astype(np.uint16) * 2 + 1  # displayed: value + 0.5
            ds.BitsStored, ds.HighBit = 16, 15
            ds.RescaleSlope, ds.RescaleIntercept = 0.5, 0.0
            ds.PixelData = stored.tobytes()
        ds.save_as(path)
    if fast_lossy:
        fast = rd.transcode_dcmtk(fast, root / "fast", "dcmcjpeg", "+ee")
        for path in (root / "fast_src").iterdir():
            path.unlink()
        (root / "fast_src").rmdir()
    mapping = write_mapping(root, [("C001", "SAG T1", "Standard", "standard"), ("C001", "SAG T1", "Fast", "fast")])
    return root, mapping, standard, fast


def by_arm(result) -> dict[str, list[pydicom.Dataset]]:
    return {s.arm.name: stored_instances(s) for s in result.series}


def test_arms_are_stored_alike_without_changing_a_displayed_value(study, tmp_path):
    root, mapping, standard, fast = two_arms(tmp_path, fast_half_values=True)
    stored = by_arm(import_dicom(study=study, source=root, mapping=mapping))

    for arm, sources in (("Standard", standard), ("Fast", fast)):
        for ds, source in zip(stored[arm], sources):
            assert np.array_equal(rd.displayed(ds), rd.displayed(pydicom.dcmread(source)))
    for a, b in zip(stored["Standard"], stored["Fast"]):
        assert {e.keyword for e in a} == {e.keyword for e in b}
        for elem in a:
            if elem.keyword not in PER_INSTANCE:
                assert b[elem.tag].value == elem.value, elem.keyword
    first = stored["Standard"][0]
    assert (first.BitsAllocated, first.BitsStored, first.HighBit, first.PixelRepresentation) == (16, 16, 15, 1)
    assert float(first.RescaleSlope) == 0.5
    # The window is the reference arm's, computed from its values (not the scanner's presets).
    values = [rep.FrameValues(pydicom.dcmread(p).pixel_array) for p in standard]
    assert (float(first.WindowCenter), float(first.WindowWidth)) == rep.default_window(values)
    assert list(stored["Fast"][0].SequenceVariant) == list(pydicom.dcmread(standard[0]).SequenceVariant)
    assert stored["Fast"][0].EchoTime in ("", None)  # present, empty (Type 2)
    assert "EchoTime" in stored["Fast"][0]
    assert representation_problems(study) == []


def test_an_arm_imported_after_its_reference_gets_the_reference_window(study, tmp_path):
    root, _, standard, fast = two_arms(tmp_path, fast_shift=200)
    first = import_dicom(study=study, source=root, mapping=write_mapping(root, [("C001", "SAG T1", "Standard", "standard")]),
                         skip_unmapped=True)
    second = import_dicom(study=study, source=root, mapping=write_mapping(root, [("C001", "SAG T1", "Fast", "fast")]),
                          skip_unmapped=True)
    a, b = stored_instances(first.series[0])[0], stored_instances(second.series[0])[0]
    assert (a.WindowCenter, a.WindowWidth, a.SequenceVariant) == (b.WindowCenter, b.WindowWidth, b.SequenceVariant)
    assert representation_problems(study) == []


def test_slice_thickness_difference_is_a_checklist_problem(study, tmp_path):
    root, mapping, _, _ = two_arms(tmp_path, fast_thickness=4.4)
    import_dicom(study=study, source=root, mapping=mapping)
    expected = "case C001, SAG T1: slice thickness differs between arms (Standard 4.0 mm, Fast 4.4 mm)"
    assert expected in representation_problems(study)
    assert any(p.startswith(expected) for p in study_publish_problems(study=study))


def test_lossy_history_difference_is_a_checklist_problem(study, tmp_path):
    root, mapping, _, _ = two_arms(tmp_path, fast_lossy=True)
    import_dicom(study=study, source=root, mapping=mapping)
    problems = representation_problems(study)
    assert any(
        p.startswith("case C001, SAG T1: LossyImageCompression differs between arms (lossy compression history: Standard 00, Fast 01")
        for p in problems
    ), problems


def test_arm_imported_before_its_reference_is_reported(study, tmp_path):
    root, _, _, _ = two_arms(tmp_path, fast_shift=200)
    import_dicom(study=study, source=root, mapping=write_mapping(root, [("C001", "SAG T1", "Fast", "fast")]), skip_unmapped=True)
    import_dicom(study=study, source=root, mapping=write_mapping(root, [("C001", "SAG T1", "Standard", "standard")]),
                 skip_unmapped=True)
    problems = representation_problems(study)
    assert any("WindowWidth differs between arms" in p or "WindowCenter differs between arms" in p for p in problems), problems
    assert Series.objects.count() == 2
