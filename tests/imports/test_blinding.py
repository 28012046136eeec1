"""Blinding: every tag of every stored (= served) instance, compared with its original."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from readerstudy.imports import blinding
from readerstudy.studies.models import Instance, Series, UIDMapping

from .conftest import N_INSTANCES, N_SERIES, SLICES

pytestmark = pytest.mark.django_db

# Attributes that reveal the arm in the fixture (and in vendors' files): never served.
ARM_REVEALING = {
    "NumberOfAverages", "ProtocolName", "SequenceName", "ImageComments", "DerivationDescription",
    "SoftwareVersions", "ParallelReductionFactorInPlane", "PartialFourier", "AcquisitionContextSequence",
    "WindowCenterWidthExplanation", "EchoTrainLength", "RepetitionTime", "EchoTime", "PercentSampling",
    "PixelBandwidth", "AcquisitionMatrix", "Manufacturer", "ManufacturerModelName", "StationName",
}
# Pixel data differ between arms by nature; nothing else may.
FROM_PIXELS = {"PixelData"}
UID_KEYWORDS = {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"}


def displayed(ds: Dataset) -> np.ndarray:
    """The modality LUT output: what a viewer displays before windowing."""
    return ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


def all_elements(ds: Dataset):
    for elem in ds.iterall():
        yield elem
    if getattr(ds, "file_meta", None) is not None:
        yield from ds.file_meta


def originals_by_sop(fixture) -> dict[str, tuple]:
    out = {}
    for fs in fixture.series:
        for path, sop in zip(fs.files, fs.sop_instance_uids):
            out[sop] = (fs, path)
    return out


def forbidden_strings(fixture) -> list[str]:
    """Everything identifying or arm-revealing that the fixture wrote, as it appears in files."""
    words = {
        "Standard", "Fast", "FAST", "NEX", "DL50", "DeepResolve", "GRAPPA", "SIEMENS", "MAGNETOM",
        "syngo", "XA50", "tse2d", "Example", "HOUSE", "CURIE", "TECH", "MRC45123", "LSPINE",
        "ACC998", "p2", "arm=", "noise reduction", "Deep learning", "DIS2D", "Algo1",
    }
    for fs in fixture.series:
        words |= {fs.patient_id, fs.birth_date, fs.series_instance_uid, fs.study_instance_uid, fs.frame_of_reference_uid}
        words |= {part for part in fs.patient_name.split("^") if len(part) > 2}
        words |= set(fs.sop_instance_uids)
    words |= {"20240301", "20240304"}  # study dates
    return sorted(words)


def test_every_tag_of_every_stored_instance(imported, dicom_source, settings):
    media = Path(settings.MEDIA_ROOT)
    originals = originals_by_sop(dicom_source.fixture)
    forbidden = forbidden_strings(dicom_source.fixture)
    allowed = blinding.ALLOWED
    instances = list(Instance.objects.select_related("series__sequence", "series__arm", "series__case"))
    assert len(instances) == N_INSTANCES
    blinded_uids = defaultdict(set)
    for instance in instances:
        ds = pydicom.dcmread(media / instance.path)
        # Byte level: nothing forbidden anywhere in the file (file meta included) but the pixels,
        # where a short word can occur by chance.
        header = (media / instance.path).read_bytes().replace(ds.PixelData, b"")
        for word in forbidden:
            assert word.encode() not in header, (word, instance.path)
        fs, original_path = originals[instance.original_sop_instance_uid]
        original = pydicom.dcmread(original_path)

        keywords = {e.keyword for e in ds}
        assert keywords <= allowed, keywords - allowed
        assert not any(e.tag.is_private for e in ds.iterall())
        for elem in all_elements(ds):
            if elem.keyword in ARM_REVEALING:
                assert elem.value in ("", None), elem.keyword  # Type 2 MR attributes: present, empty
            if elem.VR == "UI" and elem.keyword not in {"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID"}:
                assert str(elem.value).startswith("2.25."), elem
        # Kept from the source verbatim; the displayed values of the pixels unchanged.
        for keyword in blinding.FROM_SOURCE:
            if keyword in original:
                assert ds[keyword].value == original[keyword].value, keyword
        assert np.array_equal(displayed(ds), displayed(original))

        assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientBirthDate == ""
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.SeriesDescription == instance.series.sequence.name
        assert ds.SeriesNumber == 1 and ds.InstanceNumber == instance.index + 1
        assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "OTHER"]
        assert ds.SOPInstanceUID == instance.sop_instance_uid == ds.file_meta.MediaStorageSOPInstanceUID
        assert ds.file_meta.ImplementationVersionName == blinding.IMPLEMENTATION_VERSION_NAME
        assert "SourceApplicationEntityTitle" not in ds.file_meta
        series = instance.series
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID) == (
            series.study_instance_uid, series.series_instance_uid, series.frame_of_reference_uid,
        )
        for keyword in UID_KEYWORDS:
            blinded_uids[keyword].add((series.pk, str(ds[keyword].value)))
        # What the viewer needs survives exactly.
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "Rows", "Columns"):
            assert ds[keyword].value == original[keyword].value

    # A fresh study and frame-of-reference UID per series: nothing links the arms of a case.
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = [uid for _, uid in blinded_uids[keyword]]
        assert len(set(values)) == N_SERIES, keyword
    assert len({uid for _, uid in blinded_uids["SOPInstanceUID"]}) == N_INSTANCES


def test_arms_of_a_case_are_indistinguishable_by_header(imported, settings):
    """Standard and Fast copies of the same slice differ only in UIDs and pixel data: the same
    representation, the reference arm's window and MR attributes (the fixture's differ by arm)."""
    media = Path(settings.MEDIA_ROOT)
    by_key = defaultdict(dict)
    for instance in Instance.objects.select_related("series__case", "series__sequence", "series__arm"):
        s = instance.series
        by_key[(s.case.label, s.sequence.name, instance.index)][s.arm.name] = pydicom.dcmread(media / instance.path)
    assert len(by_key) == N_INSTANCES // 2
    for key, arms in by_key.items():
        standard, fast = arms["Standard"], arms["Fast"]
        assert {e.keyword for e in standard} == {e.keyword for e in fast}, key
        for elem in standard:
            if elem.keyword in UID_KEYWORDS | FROM_PIXELS:
                continue
            assert fast[elem.tag].value == elem.value, (key, elem.keyword)
        assert standard.file_meta.ImplementationVersionName == fast.file_meta.ImplementationVersionName


def test_original_uids_are_kept_only_in_the_private_mapping(imported, dicom_source):
    for fs in dicom_source.fixture.series:
        series = Series.objects.get(original_series_instance_uid=fs.series_instance_uid)
        mapping = {(m.kind, m.original_uid): m.blinded_uid for m in series.uid_mappings.all()}
        assert mapping[("series", fs.series_instance_uid)] == series.series_instance_uid
        assert mapping[("study", fs.study_instance_uid)] == series.study_instance_uid
        assert mapping[("frame_of_reference", fs.frame_of_reference_uid)] == series.frame_of_reference_uid
        for sop in fs.sop_instance_uids:
            instance = Instance.objects.get(original_sop_instance_uid=sop)
            assert mapping[("instance", sop)] == instance.sop_instance_uid
    # The shared original study UID of a case maps to a different blinded UID in every series.
    study_rows = UIDMapping.objects.filter(kind="study")
    assert study_rows.values("original_uid").distinct().count() == 2
    assert study_rows.values("blinded_uid").distinct().count() == N_SERIES


def test_stored_files_match_their_checksums(imported, settings):
    import hashlib

    for instance in Instance.objects.all():
        data = (Path(settings.MEDIA_ROOT) / instance.path).read_bytes()
        assert len(data) == instance.size_bytes
        assert hashlib.sha256(data).hexdigest() == instance.sha256


# --- the allow-list on its own -------------------------------------------------------------------


def test_allow_list_drops_everything_it_does_not_name():
    """A source full of private, nested, overlay and identifying attributes: only ALLOWED comes out."""
    from readerstudy.imports.frames import frames_of
    from readerstudy.imports.representation import DEFAULT

    ds = Dataset()
    ds.SOPClassUID = pydicom.uid.MRImageStorage
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "MR"
    ds.PatientName = "DOE^JANE"
    ds.PatientAge = "061Y"
    ds.InstitutionName = "Hospital"
    ds.NumberOfAverages = 2
    ds.ProtocolName = "T2_FAST_DL50"
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelSpacing, ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 1], [1, 0, 0, 0, 1, 0], [0, 0, 0]
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.5"
    ds.ReferencedImageSequence = [item]
    ds.add_new(0x00291010, "OB", b"secret")
    ds.add_new(0x60003000, "OW", b"\0\0")
    frame = frames_of(ds)[0]
    out = blinding.blind_frame(
        ds, frame=frame, stored=np.zeros((4, 4), "<i2"), representation=DEFAULT,
        profile=blinding.SeriesProfile(window=(10.0, 20.0)), lossy=blinding.LossyHistory(),
        uids=blinding.BlindedUIDs("2.25.1", "2.25.2", "2.25.3"), sop_instance_uid="2.25.4",
        series_description="SAG T1", instance_number=1,
    )
    assert {e.keyword for e in out} <= blinding.ALLOWED
    for keyword in ("PatientAge", "InstitutionName", "NumberOfAverages", "ProtocolName", "ReferencedImageSequence"):
        assert keyword not in out
    assert out.PatientName == "" and 0x00291010 not in out and 0x60003000 not in out
    assert not any(e.VR == "SQ" and e.keyword != "DeidentificationMethodCodeSequence" for e in out)


def test_default_window_ignores_outliers():
    from readerstudy.imports.representation import FrameValues, default_window

    rng = np.random.default_rng(0)
    arrays = [rng.normal(1000, 50, (32, 32)) for _ in range(4)]
    arrays[0][0, 0] = 60000
    center, width = default_window([FrameValues(a) for a in arrays])
    assert 950 < center < 1050 and 200 < width < 400


# --- the allow-list against every attribute of real files ----------------------------------------

REAL_FILES = ["MR_small.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR2_UNCI.dcm", "MR_small_implicit.dcm"]


def _text_values(ds: Dataset) -> set[str]:
    """Every text value (nested items too) of 4+ characters, as it would appear in a file."""
    out = set()
    for elem in ds.iterall():
        if elem.VR in {"SQ", "OB", "OW", "UN", "OF", "OD", "OL", "OV"} or elem.tag == 0x7FE00010:
            continue
        values = elem.value if isinstance(elem.value, (list, tuple, pydicom.multival.MultiValue)) else [elem.value]
        for v in values:
            text = str(v).strip()
            if len(text) >= 4 and not text.replace(".", "").replace("-", "").isdigit():
                out.add(text)
    return out


@pytest.mark.parametrize("name", REAL_FILES)
def test_allow_list_against_every_attribute_of_real_files(name, study, tmp_path, settings):
    """A real scanner file (private Siemens header, overlays, institution, dates, protocol...):
    what is served holds only ALLOWED attributes, and no text value of the source outside them."""
    from . import real_dicom as rd
    from .test_decoding import write_mapping
    from readerstudy.imports.services import import_dicom

    paths = rd.write_series(rd.real(name), tmp_path / "exam" / "S1", slices=2, roll=False)
    source = pydicom.dcmread(paths[0])
    [series] = import_dicom(
        study=study, source=tmp_path / "exam", mapping=write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    ).series
    instance = series.instances.get(index=0)
    path = Path(settings.MEDIA_ROOT) / instance.path
    served = pydicom.dcmread(path)
    assert {e.keyword for e in served} <= blinding.ALLOWED
    assert not any(e.tag.is_private for e in served.iterall())
    assert not any(0x5000 <= e.tag.group <= 0x60FF for e in served)
    header = path.read_bytes().replace(served.PixelData, b"")
    kept_values = _text_values(served) | {str(v) for v in blinding.DEIDENTIFICATION_METHOD}
    leaked = [v for v in _text_values(source) - kept_values if v.encode() in header]
    assert leaked == [], leaked
    # Attributes of the source outside the allow-list are gone, whatever they were.
    dropped = {e.keyword for e in source if e.keyword} - blinding.ALLOWED
    assert dropped and not dropped & {e.keyword for e in served}


@pytest.mark.skipif(__import__("shutil").which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_every_served_fixture_instance_passes_dciodvfy(imported, settings):
    from .real_dicom import dciodvfy_errors

    for instance in Instance.objects.all():
        assert dciodvfy_errors(Path(settings.MEDIA_ROOT) / instance.path) == [], instance.path
