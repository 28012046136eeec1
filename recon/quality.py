"""Image-quality measurements used by the physics tests and the bench: SNR by the difference
method and by ROI mean over background SD with the noncentral-chi correction.

A root-sum-of-squares magnitude of ``k`` real Gaussian channels of SD ``s`` (k = 2 x coils for
complex coil images, k = coils for the real-valued homodyne coil images) follows a chi
distribution with k degrees of freedom in the background and a noncentral chi distribution in
the object (Constantinides et al. 1997). Hence

    background:  E[M] = s * mu_k,   Var[M] = s^2 * (k - mu_k^2),   mu_k = sqrt(2) G((k+1)/2) / G(k/2)
    object:      E[M^2] = A^2 + k s^2

References
----------
.. [1] Constantinides CD, Atalar E, McVeigh ER. Signal-to-noise measurements in magnitude
   images from NMR phased arrays. Magn Reson Med. 1997;38(5):852-857.
.. [2] Dietrich O, Raya JG, Reeder SB, Reiser MF, Schoenberg SO. Measurement of
   signal-to-noise ratios in MR images: influence of multichannel coils, parallel imaging,
   and reconstruction filters. J Magn Reson Imaging. 2007;26(2):375-385.
.. [3] Henkelman RM. Measurement of signal intensities in the presence of noise in MR images.
   Med Phys. 1985;12(2):232-233. (Rayleigh correction, k = 2.)
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln


def chi_mean_factor(k: int) -> float:
    """mu_k = E[chi_k] = sqrt(2) Gamma((k+1)/2) / Gamma(k/2)."""
    if k < 1:
        raise ValueError("degrees of freedom must be >= 1")
    return math.sqrt(2.0) * math.exp(gammaln((k + 1) / 2) - gammaln(k / 2))


def chi_sd_factor(k: int) -> float:
    """SD of chi_k: sqrt(k - mu_k^2) (0.655 for k = 2, the Rayleigh factor)."""
    return math.sqrt(k - chi_mean_factor(k) ** 2)


def noise_sd_from_background(background: np.ndarray, dof: int) -> float:
    """Per-channel Gaussian noise SD s from background (signal-free) magnitude pixels."""
    bg = np.asarray(background, float).ravel()
    if bg.size < 10:
        raise ValueError("background region too small")
    return float(bg.std(ddof=1) / chi_sd_factor(dof))


def corrected_signal(values: np.ndarray, s: float, dof: int) -> float:
    """Signal amplitude A from magnitude values in an object ROI: sqrt(E[M^2] - k s^2)."""
    m2 = float(np.mean(np.asarray(values, float) ** 2))
    return math.sqrt(max(m2 - dof * s * s, 0.0))


def snr_background(image: np.ndarray, roi: np.ndarray, background: np.ndarray, dof: int) -> float:
    """SNR = A / s, with s from the background SD (chi_k correction) and A corrected for the
    noise bias of the magnitude."""
    s = noise_sd_from_background(image[background], dof)
    return corrected_signal(image[roi], s, dof) / s


def snr_difference(image_a: np.ndarray, image_b: np.ndarray, roi: np.ndarray) -> float:
    """Difference method (NEMA MS 1): two acquisitions with independent noise;
    SNR = mean(ROI of their mean) / (SD(ROI of a - b) / sqrt(2))."""
    if not np.any(roi):
        raise ValueError("empty ROI")
    a, b = np.asarray(image_a, float)[roi], np.asarray(image_b, float)[roi]
    sd = np.std(a - b, ddof=1) / math.sqrt(2.0)
    return float(np.mean((a + b) / 2) / sd)


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    ref = np.asarray(reference, float)
    mse = float(np.mean((np.asarray(image, float) - ref) ** 2))
    return float(10 * math.log10(ref.max() ** 2 / mse)) if mse > 0 else math.inf


def nrmse(reference: np.ndarray, image: np.ndarray, mask: np.ndarray | None = None) -> float:
    ref = np.asarray(reference, float)
    img = np.asarray(image, float)
    if mask is not None:
        ref, img = ref[mask], img[mask]
    return float(np.linalg.norm(img - ref) / np.linalg.norm(ref))
