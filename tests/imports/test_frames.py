"""Enhanced MR and MOSAIC objects split into per-frame images; what is not one stack is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from readerstudy.imports.errors import DicomImportError
from readerstudy.imports.services import import_dicom

from . import real_dicom as rd
from .conftest import state_of
from .test_decoding import stored_instances, write_mapping

pytestmark = pytest.mark.django_db

MAPPING = [("C001", "SAG T1", "Standard", "S1")]


def frame_order(path: Path) -> list[int]:
    """Frame indices of an enhanced object sorted along the slice normal (the stored order)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    cosines = np.array([float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient])
    normal = np.cross(cosines[:3], cosines[3:])
    distances = [
        float(np.dot([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient], normal))
        for item in ds.PerFrameFunctionalGroupsSequence
    ]
    return list(np.argsort(distances, kind="stable"))


def refused(study, source, mapping, settings, *, problem: str) -> list[dict]:
    before = state_of(study, settings.MEDIA_ROOT)
    with pytest.raises(DicomImportError) as info:
        import_dicom(study=study, source=source, mapping=mapping)
    assert any(problem in e["problem"] for e in info.value.errors), info.value.errors
    assert state_of(study, settings.MEDIA_ROOT) == before
    return info.value.errors


@pytest.mark.parametrize(
    "source",
    ["emri_small.dcm", "emri_small_jpeg_ls_lossless.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm",
     "emri_small_jpeg_2k_lossless.dcm"],
)
def test_enhanced_mr_is_split_into_frames_with_identical_values(source, study, tmp_path, settings):
    path = rd.enhanced_mr(tmp_path / "exam" / "S1" / "enhanced.dcm", source=source, rescale=(2.0, -100.0))
    mapping = write_mapping(tmp_path / "exam", MAPPING)
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=mapping).series

    original = pydicom.dcmread(path)
    stored = stored_instances(series)
    assert len(stored) == int(original.NumberOfFrames) == series.num_instances
    for index, frame in enumerate(frame_order(path)):
        expected = original.pixel_array[frame].astype(np.float64) * 2.0 - 100.0
        assert np.array_equal(rd.displayed(stored[index]), expected), (index, frame)
        assert stored[index].SOPClassUID == pydicom.uid.MRImageStorage
        item = original.PerFrameFunctionalGroupsSequence[frame].PlanePositionSequence[0]
        assert [float(v) for v in stored[index].ImagePositionPatient] == [float(v) for v in item.ImagePositionPatient]
    assert series.pixel_spacing_mm == [0.9, 0.9] and series.slice_thickness_mm == 2.0


def test_legacy_converted_enhanced_mr_is_split_too(study, tmp_path):
    path = rd.enhanced_mr(tmp_path / "exam" / "S1" / "legacy.dcm")
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.4"  # Legacy Converted Enhanced MR
    ds.save_as(path)
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=write_mapping(tmp_path / "exam", MAPPING)).series
    assert series.num_instances == int(ds.NumberOfFrames)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_frames_of_an_enhanced_mr_pass_dciodvfy(study, tmp_path, settings):
    rd.enhanced_mr(tmp_path / "exam" / "S1" / "enhanced.dcm")
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=write_mapping(tmp_path / "exam", MAPPING)).series
    for instance in series.instances.all():
        assert rd.dciodvfy_errors(Path(settings.MEDIA_ROOT) / instance.path) == []


def test_several_echoes_in_one_object_are_refused(study, tmp_path, settings):
    rd.enhanced_mr(tmp_path / "exam" / "S1" / "echoes.dcm", duplicate_positions=True)
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings,
            problem="10 frames at only 5 distinct slice positions: several stacks, echoes or phases")


def test_several_stacks_in_one_object_are_refused(study, tmp_path, settings):
    rd.enhanced_mr(tmp_path / "exam" / "S1" / "stacks.dcm", second_orientation=True)
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings,
            problem="in 2 orientations: several stacks in one object")


def test_enhanced_mr_without_geometry_says_what_is_missing(study, tmp_path, settings):
    folder = tmp_path / "exam" / "S1"
    folder.mkdir(parents=True)
    shutil.copy(rd.real("emri_small.dcm"), folder / "bare.dcm")  # as shipped: no functional groups
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings,
            problem="PerFrameFunctionalGroupsSequence has 0 items for 10 frames")


def test_mosaic_is_unpacked_into_its_tiles(study, tmp_path):
    path, tiles = rd.mosaic(tmp_path / "exam" / "S1" / "mosaic.dcm", images=4)
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=write_mapping(tmp_path / "exam", MAPPING)).series
    stored = stored_instances(series)
    assert len(stored) == 4 and (series.rows, series.columns) == (64, 64)
    for k, ds in enumerate(stored):
        assert np.array_equal(rd.displayed(ds), tiles[k].astype(np.float64)), k
    normal = np.cross(*np.array([float(v) for v in stored[0].ImageOrientationPatient]).reshape(2, 3))
    steps = np.diff([np.dot([float(v) for v in ds.ImagePositionPatient], normal) for ds in stored])
    assert np.allclose(steps, 5.0)


def test_mosaic_that_cannot_be_unpacked_is_refused(study, tmp_path, settings):
    rd.mosaic(tmp_path / "exam" / "S1" / "mosaic.dcm", with_count=False)
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings,
            problem="MOSAIC (tiled) image without NumberOfImagesInMosaic")


def test_colour_image_is_refused(study, tmp_path, settings):
    paths = rd.write_series(rd.real("MR_small.dcm"), tmp_path / "exam" / "S1", slices=2)
    ds = pydicom.dcmread(paths[1])
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.PlanarConfiguration = "RGB", 3, 0
    ds.save_as(paths[1])
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings, problem="a colour image (RGB")


def test_non_mr_object_is_refused(study, tmp_path, settings):
    folder = tmp_path / "exam" / "S1"
    folder.mkdir(parents=True)
    shutil.copy(rd.real("CT_small.dcm"), folder / "ct.dcm")
    refused(study, tmp_path / "exam", write_mapping(tmp_path / "exam", MAPPING), settings, problem="modality is CT, expected MR")
