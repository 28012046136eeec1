"""Real data in (a): a user's magnitude Standard series -> a simulated Fast series.

A magnitude image already carries the Standard acquisition's noise. To emulate a Fast
acquisition with fewer excitations, the *missing* noise variance is added in k-space:

1. estimate the existing per-channel noise SD ``s`` from the background (chi distribution
   with 2 x coils degrees of freedom; Rayleigh for a single coil; median-based, robust to a few
   object pixels): :func:`estimate_noise_sd`;
2. Fast with NEX_fast >= 1: add circular complex noise in the acquired part of k-space so that
   the per-channel variance becomes ``s^2 * NEX_std / NEX_fast``;
3. Fast with NEX 0.5: add complex noise, keep the partial-Fourier lines and reconstruct with
   homodyne (one "coil": the magnitude image's phase is flat). The existing noise is
   real-valued and passes homodyne unamplified while the added noise is amplified by the
   homodyne gain g, so the added variance is s^2 (NEX_std g - 1) / g, which makes the result
   that of a NEX-1 partial-Fourier acquisition.

The magnitude image is treated as a real object (its phase is gone), which is what makes
homodyne exact on the noise-free part.

References
----------
.. [1] Constantinides CD et al. Magn Reson Med. 1997;38:852-857 (noise of magnitude images).
.. [2] Noll DC et al. IEEE Trans Med Imaging. 1991;10:154-163 (homodyne).
"""

from __future__ import annotations

import math

import numpy as np
from . import acquisition as acq
from . import reconstruction as rec
from .noise import check_noise_sd, estimate_noise
from .protocols import ArmAcquisition


def estimate_noise_sd(volume: np.ndarray, *, coils: int = 1) -> float:
    """Per-channel Gaussian noise SD of a magnitude volume from its air (see :mod:`recon.noise`).

    Raises :class:`recon.noise.NoiseEstimateError` when the air cannot be trusted.
    """
    return estimate_noise(volume, coils=coils).sigma


def _band_mask(shape, acquired: tuple[int, int] | None) -> np.ndarray:
    rows, cols = shape
    if acquired is None:
        return np.ones(shape, dtype=bool)
    n_r, n_c = acquired
    m = np.zeros(shape, dtype=bool)
    r0, c0 = rows // 2 - n_r // 2, cols // 2 - n_c // 2
    m[r0 : r0 + n_r, c0 : c0 + n_c] = True
    return m


def fast_from_magnitude(
    volume: np.ndarray,
    *,
    standard_nex: float,
    fast: ArmAcquisition,
    phase_axis: int,
    rng: np.random.Generator,
    noise_sd: float | None = None,
    coils: int = 1,
    acquired_matrix: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fast magnitude volume (float32) from a Standard magnitude volume (slices, rows, cols).

    ``acquired_matrix`` (rows, cols) is the acquired k-space extent on this grid (DICOM
    AcquisitionMatrix; None = the whole grid), so that noise is added where the scanner
    measured data.
    """
    if fast.acceleration > 1:
        raise ValueError(
            f"parallel imaging (R = {fast.acceleration}) cannot be simulated from a magnitude image: its noise "
            "amplification (g-factor) and aliasing depend on the coil sensitivities and phase, which a magnitude "
            "series no longer has; start from raw k-space (--from kspace) instead"
        )
    fast_averages = 1.0 if fast.is_partial_fourier else float(fast.nex)
    if fast_averages > standard_nex:
        raise ValueError("Fast cannot have more excitations than Standard")
    v = np.asarray(volume, np.float32)
    if not np.isfinite(v).all():
        raise ValueError("the Standard series has non-finite values")
    s = check_noise_sd(noise_sd) if noise_sd is not None else estimate_noise(v, coils=coils).sigma
    zeros = v == 0
    band = _band_mask(v.shape[1:], acquired_matrix)
    f = band.mean()
    n_phase = int(band.any(axis=0 if phase_axis == -1 else 1).sum())
    if fast.is_partial_fourier:
        lines = acq.partial_fourier_lines(v.shape[phase_axis], n_phase, fast.partial_fourier)
        gain = rec.homodyne_noise_gain(lines, n_phase)
        # The magnitude image's own noise is real-valued: homodyne passes it with gain 1 (its
        # k-space is conjugate-symmetric), while added complex noise is amplified by ``gain``.
        # Target per-channel variance: s^2 * NEX_std * gain (a NEX-1 partial-Fourier scan).
        per_channel = s * s * (standard_nex * gain - 1.0) / gain
    else:
        per_channel = s * s * (standard_nex / fast_averages - 1.0)
    # Per real channel the image gains v_k * f / 2 from complex k-space noise of variance v_k.
    added = 2.0 * max(per_channel, 0.0) / f
    out = np.empty_like(v)
    for k in range(v.shape[0]):
        ksp = acq.fft2c(v[k].astype(np.complex64))[None]
        if added > 0:
            ksp = acq.add_noise(ksp, math.sqrt(added), rng, band) + ksp * ~band
        if fast.is_partial_fourier:
            keep = lines[None, :] if phase_axis == -1 else lines[:, None]
            out[k] = rec.homodyne(ksp * (keep & band), phase_axis)
        else:
            out[k] = np.abs(acq.ifft2c(ksp[0]))
    # What the scanner stored as exact zero (padding bands, masked background) stays zero:
    # noise there would be a tell no Standard has.
    out[zeros] = 0
    return out


def acquired_matrix_from_header(ds, rows: int, cols: int) -> tuple[int, int] | None:
    """(rows, cols) acquired extent from AcquisitionMatrix and InPlanePhaseEncodingDirection."""
    am = getattr(ds, "AcquisitionMatrix", None)
    if not am or len(am) != 4:
        return None
    f_rows, f_cols, p_rows, p_cols = (int(x) for x in am)
    if getattr(ds, "InPlanePhaseEncodingDirection", "") == "ROW":
        n_r, n_c = f_rows, p_cols
    else:
        n_r, n_c = p_rows, f_cols
    if not (0 < n_r <= rows and 0 < n_c <= cols):
        return None
    return n_r, n_c
