"""recon.noise on real anatomy (pydicom / pydicom-data images, see real_data.py) with Rician
noise of known SD: the estimate where there is air, the refusal where there is none, and the
Fast simulation built on it (noise ratio vs theory, exact zeros kept)."""

import math

import numpy as np
import pytest
from scipy import ndimage

from recon import acquisition as acq
from recon import reconstruction as rec
from recon.dicom_in import fast_from_magnitude
from recon.noise import NoiseEstimateError, check_noise_sd, estimate_noise
from recon.protocols import ArmAcquisition

from . import real_data


@pytest.mark.parametrize("name, added", [("siemens", 15.0), ("siemens", 30.0), ("overlay", 30.0), ("overlay", 15.0), ("philips", 10.0)])
def test_noise_estimate_is_within_10_percent_on_real_images_with_air(name, added):
    rng = np.random.default_rng(7)
    noisy = real_data.rician(real_data.image(name), added, rng)
    est = estimate_noise(noisy)
    truth = real_data.true_sd(name, added)
    assert est.method == "background air"
    assert est.sigma == pytest.approx(truth, rel=0.10)
    assert est.diagnostics["air_px"] >= 1000


def test_zero_padded_bands_are_not_taken_for_noise():
    # The Siemens image has 25 % exact zeros in bands above and below the field of view, with
    # the air between; the old estimator gave a fraction of the true SD here.
    noisy = real_data.rician(real_data.image("siemens"), 15.0, np.random.default_rng(1))
    assert (noisy == 0).mean() > 0.2
    est = estimate_noise(noisy)
    assert est.diagnostics["padding_px"] > 0.2 * noisy.size
    assert est.sigma == pytest.approx(real_data.true_sd("siemens", 15.0), rel=0.10)


@pytest.mark.parametrize("name", ["emri", "mr_small"])
@pytest.mark.parametrize("added", [0.0, 10.0])
def test_no_air_is_refused_with_how_to_give_sigma(name, added):
    img = real_data.image(name)
    noisy = img if added == 0 else real_data.rician(img, added, np.random.default_rng(2))
    with pytest.raises(NoiseEstimateError, match="--noise-sd") as info:
        estimate_noise(noisy)
    assert "background ROI" in str(info.value)


def test_background_that_is_not_rayleigh_noise_is_refused():
    # The raw Siemens abdomen: its air is a multi-channel combination (narrower than Rayleigh);
    # measuring it as Rayleigh would be wrong by a factor, so it is refused, not guessed.
    with pytest.raises(NoiseEstimateError, match="not chi-distributed"):
        estimate_noise(real_data.image("siemens"))


def test_background_roi_given_by_the_user():
    img = real_data.image("siemens")
    noisy = real_data.rician(img, 20.0, np.random.default_rng(3))
    mask = np.zeros(noisy.shape, bool)
    mask[(slice(None), *real_data.AIR_BOX["siemens"])] = True
    est = estimate_noise(noisy, background_mask=mask)
    assert est.method == "background ROI"
    assert est.sigma == pytest.approx(real_data.true_sd("siemens", 20.0), rel=0.10)
    with pytest.raises(NoiseEstimateError, match="at least 100"):
        estimate_noise(noisy, background_mask=np.zeros(noisy.shape, bool))


@pytest.mark.parametrize("bad", [float("nan"), -1.0, 0.0, float("inf"), "abc"])
def test_nan_negative_or_zero_sigma_is_refused(bad):
    with pytest.raises(ValueError, match="noise SD must be"):
        check_noise_sd(bad)
    with pytest.raises(ValueError, match="noise SD must be"):
        fast_from_magnitude(np.ones((1, 16, 16)), standard_nex=2, fast=ArmAcquisition(nex=1), phase_axis=-2,
                            rng=np.random.default_rng(0), noise_sd=bad)


def _body(truth: np.ndarray) -> np.ndarray:
    """Anatomy well inside the body: above 20 % of the 99th percentile, eroded by 6 pixels."""
    t = truth[0]
    m = ndimage.binary_erosion(t > 0.2 * np.percentile(t, 99), iterations=6)
    return np.broadcast_to(m, truth.shape)


@pytest.mark.parametrize("standard_nex, fast, label", [
    (2.0, ArmAcquisition(nex=1), "NEX 2 -> 1"),
    (1.0, ArmAcquisition(nex=0.5, partial_fourier=0.5625), "NEX 1 -> 0.5 (partial Fourier)"),
    (2.0, ArmAcquisition(nex=0.5, partial_fourier=0.5625), "NEX 2 -> 0.5 (partial Fourier)"),
])
def test_fast_to_standard_noise_ratio_matches_theory_on_real_anatomy(standard_nex, fast, label):
    # Two independent Standard realisations of the same real anatomy (Rician noise sigma, the
    # Standard's own); each becomes a Fast with the noise *measured* from its air. The noise of
    # the difference inside the body (difference method) gives the ratio; theory:
    # sqrt(NEX_std / NEX_fast), and with homodyne partial Fourier sqrt(NEX_std * g) where g is
    # the homodyne noise-power gain of the kept lines.
    truth = real_data.image("siemens")
    sigma = 30.0
    phase_axis = -2  # InPlanePhaseEncodingDirection COL: phase runs down the columns
    s1 = real_data.rician(truth, sigma, np.random.default_rng(11))
    s2 = real_data.rician(truth, sigma, np.random.default_rng(12))
    body = _body(truth)
    f = [fast_from_magnitude(s, standard_nex=standard_nex, fast=fast, phase_axis=phase_axis,
                             rng=np.random.default_rng(20 + i)) for i, s in enumerate((s1, s2))]
    ratio = np.std((f[0] - f[1])[body]) / np.std((s1 - s2)[body])
    if fast.is_partial_fourier:
        n = truth.shape[1]
        g = rec.homodyne_noise_gain(acq.partial_fourier_lines(n, n, fast.partial_fourier), n)
        theory = math.sqrt(standard_nex * g)
    else:
        theory = math.sqrt(standard_nex / fast.nex)
    assert ratio == pytest.approx(theory, rel=0.05), label
    # No bias inside the body: the Fast keeps the Standard's mean signal.
    assert np.mean(f[0][body]) == pytest.approx(np.mean(s1[body]), rel=0.02)


def test_exact_zeros_of_the_source_stay_zero_in_the_fast():
    truth = real_data.image("siemens")
    standard = real_data.rician(truth, 20.0, np.random.default_rng(5))
    fast = fast_from_magnitude(standard, standard_nex=2, fast=ArmAcquisition(nex=1), phase_axis=-2,
                               rng=np.random.default_rng(6))
    assert np.array_equal(fast == 0, standard == 0)


def test_parallel_imaging_from_magnitude_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="g-factor.*--from kspace"):
        fast_from_magnitude(real_data.image("siemens"), standard_nex=1, fast=ArmAcquisition(nex=1, acceleration=2, calibration_lines=24),
                            phase_axis=-2, rng=np.random.default_rng(0), noise_sd=5.0)


@pytest.mark.parametrize("added", [20.0, 50.0])
def test_held_out_source_nibabel_epi(added):
    # Tuned on the pydicom / pydicom-data images only; validated here on another source. The
    # scan's background was masked to zero, so the noise is added everywhere (an unmasked scan):
    # the true SD is the added one.
    epi = real_data.nibabel_epi()
    noisy = real_data.rician(epi, added, np.random.default_rng(9), keep_zeros=False)
    assert estimate_noise(noisy).sigma == pytest.approx(added, rel=0.10)


def test_masked_background_is_not_air():
    # The same EPI as stored: background exact zeros (a mask), no noise to measure.
    with pytest.raises(NoiseEstimateError, match="--noise-sd"):
        estimate_noise(real_data.nibabel_epi())
