"""Every transfer syntax a PACS exports imports with the values pydicom decodes, and what is
stored is valid MR DICOM (dciodvfy) with the lossy history kept."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid

from readerstudy.imports import decoding
from readerstudy.imports.errors import DicomImportError
from readerstudy.imports.services import import_dicom
from readerstudy.studies.models import Instance, Series

from . import real_dicom as rd

pytestmark = pytest.mark.django_db

needs_dcmtk = pytest.mark.skipif(not all(rd.DCMTK.values()), reason="dcmtk (dcmcjpeg, dcmcjpls, dcmcrle, dcmconv) is not installed")
needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")

# name -> (source, slices kwargs, how to transcode, expected syntax, lossy)
MR_SMALL = "MR_small.dcm"  # 64×64, signed, 16 bits stored
SIEMENS = "MR-SIEMENS-DICOM-WithOverlays.dcm"  # 484×484, unsigned, 12 bits stored
CASES = {
    "jpeg-lossless-sv1": (MR_SMALL, {}, ("dcmcjpeg", "+e1"), uid.JPEGLosslessSV1, False),
    "jpeg-lossless-sv6": (MR_SMALL, {}, ("dcmcjpeg", "+el", "+sv", "6"), uid.JPEGLossless, False),
    "jpeg-lossless-sv3-12bit": (SIEMENS, {}, ("dcmcjpeg", "+el", "+sv", "3"), uid.JPEGLossless, False),
    "jpeg-baseline-8bit": (MR_SMALL, {"to_8bit": True}, ("dcmcjpeg", "+eb"), uid.JPEGBaseline8Bit, True),
    "jpeg-extended-12bit": (SIEMENS, {}, ("dcmcjpeg", "+ee"), uid.JPEGExtended12Bit, True),
    "jpeg-ls-lossless": (MR_SMALL, {}, ("dcmcjpls", "+el"), uid.JPEGLSLossless, False),
    "jpeg-ls-near-lossless": (SIEMENS, {}, ("dcmcjpls", "+en"), uid.JPEGLSNearLossless, True),
    "rle": (MR_SMALL, {}, ("dcmcrle",), uid.RLELossless, False),
    "deflate": (MR_SMALL, {}, ("dcmconv", "+td"), uid.DeflatedExplicitVRLittleEndian, False),
    "big-endian": (MR_SMALL, {}, ("dcmconv", "+tb"), uid.ExplicitVRBigEndian, False),
    "implicit-vr": (SIEMENS, {}, ("dcmconv", "+ti"), uid.ImplicitVRLittleEndian, False),
    "jpeg2000-lossless": (MR_SMALL, {}, ("pydicom", uid.JPEG2000Lossless), uid.JPEG2000Lossless, False),
    "jpeg2000-lossy": (SIEMENS, {}, ("pydicom", uid.JPEG2000, {"j2k_cr": [20]}), uid.JPEG2000, True),
    "htj2k-lossless": (SIEMENS, {}, ("ojph", uid.HTJ2KLossless, "-reversible", "true"), uid.HTJ2KLossless, False),
    "htj2k-lossy": (SIEMENS, {}, ("ojph", uid.HTJ2K, "-qstep", "0.005"), uid.HTJ2K, True),
}


def write_mapping(root: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    path = root / "mapping.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "sequence", "arm", "path"])
        writer.writerows(rows)
    return path


def stored_instances(series: Series) -> list[pydicom.Dataset]:
    from django.conf import settings

    return [pydicom.dcmread(Path(settings.MEDIA_ROOT) / i.path) for i in series.instances.order_by("index")]


def build(name: str, tmp_path: Path) -> tuple[list[Path], list[Path]]:
    source, kwargs, how, _, _ = CASES[name]
    originals = rd.write_series(rd.real(source), tmp_path / "original", slices=3, **kwargs)
    out = tmp_path / "exam" / "S1"
    if how[0] == "ojph":
        if rd.OJPH_COMPRESS is None:
            pytest.skip("ojph_compress (Debian openjph-tools, the HTJ2K encoder) is not installed")
        encoded = rd.transcode_htj2k(originals, out, how[1], *how[2:])
    elif how[0] == "pydicom":
        encoded = rd.transcode_pydicom(originals, out, how[1], **(how[2] if len(how) > 2 else {}))
    else:
        encoded = rd.transcode_dcmtk(originals, out, how[0], *how[1:])
    return originals, encoded


@needs_dcmtk
@pytest.mark.parametrize("name", sorted(CASES))
def test_transfer_syntax_imports_with_identical_values(name, study, tmp_path):
    _, _, _, syntax, lossy = CASES[name]
    originals, encoded = build(name, tmp_path)
    assert str(pydicom.dcmread(encoded[0], stop_before_pixels=True).file_meta.TransferSyntaxUID) == syntax

    mapping = write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    result = import_dicom(study=study, source=tmp_path / "exam", mapping=mapping)

    [series] = result.series
    stored = stored_instances(series)
    assert len(stored) == 3
    for k, ds in enumerate(stored):
        source = pydicom.dcmread(encoded[k])
        # The value of every pixel, as pydicom decodes the file the PACS sent.
        assert np.array_equal(rd.displayed(ds), rd.displayed(source)), (name, k)
        if not lossy:
            assert np.array_equal(rd.displayed(ds), rd.displayed(pydicom.dcmread(originals[k])))
        assert ds.file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 16, 15, 1)
        assert ds.LossyImageCompression == ("01" if lossy else "00")
        if lossy:
            assert decoding.LOSSY_METHOD_BY_SYNTAX[syntax] in rd.values(ds.LossyImageCompressionMethod)
            assert float(rd.values(ds.LossyImageCompressionRatio)[-1]) > 1


@needs_dcmtk
@needs_dciodvfy
@pytest.mark.parametrize("name", ["jpeg-lossless-sv1", "jpeg-extended-12bit", "jpeg2000-lossy", "big-endian"])
def test_stored_instances_pass_dciodvfy(name, study, tmp_path, settings):
    _, encoded = build(name, tmp_path)
    mapping = write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=mapping).series
    for instance in series.instances.all():
        assert rd.dciodvfy_errors(Path(settings.MEDIA_ROOT) / instance.path) == []


@pytest.mark.parametrize(
    "files",
    [["MR2_J2KI.dcm", "MR2_J2KI.dcm"], ["MR2_J2KR.dcm", "MR2_J2KR.dcm"], ["MR_small_bigendian.dcm", "MR_small_bigendian.dcm"],
     ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jpeg_ls_lossless.dcm"], ["MR_small_RLE.dcm", "MR_small_RLE.dcm"],
     ["MR_small_implicit.dcm", "MR_small_implicit.dcm"], ["MR_small_jp2klossless.dcm", "MR_small_jp2klossless.dcm"]],
    ids=lambda f: f[0],
)
def test_files_as_scanners_and_toolkits_wrote_them(files, study, tmp_path):
    """The shipped encodings themselves (no re-encoding): only UIDs and positions are changed."""
    folder = tmp_path / "exam" / "S1"
    folder.mkdir(parents=True)
    paths = []
    for k, name in enumerate(files):
        target = folder / f"IM{k}.dcm"
        shutil.copy(rd.real(name), target)
        paths.append(target)
    rd.restack(paths)
    mapping = write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    [series] = import_dicom(study=study, source=tmp_path / "exam", mapping=mapping).series
    for k, ds in enumerate(stored_instances(series)):
        source = pydicom.dcmread(paths[k])
        assert np.array_equal(rd.displayed(ds), rd.displayed(source))
        if str(source.get("LossyImageCompression", "")) == "01":
            assert ds.LossyImageCompression == "01"
            kept = rd.values(source.get("LossyImageCompressionMethod"))
            assert rd.values(ds.LossyImageCompressionMethod)[: len(kept)] == kept


class _NoCodec:
    is_available = False
    missing_dependencies = ["pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"]


@needs_dcmtk
def test_missing_codec_is_named_with_its_package(study, tmp_path, monkeypatch, settings):
    _, encoded = build("jpeg-ls-lossless", tmp_path)
    monkeypatch.setattr(decoding, "get_decoder", lambda syntax: _NoCodec())
    mapping = write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    with pytest.raises(DicomImportError) as info:
        import_dicom(study=study, source=tmp_path / "exam", mapping=mapping)
    problems = [e["problem"] for e in info.value.errors]
    assert any("JPEG-LS Lossless" in p and "pylibjpeg-libjpeg" in p for p in problems), problems
    assert not Series.objects.exists() and not Instance.objects.exists()


def test_syntax_without_any_decoder_is_refused(study, tmp_path):
    folder = tmp_path / "exam" / "S1"
    paths = rd.write_series(rd.real(MR_SMALL), folder, slices=2)
    ds = pydicom.dcmread(paths[0])
    ds.file_meta.TransferSyntaxUID = uid.MPEG2MPML
    ds.PixelData = pydicom.encaps.encapsulate([ds.PixelData])
    ds.save_as(paths[0])
    mapping = write_mapping(tmp_path / "exam", [("C001", "SAG T1", "Standard", "S1")])
    with pytest.raises(DicomImportError) as info:
        import_dicom(study=study, source=tmp_path / "exam", mapping=mapping)
    assert any("MPEG2" in e["problem"] and "no decoder" in e["problem"] for e in info.value.errors), info.value.errors


def test_htj2k_is_decodable_with_the_declared_codecs():
    """HTJ2K files are built with OpenJPH above; the RPCL variant is checked as registered."""
    for syntax in (uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K):
        assert decoding.transfer_syntax_problem(syntax) is None
