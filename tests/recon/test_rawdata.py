"""Raw k-space in (fastMRI HDF5 with 2x readout oversampling, ISMRMRD through the ``ismrmrd``
package), built in the test from a real MR image (pydicom-data Siemens abdomen) times synthetic
coil sensitivities: the reconstruction matches an RSS reference made here, geometry comes from
the header, SENSE R = 2 has the predicted noise, and bad files are refused by name."""

import csv
import json
import math

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recon import reconstruction as rec
from recon.protocols import ArmAcquisition
from recon.rawdata import RawDataError, read_raw, reconstruct, standard_and_fast

from . import real_data

N = 160  # recon matrix (square), readout encoded 2N (2x oversampling)
COILS = 8
FOV_MM = 240.0


def _fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _object(slices=2):
    """(slices, 2N readout, N phase) complex object: the real image in the central N x N of
    the readout-oversampled FOV, with a smooth phase; air (zeros) in the oversampled margins."""
    img = real_data.image("overlay")[0]  # 300 x 484, abdomen without padding bands
    from scipy import ndimage

    img = ndimage.zoom(img[:, 92:392], (N / 300, N / 300), order=1)[:N, :N]
    obj = np.zeros((slices, 2 * N, N), complex)
    x, y = np.meshgrid(np.linspace(-1, 1, N), np.linspace(-1, 1, N), indexing="ij")
    for s in range(slices):
        obj[s, N // 2 : N // 2 + N] = img * np.exp(1j * (0.6 * x + 0.3 * y + 0.2 * s)) * (1 + 0.1 * s)
    return obj


def _sensitivities():
    """(coils, 2N, N) smooth complex maps: coils on a ring around the oversampled FOV."""
    x, y = np.meshgrid(np.linspace(-2, 2, 2 * N), np.linspace(-1, 1, N), indexing="ij")
    maps = []
    for c in range(COILS):
        a = 2 * math.pi * c / COILS
        cx, cy = 1.2 * math.cos(a), 1.2 * math.sin(a)
        maps.append(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 1.5) * np.exp(1j * a))
    return np.array(maps)


def _kspace(obj, sigma, rng):
    """(slices, coils, 2N, N) k-space with complex noise of SD sigma per channel."""
    coil_images = _sensitivities()[None] * obj[:, None]
    k = _fft2c(coil_images)
    return (k + rng.normal(0, sigma, k.shape) + 1j * rng.normal(0, sigma, k.shape)).astype(np.complex64)


def _header(*, protocol="SAG T2 FS", enc=(2 * N, N), rec=(N, N), enc_fov=(2 * FOV_MM, FOV_MM, 3.0), rec_fov=(FOV_MM, FOV_MM, 3.0), drop=None):
    def space(tag, m, f):
        return (f"<{tag}><matrixSize><x>{m[0]}</x><y>{m[1]}</y><z>1</z></matrixSize>"
                f"<fieldOfView_mm><x>{f[0]}</x><y>{f[1]}</y><z>{f[2]}</z></fieldOfView_mm></{tag}>")
    xml = ('<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">'
           f"<measurementInformation><protocolName>{protocol}</protocolName></measurementInformation>"
           "<acquisitionSystemInformation><receiverChannels>8</receiverChannels></acquisitionSystemInformation>"
           "<experimentalConditions><H1resonanceFrequency_Hz>127000000</H1resonanceFrequency_Hz></experimentalConditions>"
           f"<encoding>{space('encodedSpace', enc, enc_fov)}{space('reconSpace', rec, rec_fov)}"
           f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{enc[1] - 1}</maximum><center>{enc[1] // 2}</center></kspace_encoding_step_1></encodingLimits>"
           "<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>")
    if drop:
        xml = xml.replace(drop, "")
    return xml


def _reference_rss(kspace):
    """The fastMRI reference made independently here: RSS of the inverse FFT of the full
    readout, centre N rows kept."""
    img = np.sqrt((np.abs(_ifft2c(kspace)) ** 2).sum(axis=1))
    return img[:, N // 2 : N // 2 + N, :]


def _nrmse(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _write_fastmri(path, kspace, header=None):
    with h5py.File(path, "w") as f:
        f["kspace"] = kspace
        f["ismrmrd_header"] = np.bytes_(header or _header())
        f["reconstruction_rss"] = _reference_rss(kspace).astype(np.float32)
        f.attrs["acquisition"] = "SAG_T2_FS"
        f.attrs["patient_id"] = "ANON"
    return path


def _write_ismrmrd(path, kspace_by_average, header=None, *, read_dir=(0, 0, -1), phase_dir=(0, 1, 0), positions=None):
    import ismrmrd

    dset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dset.write_xml_header((header or _header()).encode())
    for avg, kspace in enumerate(kspace_by_average):
        for s, k in enumerate(kspace):
            for line in range(k.shape[-1]):
                a = ismrmrd.Acquisition.from_array(np.ascontiguousarray(k[:, :, line]))
                a.idx.kspace_encode_step_1 = line
                a.idx.slice = s
                a.idx.average = avg
                a.read_dir[:] = read_dir
                a.phase_dir[:] = phase_dir
                a.slice_dir[:] = np.cross(read_dir, phase_dir)
                a.position[:] = positions[s] if positions is not None else (10.0 + 3.3 * s, -5.0, 20.0)
                dset.append_acquisition(a)
    dset.close()
    return path


def test_fastmri_with_2x_readout_oversampling_reconstructs_to_the_reference(tmp_path):
    k = _kspace(_object(), 0.5, np.random.default_rng(0))
    raw = read_raw(_write_fastmri(tmp_path / "f.h5", k))
    image = reconstruct(raw.kspace.mean(axis=0), raw)
    assert image.shape == (2, N, N)
    ref = _reference_rss(k)
    assert _nrmse(image, ref) < 0.05
    # And against the noise-free truth (object x RSS of the maps): the anatomy is where it was,
    # not squashed along the readout.
    truth = np.abs(_object()) * np.sqrt((np.abs(_sensitivities()) ** 2).sum(axis=0))[None]
    assert _nrmse(image, truth[:, N // 2 : N // 2 + N]) < 0.05
    with h5py.File(tmp_path / "f.h5") as f:
        assert _nrmse(image, f["reconstruction_rss"][()]) < 0.05


def test_ismrmrd_file_reconstructs_to_the_reference_with_the_header_geometry(tmp_path):
    rng = np.random.default_rng(1)
    obj = _object()
    ks = [_kspace(obj, 0.5, rng), _kspace(obj, 0.5, rng)]  # two averages
    raw = read_raw(_write_ismrmrd(tmp_path / "i.h5", ks))
    assert raw.layout == "ismrmrd" and raw.kspace.shape == (2, 2, COILS, 2 * N, N)
    image = reconstruct(raw.kspace.mean(axis=0), raw)
    assert _nrmse(image, _reference_rss((ks[0] + ks[1]) / 2)) < 0.05
    out = tmp_path / "out"
    call_command("recon_series", str(tmp_path / "i.h5"), "--out", str(out), "--from", "kspace", "--sequence", "SAG T2 FS")
    rows = list(csv.DictReader((out / "manifest.csv").read_text().splitlines()))
    assert [r["arm"] for r in rows] == ["Standard", "Fast", "Fast-DL25", "Fast-DL50", "Fast-DL75"]
    info = json.loads((out / "recon.json").read_text())
    assert info["fast_from"] == "the first 1 of 2 averages" and info["layout"] == "ismrmrd"
    assert info["geometry_from"].startswith("header")
    from recon.dicom_in import read_source_series

    series = read_source_series(out / "Standard")
    centres = []
    for ds in series.datasets:
        # Rows run along the readout (read_dir), columns along the phase direction.
        assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx([0, 1, 0, 0, 0, -1])
        assert float(ds.PixelSpacing[0]) == pytest.approx(FOV_MM / N)
        d = float(ds.PixelSpacing[0])
        centres.append(np.array(ds.ImagePositionPatient, float) + (N - 1) / 2 * d * (np.array([0, 1, 0]) + np.array([0, 0, -1])))
    # The acquisitions' slice centres, in the order of the slice normal (phase x read = -x).
    assert np.allclose(centres, [[13.3, -5.0, 20.0], [10.0, -5.0, 20.0]], atol=1e-3)
    assert {int(read_source_series(out / r["path"]).datasets[0].BitsStored) for r in rows} == {12}
    import shutil
    import subprocess

    if shutil.which("dciodvfy"):
        for r in rows:
            run = subprocess.run(["dciodvfy", str(out / r["path"] / "IM0001.dcm")], capture_output=True, text=True)
            assert not [x for x in (run.stdout + run.stderr).splitlines() if x.startswith("Error")], r["arm"]


def test_fast_from_two_averages_has_sqrt2_the_noise(tmp_path):
    obj = _object(slices=1) * 0  # pure noise: the noise SD is measured directly
    rng = np.random.default_rng(2)
    ks = [_kspace(obj, 1.0, rng), _kspace(obj, 1.0, rng)]
    raw = read_raw(_write_ismrmrd(tmp_path / "n.h5", ks))
    from recon.protocols import get_protocol

    std, fast, info = standard_and_fast(raw, get_protocol("SAG T2 FS"))
    # RSS of pure noise: chi with 2 x coils dof; its second moment is 2 COILS sigma^2.
    s_std = math.sqrt(np.mean(std**2) / (2 * COILS))
    s_fast = math.sqrt(np.mean(fast**2) / (2 * COILS))
    assert s_fast / s_std == pytest.approx(math.sqrt(2), rel=0.05)


def test_sense_r2_noise_matches_the_g_factor_prediction(tmp_path):
    # Difference method on two noise realisations of the same object: the Fast (R = 2, 24 ACS
    # lines, SENSE with ACS-estimated maps) over the Standard noise inside the object equals
    # sqrt(R) x g, with g from the same maps: sense_unfold's noise map is relative to the SD of
    # one aliased coil image, which is sigma / sqrt(R) (n / R lines of an orthonormal FFT), so
    # the SENSE noise is sigma d_R / sqrt(R) against sigma d_1 for the full data.
    obj = _object(slices=1)
    arm = ArmAcquisition(nex=1, acceleration=2, calibration_lines=24)
    rs = [read_raw(_write_fastmri(tmp_path / f"r{i}.h5", _kspace(obj, 2.0, np.random.default_rng(10 + i)))) for i in range(2)]
    std = [reconstruct(r.kspace[0], r) for r in rs]
    fast = [reconstruct(r.kspace[0], r, arm) for r in rs]
    truth = np.abs(obj[0, N // 2 : N // 2 + N])
    from scipy import ndimage

    body = ndimage.binary_erosion(truth > 0.3 * np.percentile(truth, 99), iterations=4)
    ratio = np.std((fast[0] - fast[1])[0][body]) / np.std((std[0] - std[1])[0][body])
    clean = _fft2c(_sensitivities() * obj[0][None])
    sens = rec.estimate_sensitivities(clean, -1, 24)
    _, g_r2 = rec.sense_unfold(clean, sens, 2, -1, return_noise=True)
    _, g_r1 = rec.sense_unfold(clean, sens, 1, -1, return_noise=True)
    d_r = g_r2[N // 2 : N // 2 + N][body] / math.sqrt(2)
    predicted = float(np.sqrt(np.mean((d_r / g_r1[N // 2 : N // 2 + N][body]) ** 2)))
    assert ratio == pytest.approx(predicted, rel=0.05)
    assert ratio > math.sqrt(2) * 0.95  # never better than sqrt(R)


def test_single_average_nex_reduction_adds_the_measured_coil_noise(tmp_path):
    obj = _object(slices=1)
    raw = read_raw(_write_fastmri(tmp_path / "s.h5", _kspace(obj, 2.0, np.random.default_rng(4))))
    from recon.protocols import get_protocol

    _, _, info = standard_and_fast(raw, get_protocol("SAG T2 FS"))
    assert info["noise_sd"] == pytest.approx(2.0, rel=0.10)
    assert info["added_noise_sd"] == pytest.approx(info["noise_sd"], rel=1e-6)  # NEX 2 -> 1


def test_hdf5_that_is_neither_format_is_refused(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["image"] = np.zeros(3)
    with pytest.raises(RawDataError, match="neither fastMRI"):
        read_raw(tmp_path / "x.h5")
    (tmp_path / "t.h5").write_text("not hdf5")
    with pytest.raises(RawDataError, match="not an HDF5 file"):
        read_raw(tmp_path / "t.h5")
    out = tmp_path / "out"
    with pytest.raises(CommandError, match="neither fastMRI"):
        call_command("recon_series", str(tmp_path / "x.h5"), "--out", str(out), "--from", "kspace", "--sequence", "SAG T2 FS")
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_missing_header_fields_are_named(tmp_path):
    k = _kspace(_object(slices=1), 0.5, np.random.default_rng(5))
    _write_fastmri(tmp_path / "h.h5", k, header=_header().replace("<reconSpace><matrixSize><x>160</x>", "<reconSpace><matrixSize>"))
    with pytest.raises(RawDataError, match="reconSpace matrix size x"):
        read_raw(tmp_path / "h.h5")
    with h5py.File(tmp_path / "n.h5", "w") as f:
        f["kspace"] = k
    with pytest.raises(RawDataError, match=r"not a fastMRI file \(missing \['ismrmrd_header'\]\)"):
        read_raw(tmp_path / "n.h5")
