"""Image reconstruction: zero-filled FFT, homodyne and POCS partial Fourier, SENSE, RSS coil
combination and 12-bit scaling. Arrays follow :mod:`recon.acquisition` conventions: k-space
(coils, rows, cols) on the recon grid, zero where not sampled; ``phase_axis`` -1 or -2.

References
----------
.. [1] Noll DC, Nishimura DG, Macovski A. Homodyne detection in magnetic resonance imaging.
   IEEE Trans Med Imaging. 1991;10(2):154-163.
.. [2] Haacke EM, Lindskog ED, Lin W. A fast, iterative, partial-Fourier technique capable of
   local phase recovery. J Magn Reson. 1991;92(1):126-145. (POCS)
.. [3] McGibney G, Smith MR, Nichols ST, Crawley A. Quantitative evaluation of several partial
   Fourier reconstruction algorithms used in MRI. Magn Reson Med. 1993;30(1):51-59.
.. [4] Pruessmann KP, Weiger M, Scheidegger MB, Boesiger P. SENSE: sensitivity encoding for
   fast MRI. Magn Reson Med. 1999;42(5):952-962.
.. [5] Roemer PB, Edelstein WA, Hayes CE, Souza SP, Mueller OM. The NMR phased array. Magn
   Reson Med. 1990;16(2):192-225. (Root-sum-of-squares combination.)
"""

from __future__ import annotations

import numpy as np

from .acquisition import band_of, fft2c, ifft2c, ifft2c_band

TWELVE_BIT_MAX = 4095
# The noise-free image's 99.8th percentile lands here, leaving headroom for noise and ringing.
TWELVE_BIT_TARGET = 3000.0


def rss(coil_images: np.ndarray, axis: int = 0) -> np.ndarray:
    """Root-sum-of-squares coil combination [5]: sqrt(sum |I_c|^2)."""
    return np.sqrt(np.sum(coil_images.real**2 + coil_images.imag**2, axis=axis))


def zero_filled(kspace: np.ndarray) -> np.ndarray:
    """Inverse FFT with unsampled samples left at zero, then RSS."""
    return rss(ifft2c(kspace))


def _lines(kspace: np.ndarray, phase_axis: int) -> np.ndarray:
    """Which phase-encode lines hold data (any coil, any readout sample)."""
    other = -1 if phase_axis == -2 else -2
    return np.any(np.abs(kspace) > 0, axis=tuple(range(kspace.ndim - 2)) + (kspace.ndim + other,))


def _along(vector: np.ndarray, phase_axis: int) -> np.ndarray:
    return vector[None, :] if phase_axis == -1 else vector[:, None]


def homodyne_weights(line_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights, lowpass) over the phase-encode lines of a partial-Fourier acquisition.

    With the k-space centre at n // 2 and ``o`` lines acquired past it, lines acquired on one
    side only get weight 2, the symmetric centre |j| < o a linear ramp from 2 to 0 (so that
    w(j) + w(-j) = 2, the homodyne condition [1][3]), missing lines 0. The low-pass filter
    for the phase estimate is a Hamming window over the symmetric centre.
    """
    n = line_mask.size
    c = n // 2
    idx = np.nonzero(line_mask)[0]
    if idx.size == 0:
        raise ValueError("no acquired lines")
    lo, hi = idx[0] - c, idx[-1] - c
    if hi >= -lo:  # missing lines are on the negative side: mirror the problem
        w, h = homodyne_weights(line_mask[::-1].copy() if n % 2 else np.roll(line_mask[::-1], 1))
        return (w[::-1].copy(), h[::-1].copy()) if n % 2 else (np.roll(w[::-1], 1), np.roll(h[::-1], 1))
    o = hi + 1  # lines c .. c + o - 1 are acquired past the centre
    if o < 1:
        raise ValueError("partial Fourier needs the k-space centre")
    j = np.arange(n) - c
    w = np.where(j <= -o, 2.0, np.where(j >= o, 0.0, 1.0 - j / o))
    w = np.where(line_mask, w, 0.0)
    h = np.where(np.abs(j) < o, 0.54 + 0.46 * np.cos(np.pi * j / o), 0.0)
    return w, h


def homodyne_noise_gain(line_mask: np.ndarray, full_lines: int) -> float:
    """sum(w^2) / full_lines: the noise variance per real channel of a homodyne image relative
    to that of a fully sampled NEX-1 image of ``full_lines`` lines (the real part keeps half of
    the weighted complex noise, a full image has half its complex variance per component).
    A NEX-N Standard over a homodyne Fast has SNR ratio sqrt(1 / (N * gain))."""
    w, _ = homodyne_weights(line_mask)
    return float(np.sum(w**2) / full_lines)


def homodyne(kspace: np.ndarray, phase_axis: int, *, threshold: float = 0.05) -> np.ndarray:
    """Homodyne partial-Fourier reconstruction per coil [1], then RSS of the real parts.

    Each coil image is ``Re{IFFT(w K) exp(-i phi)}`` with ``phi`` from the low-resolution
    symmetric centre. Background pixels (low-resolution RSS below ``threshold`` of its
    maximum) use phi = 0: there the phase is undefined (noise), and phase 0 keeps the
    background noise Gaussian per channel.
    """
    sampled = np.any(kspace != 0, axis=tuple(range(kspace.ndim - 2)))
    lines = sampled.any(axis=-1 if phase_axis == -2 else 0)
    w, h = homodyne_weights(lines)
    band = band_of(sampled)
    low_lines = h > 0
    low_band = (slice(band[0].start, band[0].stop), slice(band[1].start, band[1].stop))
    idx = np.nonzero(low_lines)[0]
    low_slice = slice(int(idx[0]), int(idx[-1]) + 1)
    low_band = (low_slice, low_band[1]) if phase_axis == -2 else (low_band[0], low_slice)
    low = ifft2c_band(kspace * _along(h.astype(kspace.real.dtype), phase_axis), low_band)
    img = ifft2c_band(kspace * _along(w.astype(kspace.real.dtype), phase_axis), band)
    absl = np.abs(low)
    mag = np.sqrt(np.sum(absl * absl, axis=0))
    absl[absl == 0] = 1.0
    real = (img.real * low.real + img.imag * low.imag) / absl
    background = mag < threshold * mag.max()
    real[:, background] = img.real[:, background]
    return np.sqrt(np.sum(real * real, axis=0))


def pocs(kspace: np.ndarray, phase_axis: int, *, iterations: int = 8) -> np.ndarray:
    """POCS partial-Fourier reconstruction per coil [2]: alternate the phase constraint
    (magnitude with the low-resolution phase) and data consistency; RSS of the magnitudes."""
    lines = _lines(kspace, phase_axis)
    _, h = homodyne_weights(lines)
    low = ifft2c(kspace * _along(h, phase_axis))
    phase = np.exp(1j * np.angle(low)).astype(kspace.dtype)
    sampled = np.abs(kspace) > 0
    image = ifft2c(kspace)
    for _ in range(iterations):
        estimate = fft2c(np.abs(image) * phase)
        image = ifft2c(np.where(sampled, kspace, estimate))
    return rss(image)


# --------------------------------------------------------------------------------------------
# SENSE


def sense_fold_phases(n: int, acceleration: int) -> np.ndarray:
    """Aliasing coefficients of uniform R-fold sampling aligned on the k-space centre: an
    object point at y appears at y + r n / R with coefficient phi_r (found numerically with a
    delta, so no sign convention of the centred FFT has to be hand-derived)."""
    if n % acceleration:
        raise ValueError("matrix must be divisible by the acceleration")
    delta = np.zeros((1, n, 1), dtype=np.complex128)
    delta[0, 0, 0] = 1.0
    mask = np.zeros(n, dtype=bool)
    mask[(np.arange(n) - n // 2) % acceleration == 0] = True
    k = fft2c(delta) * mask[None, :, None]
    folded = ifft2c(k)[0, :, 0]
    return np.array([folded[r * n // acceleration] for r in range(acceleration)])


def uniform_lines(line_mask: np.ndarray, acceleration: int) -> np.ndarray:
    """The lines of an undersampled acquisition that lie on the R-grid (ACS extras dropped)."""
    n = line_mask.size
    return line_mask & ((np.arange(n) - n // 2) % acceleration == 0)


def _sense_system(sens: np.ndarray, acceleration: int, phase_axis: int):
    """Encoding matrices E (pixels, coils, R) for the unfolding along ``phase_axis``."""
    s = np.moveaxis(sens, phase_axis, -1)  # (coils, other, n)
    n = s.shape[-1]
    m = n // acceleration
    phi = sense_fold_phases(n, acceleration)
    # Unknown q sits at y0 + q m and reaches output y0 with coefficient phi[(-q) % R].
    cols = [phi[(-q) % acceleration] * s[..., q * m : (q + 1) * m] for q in range(acceleration)]
    E = np.stack(cols, axis=-1)  # (coils, other, m, R)
    E = np.moveaxis(E, 0, -2)  # (other, m, coils, R)
    return E, m


def sense_unfold(kspace: np.ndarray, sensitivities: np.ndarray, acceleration: int, phase_axis: int, *, return_noise: bool = False):
    """SENSE [4]: unfold the aliased coil images of R-fold uniformly undersampled k-space with
    known coil sensitivities; least squares per aliased pixel set (white, uncorrelated coil
    noise). Returns the complex object (rows, cols), and with ``return_noise`` also the noise
    SD map relative to the SD of one aliased coil image, sqrt(diag((E^H E)^-1)).
    """
    lines = uniform_lines(_lines(kspace, phase_axis), acceleration)
    aliased = ifft2c(kspace * _along(lines, phase_axis))
    a = np.moveaxis(aliased, phase_axis, -1)  # (coils, other, n)
    E, m = _sense_system(sens=sensitivities.astype(np.complex128), acceleration=acceleration, phase_axis=phase_axis)
    rhs = np.moveaxis(a[..., :m].astype(np.complex128), 0, -1)  # (other, m, coils)
    EH = np.conj(np.swapaxes(E, -1, -2))  # (other, m, R, coils)
    EHE = EH @ E
    scale = np.trace(EHE, axis1=-2, axis2=-1).real.max() or 1.0
    EHE = EHE + np.eye(acceleration) * (1e-12 * scale)
    x = np.linalg.solve(EHE, (EH @ rhs[..., None]))[..., 0]  # (other, m, R)
    obj = np.concatenate([x[..., q] for q in range(acceleration)], axis=-1)  # (other, n)
    obj = np.moveaxis(obj, -1, phase_axis if phase_axis == -1 else 0)
    out = obj.astype(kspace.dtype)
    if not return_noise:
        return out
    inv = np.linalg.inv(EHE)
    d = np.sqrt(np.real(np.diagonal(inv, axis1=-2, axis2=-1)))  # (other, m, R)
    noise = np.concatenate([d[..., q] for q in range(acceleration)], axis=-1)
    noise = np.moveaxis(noise, -1, phase_axis if phase_axis == -1 else 0)
    return out, noise


def estimate_sensitivities(kspace: np.ndarray, phase_axis: int, calibration_lines: int, *, threshold: float = 0.02) -> np.ndarray:
    """Coil sensitivities from the fully sampled central (ACS) lines: low-resolution coil images
    (Hamming window) divided by their RSS; zero where the RSS holds no signal."""
    n = kspace.shape[phase_axis]
    c = n // 2
    j = np.arange(n) - c
    half = calibration_lines / 2
    win = np.where(np.abs(j) < half, 0.54 + 0.46 * np.cos(np.pi * j / half), 0.0)
    low = ifft2c(kspace * _along(win, phase_axis))
    mag = rss(low)
    ok = mag > threshold * mag.max()
    return np.where(ok[None], low / np.where(ok, mag, 1.0)[None], 0.0).astype(kspace.dtype)


# --------------------------------------------------------------------------------------------
# 12-bit output


def twelve_bit_scale(reference: np.ndarray, target: float = TWELVE_BIT_TARGET, percentile: float = 99.8) -> float:
    """One scale factor per case x sequence (from the noise-free image), shared by every arm so
    that intensities are comparable across arms and the scaling reveals nothing about the arm."""
    p = float(np.percentile(reference, percentile))
    if p <= 0:
        raise ValueError("reference image is empty")
    return target / p


def to_uint12(image: np.ndarray, scale: float) -> np.ndarray:
    """Magnitude image to unsigned 12-bit integers (stored in uint16), clipped at 0 and 4095."""
    return np.clip(np.rint(np.asarray(image) * scale), 0, TWELVE_BIT_MAX).astype(np.uint16)
