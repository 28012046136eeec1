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

# Attributes a blinded copy may hold: the viewer's allow-list plus what blinding sets itself.
SET_BY_BLINDING = {
    "SpecificCharacterSet",
    "ImageType",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "Manufacturer",
    "StudyID",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "SeriesDescription",
    "SeriesNumber",
    "InstanceNumber",
    "WindowCenter",
    "WindowWidth",
    "PixelData",
}
# Derived from each series' own pixels (noise differs by arm), the same rule for every arm.
FROM_PIXELS = {"WindowCenter", "WindowWidth", "PixelData"}
UID_KEYWORDS = {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"}


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
    allowed = set(blinding.KEPT) | SET_BY_BLINDING
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
            assert elem.keyword not in blinding.ARM_REVEALING or elem.keyword in SET_BY_BLINDING, elem.keyword
            if elem.VR == "UI" and elem.keyword not in {"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID"}:
                assert str(elem.value).startswith("2.25."), elem
        # Every original attribute is gone, kept verbatim (viewer), or replaced by a neutral value.
        for elem in original:
            if elem.keyword in ds:
                if elem.keyword in blinding.KEPT:
                    assert ds[elem.tag].value == elem.value, elem.keyword
                elif elem.keyword == "PixelData":
                    assert np.array_equal(ds.pixel_array, original.pixel_array)
                else:
                    assert ds[elem.tag].value != elem.value or elem.value in ("", None), elem.keyword

        assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientBirthDate == ""
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.SeriesDescription == instance.series.sequence.name
        assert ds.SeriesNumber == 1 and ds.InstanceNumber == instance.index + 1
        assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
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
    """Standard and Fast copies of the same slice differ only in UIDs and pixel-derived values."""
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


# --- the Annex E pass on its own ------------------------------------------------------------------


def test_basic_profile_actions_on_nested_items():
    ds = Dataset()
    ds.PatientName = "DOE^JANE"  # Z
    ds.PatientAge = "061Y"  # X
    ds.InstitutionName = "Hospital"  # X/Z/D -> X
    ds.StudyInstanceUID = "1.2.3"  # U
    ds.VerifyingObserverName = "SMITH^J"  # D
    ds.Rows = 64  # not in the table: kept by this pass
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"  # U, nested
    item.PersonName = "WHO^EVER"  # D, nested
    ds.ReferencedPatientSequence = [Dataset()]  # X
    ds.ReferencedSeriesSequence = [item]  # not in the table: recurse
    ds.add_new(0x00291010, "OB", b"secret")  # private
    ds.add_new(0x60003000, "OW", b"\0\0")  # overlay data
    uid_map = blinding.UIDMap({"1.2.3": "2.25.1"})

    blinding.apply_basic_profile(ds, uid_map)

    assert ds.PatientName == "" and "PatientAge" not in ds and "InstitutionName" not in ds
    assert ds.StudyInstanceUID == "2.25.1"
    assert ds.VerifyingObserverName == "ANONYMIZED"
    assert ds.Rows == 64
    assert "ReferencedPatientSequence" not in ds
    nested = ds.ReferencedSeriesSequence[0]
    assert nested.ReferencedSOPInstanceUID == uid_map["1.2.3.4"] and nested.ReferencedSOPInstanceUID.startswith("2.25.")
    assert nested.PersonName == "ANONYMIZED"
    assert 0x00291010 not in ds and 0x60003000 not in ds


def test_uid_map_is_consistent():
    uid_map = blinding.UIDMap()
    assert uid_map.replace("1.2.3") == uid_map.replace("1.2.3") != uid_map.replace("1.2.4")


def test_tables_are_consistent():
    assert len(blinding.ANNEX_E_BASIC_PROFILE) > 200
    assert not set(blinding.KEPT) & blinding.ARM_REVEALING
    assert {"NumberOfAverages", "ProtocolName", "SequenceName", "ImageComments", "DerivationDescription",
            "SoftwareVersions", "ParallelReductionFactorInPlane", "AcquisitionContextSequence"} <= blinding.ARM_REVEALING
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "SeriesInstanceUID"):
        assert keyword in blinding.ANNEX_E_BASIC_PROFILE


def test_default_window_ignores_outliers():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(1000, 50, (32, 32)) for _ in range(4)]
    arrays[0][0, 0] = 60000
    center, width = blinding.default_window(arrays)
    assert 950 < center < 1050 and 200 < width < 400
