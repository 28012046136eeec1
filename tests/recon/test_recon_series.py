"""manage.py recon_series on real DICOM (pydicom-data Siemens abdomen with Rician noise of known
SD): arms, manifest, recon.json, blinding of representation, and clean failures."""

import csv
import json
import math

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recon.dicom_in import read_source_series

from . import real_data

ADDED_SD = 20.0


@pytest.fixture(scope="module")
def standard_folder(tmp_path_factory):
    return real_data.series_from("siemens", tmp_path_factory.mktemp("std") / "SAG_T2", slices=3, noise_sd=ADDED_SD, seed=3,
                                 description="SAG T2 FS")


@pytest.fixture(scope="module")
def standard_out(standard_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("o") / "out"
    call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "standard", "--sequence", "SAG T2 FS")
    return out


def test_standard_makes_fast_and_fast_dl_with_a_manifest_and_the_measured_noise(standard_out, standard_folder):
    rows = list(csv.DictReader(open(standard_out / "manifest.csv")))
    assert list(rows[0]) == ["case", "sequence", "arm", "path", "slices"]
    assert [r["arm"] for r in rows] == ["Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"]
    assert {r["sequence"] for r in rows} == {"SAG T2 FS"} and len({r["case"] for r in rows}) == 1
    for r in rows:
        assert (standard_out / r["path"]).is_dir() and not r["path"].startswith("/")
        assert len(list((standard_out / r["path"]).glob("*.dcm"))) == int(r["slices"]) == 3
    info = json.loads((standard_out / "recon.json").read_text())
    assert info["noise_method"] == "background air"
    assert info["noise_sd"] == pytest.approx(real_data.true_sd("siemens", ADDED_SD), rel=0.10)
    assert info["standard_nex"] == 2 and info["fast_nex"] == 1
    # The Fast has sqrt(2) x the Standard's noise where there is anatomy-free air.
    src = read_source_series(standard_folder)
    fast = read_source_series(standard_out / "Fast")
    box = (slice(None), *real_data.AIR_BOX["siemens"])
    ratio = math.sqrt(np.mean(fast.volume[box].astype(float) ** 2) / np.mean(src.volume[box].astype(float) ** 2))
    assert ratio == pytest.approx(math.sqrt(2), rel=0.08)
    # The denoiser lowers the noise step by step.
    sds = [np.std(read_source_series(standard_out / a).volume[box]) for a in ("Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75")]
    assert sds == sorted(sds, reverse=True)


def test_every_arm_has_the_sources_zeros_bits_header_and_geometry(standard_out, standard_folder):
    src = read_source_series(standard_folder)
    zeros = src.volume == 0
    assert zeros.mean() > 0.2  # the zero-padded bands
    bits = set()
    for arm in ("Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"):
        out = read_source_series(standard_out / arm)
        assert np.array_equal(out.volume == 0, zeros), arm  # zeros exactly where the source has them
        bits.add(int(out.datasets[0].BitsStored))
        for a, b in zip(src.datasets, out.datasets, strict=True):
            assert a.ImagePositionPatient == b.ImagePositionPatient and a.PixelSpacing == b.PixelSpacing
            assert a.StudyInstanceUID == b.StudyInstanceUID and a.SeriesInstanceUID != b.SeriesInstanceUID
            assert a.get("WindowCenter") == b.get("WindowCenter") and a.get("SeriesDescription") == b.get("SeriesDescription")
    assert bits == {int(src.datasets[0].BitsStored)}  # one representation for the source and every new arm


def test_fast_makes_the_fast_dl_arms(standard_folder, tmp_path):
    out = tmp_path / "out"
    call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "fast", "--noise-sd", "20")
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [r["arm"] for r in rows] == ["Fast-DL25", "Fast-DL50", "Fast-DL75"]
    assert rows[0]["sequence"] == "SAG T2 FS"  # from the series description
    info = json.loads((out / "recon.json").read_text())
    assert info["noise_sd"] == 20.0 and info["noise_method"] == "given"


def _assert_nothing_written(out):
    assert not out.exists() or not any(out.iterdir())
    assert not list(out.parent.glob(f".{out.name}.*"))


def test_no_air_and_no_sigma_fails_cleanly(tmp_path):
    src = real_data.series_from("mr_small", tmp_path / "in", slices=2, noise_sd=10.0, description="SAG T2 FS")
    out = tmp_path / "out"
    with pytest.raises(CommandError, match="--noise-sd"):
        call_command("recon_series", str(src), "--out", str(out), "--from", "standard")
    _assert_nothing_written(out)


@pytest.mark.parametrize("bad", ["nan", "-3", "0"])
def test_nan_or_negative_sigma_fails_cleanly(standard_folder, tmp_path, bad):
    out = tmp_path / "out"
    with pytest.raises(CommandError, match="noise SD must be"):
        call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "standard", f"--noise-sd={bad}")
    _assert_nothing_written(out)


def test_parallel_imaging_fast_is_refused_from_magnitude(standard_folder, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=r"parallel imaging \(R = 2\).*--from kspace"):
        call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "standard",
                     "--protocol-set", "parallel", "--sequence", "SAG T2 FS", "--noise-sd", "20")
    _assert_nothing_written(out)


def test_unknown_sequence_and_mixed_geometry_fail_cleanly(standard_folder, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CommandError, match="no protocol 'COR PD'"):
        call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "standard", "--sequence", "COR PD")
    import shutil

    import pydicom

    mixed = tmp_path / "mixed"
    shutil.copytree(standard_folder, mixed)
    ds = pydicom.dcmread(mixed / "s1.dcm")
    ds.PixelSpacing = [1.0, 1.0]
    ds.save_as(mixed / "s1.dcm")
    with pytest.raises(CommandError, match="mixed geometry"):
        call_command("recon_series", str(mixed), "--out", str(out), "--from", "standard", "--noise-sd", "5")
    _assert_nothing_written(out)


def test_existing_output_is_not_overwritten(standard_folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        call_command("recon_series", str(standard_folder), "--out", str(out), "--from", "fast")
    assert (out / "keep.txt").read_text() == "x"


@pytest.mark.django_db
def test_the_manifest_imports_into_a_study(standard_out, coordinator):
    from readerstudy.imports.services import import_dicom
    from readerstudy.studies.models import Series
    from readerstudy.studies.services import arm_create, sequence_create, study_create

    study = study_create(name="Real data", created_by=coordinator)
    sequence_create(study=study, name="SAG T2 FS")
    arm_create(study=study, name="Standard", is_reference=True)
    for arm in ("Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"):
        arm_create(study=study, name=arm)
    result = import_dicom(study=study, source=standard_out, mapping=standard_out / "manifest.csv", actor=coordinator,
                          series_source="recon")
    assert len(result.series) == 4
    assert {s.arm.name for s in Series.objects.filter(case__study=study)} == {"Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"}
