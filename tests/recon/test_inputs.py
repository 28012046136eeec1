"""Real data in: a magnitude DICOM Standard series -> Fast, and raw k-space in the fastMRI
layout -> Standard and Fast, both tested on data the project generates itself."""

import math

import numpy as np
import pytest

from recon import acquisition as acq
from recon import quality as q
from recon import reconstruction as rec
from recon.dicom_in import acquired_matrix_from_header, estimate_noise_sd, fast_from_magnitude
from recon.fastmri import phantom_to_fastmri, read_fastmri, reconstruct_fast, reconstruct_standard, write_fastmri
from recon.pipeline import simulate_raw_kspace
from recon.protocols import ArmAcquisition

from .conftest import background_roi, object_roi, snr_pair


@pytest.mark.parametrize("sequence", ["SAG T2 FS", "SAG T1", "AX T2"])
def test_noise_estimate_from_the_background_of_a_magnitude_image(sequence):
    # Truncation ringing reaches far into the air (no apodization); the estimator keeps 16
    # pixels away from anything above the noise floor (docs/recon.md).
    a, _ = snr_pair(sequence)
    bg = background_roi(a.truth)
    s_true = q.noise_sd_from_background(a.standard[bg], dof=2 * a.info["coils"])
    assert estimate_noise_sd(a.standard, coils=a.info["coils"]) == pytest.approx(s_true, rel=0.05)


@pytest.mark.parametrize("sequence, fast, expected", [
    ("SAG T2 FS", ArmAcquisition(nex=1), 1 / math.sqrt(2)),
    ("SAG T1", ArmAcquisition(nex=0.5, partial_fourier=0.5625), None),
])
def test_fast_from_a_magnitude_standard_has_the_fast_snr(sequence, fast, expected):
    a, b = snr_pair(sequence)
    std = a.protocol.arm("Standard")
    rng = np.random.default_rng(3)
    noise_sd = q.noise_sd_from_background(a.standard[background_roi(a.truth)], dof=2 * a.info["coils"])
    kw = dict(standard_nex=std.nex, fast=fast, phase_axis=a.geometry.phase_axis, rng=rng, noise_sd=noise_sd,
              acquired_matrix=(a.protocol.matrix_frequency, a.protocol.matrix_phase) if a.geometry.phase_axis == -1
              else (a.protocol.matrix_phase, a.protocol.matrix_frequency))
    fa, fb = fast_from_magnitude(a.standard, **kw), fast_from_magnitude(b.standard, **kw)
    roi = object_roi(a.truth)
    ratio = q.snr_difference(fa, fb, roi) / q.snr_difference(a.standard, b.standard, roi)
    if expected is None:
        lines = acq.partial_fourier_lines(a.geometry.rows, a.protocol.matrix_phase, fast.partial_fourier)
        expected = math.sqrt(1 / (std.averages * rec.homodyne_noise_gain(lines, a.protocol.matrix_phase)))
    assert ratio == pytest.approx(expected, rel=0.06)


def test_acquired_matrix_is_read_from_the_header():
    class H:
        AcquisitionMatrix = [384, 0, 0, 224]
        InPlanePhaseEncodingDirection = "ROW"

    assert acquired_matrix_from_header(H, 384, 384) == (384, 224)
    H.AcquisitionMatrix, H.InPlanePhaseEncodingDirection = [0, 292, 192, 0], "COL"
    assert acquired_matrix_from_header(H, 384, 384) == (192, 292)


def test_parallel_imaging_cannot_be_emulated_from_magnitude():
    with pytest.raises(ValueError, match="coil sensitivities"):
        fast_from_magnitude(np.ones((1, 8, 8)), standard_nex=2, fast=ArmAcquisition(nex=2, acceleration=2), phase_axis=-1,
                            rng=np.random.default_rng(0), noise_sd=1.0)


def test_fastmri_layout_round_trip_and_retrospective_fast(tmp_path):
    from .conftest import small_phantom

    raw, protocol, geometry = simulate_raw_kspace(5, "SAG T1", phantom=small_phantom(), recon_matrix=96, slices=2, noise_scale=0.0)
    ksp = phantom_to_fastmri(raw, geometry.phase_axis)
    path = write_fastmri(tmp_path / "case.h5", ksp, recon_matrix=(96, 96), fov_mm=(protocol.fov_mm, protocol.fov_mm, 3.0),
                         acquisition="SAG_T1", patient_id="PHANTOM-5")
    series = read_fastmri(path)
    assert series.kspace.shape == (2, 8, protocol.matrix_frequency, protocol.matrix_phase)
    assert series.kspace.dtype == np.complex64 and series.recon_matrix == (96, 96)
    standard = reconstruct_standard(series)
    assert standard.shape == (2, 96, 96)
    pf = reconstruct_fast(series, ArmAcquisition(nex=0.5, partial_fourier=0.5625))
    zf_lines = acq.partial_fourier_lines(96, protocol.matrix_phase, 0.5625)
    zf = np.stack([rec.zero_filled(np.pad(k, ((0, 0), ((96 - k.shape[1]) // 2, (96 - k.shape[1] + 1) // 2), ((96 - k.shape[2]) // 2, (96 - k.shape[2] + 1) // 2))) * zf_lines[None, None, :]) for k in series.kspace])
    mask = standard > 0.05 * standard.max()
    assert q.nrmse(standard, pf, mask) < 0.6 * q.nrmse(standard, zf, mask)
    r2 = reconstruct_fast(series, ArmAcquisition(nex=1, acceleration=2, calibration_lines=16))
    assert r2.shape == standard.shape and q.nrmse(standard, r2, mask) < 0.15


def test_fastmri_reader_refuses_other_files(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["image"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a fastMRI file"):
        read_fastmri(tmp_path / "x.h5")
