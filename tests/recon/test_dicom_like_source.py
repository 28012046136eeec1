"""recon.dicom_out.write_series_like and recon.dicom_in.read_source_series on real DICOM:
16-bit values round-trip without wrapping, the source's header and geometry are kept with new
UIDs, and bad folders (mixed series, mixed geometry, not MR) are refused by name."""

import copy
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from recon.dicom_in import SourceSeriesError, read_source_series
from recon.dicom_out import SeriesMeta, bits_stored_for, to_uint16, write_series, write_series_like

from . import real_data
from .real_data import series_from as _series_from


def test_bits_stored_comes_from_the_value_range():
    assert bits_stored_for(0) == 12 and bits_stored_for(4095) == 12 and bits_stored_for(4096) == 13
    assert bits_stored_for(65535) == 16
    with pytest.raises(ValueError, match="16 bits"):
        bits_stored_for(70000)
    with pytest.raises(ValueError, match="16 bits"):
        to_uint16(np.array([70000.0]))


def test_sixteen_bit_values_round_trip_without_wrapping(tmp_path):
    # The Siemens image scaled so that its values reach ~58000: above 4095 everywhere in the body.
    src = _series_from("siemens", tmp_path / "in", scale=52.0)
    series = read_source_series(src)
    assert series.max_stored > 50000
    bits = bits_stored_for(series.max_stored)
    assert bits == 16
    write_series_like(series.volume, series.datasets, tmp_path / "out", bits_stored=bits)
    back = read_source_series(tmp_path / "out")
    assert np.array_equal(back.volume, series.volume)
    assert int(back.datasets[0].BitsStored) == 16 and int(back.datasets[0].HighBit) == 15
    # The phantom writer too: 16-bit values are declared, not cut to 12 bits.
    from recon.acquisition import prescribe
    from recon.protocols import get_protocol

    protocol = get_protocol("SAG T1")
    geometry = prescribe(protocol, np.zeros(3), matrix=32, slices=2)
    vol = np.full((2, geometry.rows, geometry.cols), 40000, np.uint16)
    meta = SeriesMeta(patient_id="P1", patient_name="P^1", study_instance_uid=pydicom.uid.generate_uid(),
                      frame_of_reference_uid=pydicom.uid.generate_uid(), series_number=1, series_description="SAG T1",
                      window_center=2000, window_width=4000, tr_ms=700, te_ms=8, echo_train_length=4,
                      fat_suppression=False, bandwidth_hz_total=200000, matrix_frequency=32, matrix_phase=32)
    files = write_series(vol, geometry, tmp_path / "phantom", meta)
    ds = pydicom.dcmread(files[0])
    assert ds.BitsStored == 16 and ds.pixel_array.max() == 40000


def test_output_keeps_the_source_header_and_geometry_with_new_uids(tmp_path):
    src = _series_from("siemens", tmp_path / "in")
    series = read_source_series(src)
    files = write_series_like(series.volume * 0.5, series.datasets, tmp_path / "out", bits_stored=12)
    out = read_source_series(tmp_path / "out")
    assert len(files) == 3
    for a, b in zip(series.datasets, out.datasets, strict=True):
        for name in ("PatientID", "StudyInstanceUID", "FrameOfReferenceUID", "ImagePositionPatient",
                     "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "RepetitionTime", "EchoTime",
                     "SeriesDescription", "WindowCenter", "WindowWidth", "Rows", "Columns"):
            assert a.get(name) == b.get(name), name
        assert b.SOPInstanceUID != a.SOPInstanceUID and b.SeriesInstanceUID != a.SeriesInstanceUID
        assert not any(t.group & 0xFF00 == 0x6000 for t in b.keys())  # the source's overlays are gone
    assert len({d.SeriesInstanceUID for d in out.datasets}) == 1
    assert out.phase_axis == -2 and out.phase_axis_source == "header"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
def test_output_is_dciodvfy_clean_where_the_source_is(tmp_path):
    src = _series_from("siemens", tmp_path / "in", slices=1)
    series = read_source_series(src)
    files = write_series_like(series.volume, series.datasets, tmp_path / "out", bits_stored=12)

    def errors(path):
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        return {line.split(" - ", 1)[-1] for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}

    # Whatever the (old, real) source file already violates is not ours; nothing new may appear.
    assert errors(files[0]) <= errors(next(src.iterdir()))


def test_bad_source_folders_are_refused_by_name(tmp_path):
    with pytest.raises(SourceSeriesError, match="no DICOM images"):
        (tmp_path / "empty").mkdir()
        read_source_series(tmp_path / "empty")
    a = _series_from("siemens", tmp_path / "a", slices=2)
    b = _series_from("siemens", tmp_path / "b", slices=1)
    mixed = tmp_path / "mixed"
    shutil.copytree(a, mixed)
    shutil.copy(next(b.iterdir()), mixed / "other.dcm")
    with pytest.raises(SourceSeriesError, match="series mixed"):
        read_source_series(mixed)
    geo = tmp_path / "geo"
    shutil.copytree(a, geo)
    ds = pydicom.dcmread(geo / "s1.dcm")
    ds.PixelSpacing = [1.0, 1.0]
    ds.save_as(geo / "s1.dcm")
    with pytest.raises(SourceSeriesError, match="mixed geometry"):
        read_source_series(geo)
