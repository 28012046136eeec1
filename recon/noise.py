"""Noise of a magnitude MR series, measured in its air (background), or refused.

A magnitude image of a single receive channel has Rayleigh-distributed air; a root-sum-of-squares
of ``n`` channels has chi-distributed air with ``k = 2 n`` degrees of freedom, both scaled by the
per-channel Gaussian standard deviation ``sigma`` [1]_. The Fast simulation needs that ``sigma``
in the series' stored pixel units, and a wrong one makes the reader study meaningless: too small
and the "Fast" is the Standard (non-inferiority trivially true), too large and it is destroyed.
So :func:`estimate_noise` either returns a value it has checked or raises
:class:`NoiseEstimateError` saying what to provide instead (``--noise-sd`` / a background ROI).

Steps (per slice, then pooled):

1. **Padding out.** Exact zeros are not noise (a Rayleigh sample is never exactly 0 at any useful
   SNR); scanners write them in zero-padded bands (rectangular FOV, cropped reconstructions),
   sometimes with a few stray non-zero pixels in the band. Rows/columns that are mostly zero and
   large zero regions, widened by two pixels, are left out.
2. **Noise floor.** The lowest histogram mode of what is left is a first ``sigma`` (the chi_k mode
   is ``sigma sqrt(k - 1)``).
3. **Body out.** The smoothed image above the floor, holes filled, widened by a margin (truncation
   ringing and ghosts next to the body), is the body; what is left and connected to the edge of
   the field of view (or to the padding) is air. Dark anatomy inside the body is never air.
4. **Estimators.** ``sigma`` from the median of the air (robust; the value used), from its second
   moment (``E[M^2] = k sigma^2``) and, as a shape check, its coefficient of variation against the
   chi_k value. Signal or ghosts in the "air" raise the second moment and the CV; dark tissue
   taken for air lowers the CV; either way the estimate is refused.
5. **Regions.** The air of each quadrant of the field of view is estimated separately; quadrants
   that disagree by more than ``region_tolerance`` mean a structured background (ghosting,
   intensity normalisation), and the estimate is refused.

References
----------
.. [1] Constantinides CD, Atalar E, McVeigh ER. Signal-to-noise measurements in magnitude images
   from NMR phased arrays. Magn Reson Med. 1997;38:852-857.
.. [2] Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson Med.
   1995;34:910-914.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage, stats

HOW_TO_GIVE_SIGMA = (
    "give the noise SD yourself: --noise-sd SD (per receive channel, in the series' stored pixel "
    "units: the SD of a magnitude air region divided by 0.655 for one channel), or draw a "
    "background ROI in air in the workspace"
)


class NoiseEstimateError(ValueError):
    """The series' noise cannot be measured with confidence; the message says why and what to give."""


@dataclass(frozen=True)
class NoiseEstimate:
    """A measured (or given) per-channel noise SD with how it was obtained.

    ``sigma`` is in the series' stored pixel units, per receive channel (Gaussian SD of the real
    and of the imaginary part). ``method`` is ``"background air"``, ``"background ROI"`` or
    ``"given"``; ``diagnostics`` holds the air pixel count, the individual estimators and the
    per-region values.
    """

    sigma: float
    method: str
    coils: int = 1
    diagnostics: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def check_noise_sd(value) -> float:
    """A given noise SD as a finite positive float, or ValueError."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"noise SD must be a number, got {value!r}") from None
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"noise SD must be a finite positive number, got {value!r}")
    return s


def given_noise(value, *, coils: int = 1) -> NoiseEstimate:
    return NoiseEstimate(sigma=check_noise_sd(value), method="given", coils=coils)


def padding_mask(slice_: np.ndarray, *, widen_px: int = 2) -> np.ndarray:
    """Zero-padded parts of one slice: mostly-zero rows/columns and large exact-zero regions."""
    zero = slice_ == 0
    pad = np.zeros_like(zero)
    pad[zero.mean(axis=1) > 0.5, :] = True
    pad[:, zero.mean(axis=0) > 0.5] = True
    lab, n = ndimage.label(zero)
    if n:
        sizes = ndimage.sum(zero, lab, np.arange(1, n + 1))
        big = np.flatnonzero(sizes >= max(64, 0.005 * zero.size)) + 1
        pad |= np.isin(lab, big)
    if pad.any() and widen_px:
        pad = ndimage.binary_dilation(pad, iterations=widen_px)
    return pad


def _chi(k: int):
    return stats.chi(k)


def _floor_sigma(values: np.ndarray, k: int) -> float:
    """Lowest histogram mode of the darkest half of ``values`` converted to sigma."""
    low = values[values <= np.percentile(values, 50)]
    hi = float(low.max())
    n_bins = 100
    if np.allclose(low, np.round(low)):
        n_bins = int(min(100, max(8, math.ceil(hi))))  # no empty bins between stored integers
    hist, edges = np.histogram(low, bins=n_bins, range=(0.0, hi + 1e-9))
    peak = int(np.argmax(ndimage.gaussian_filter1d(hist.astype(float), 1.5)))
    mode = 0.5 * (edges[peak] + edges[peak + 1])
    return max(mode / math.sqrt(max(k - 1, 1)), 1e-6)


def _air_of_slice(sl: np.ndarray, pad: np.ndarray, floor: float, margin_px: int, smooth_px: float) -> np.ndarray:
    filled = np.where(pad, 0.0, sl)
    body = ndimage.gaussian_filter(filled, smooth_px) > floor
    body = ndimage.binary_fill_holes(body)
    if margin_px:
        body = ndimage.binary_dilation(body, iterations=margin_px)
    candidate = ~body & ~pad & (sl > 0)
    # Air surrounds the body: keep what touches the edge of the field of view or the padding.
    edge = np.zeros_like(candidate)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if pad.any():
        edge |= ndimage.binary_dilation(pad)
    lab, n = ndimage.label(candidate)
    if not n:
        return candidate
    keep = np.unique(lab[edge & candidate])
    return np.isin(lab, keep[keep > 0])


def _sigma_median(values: np.ndarray, k: int) -> float:
    return float(np.median(values) / _chi(k).median())


def _sigma_moment(values: np.ndarray, k: int) -> float:
    return float(math.sqrt(np.mean(np.square(values, dtype=float)) / k))


def estimate_noise(
    volume: np.ndarray,
    *,
    coils: int = 1,
    background_mask: np.ndarray | None = None,
    min_air_px: int = 1000,
    min_air_fraction: float = 0.02,
    shape_tolerance: float = 0.25,
    estimator_tolerance: float = 0.12,
    region_tolerance: float = 0.30,
    min_body_snr: float = 5.0,
) -> NoiseEstimate:
    """Per-channel noise SD of a magnitude series (slices, rows, cols) from its air.

    Parameters
    ----------
    volume : ndarray, (rows, cols) or (slices, rows, cols)
        Stored pixel values (non-negative magnitude).
    coils : int
        Receive channels combined by root-sum-of-squares (1, the default: Rayleigh air, which is
        also what adaptive coil combination and SENSE give). Fitting it to the air's shape was
        tried and rejected: dark tissue then passes for many-channel air.
    background_mask : bool ndarray, optional
        A background ROI (air) drawn by the user, same shape as ``volume``. When given, only the
        pixel count is checked (it is the user's measurement).
    min_air_px, min_air_fraction
        Least air (pixels, and fraction of the non-padding pixels) to trust an estimate.
    shape_tolerance
        Allowed relative deviation of the air's coefficient of variation from chi_k's.
    estimator_tolerance
        Allowed relative disagreement between the median and the second-moment estimators.
    region_tolerance
        Allowed relative spread (max/min - 1) of the per-quadrant estimates.
    min_body_snr
        Least ratio of the median of the rest of the image to the estimate: a background as
        bright as the anatomy is dark tissue, not air.

    Returns
    -------
    NoiseEstimate

    Raises
    ------
    NoiseEstimateError
        Too little air, or air that is not chi-distributed noise, or regions that disagree.
    """
    v = np.asarray(volume, dtype=np.float64)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3:
        raise ValueError("volume must be (rows, cols) or (slices, rows, cols)")
    if not np.isfinite(v).all():
        raise ValueError("volume has non-finite values")
    if (v < 0).any():
        raise ValueError("a magnitude series has no negative values; this one does (is it a phase or difference image?)")
    if coils < 1:
        raise ValueError("coils must be >= 1")

    if background_mask is not None:
        mask = np.asarray(background_mask, bool)
        if mask.ndim == 2:
            mask = np.broadcast_to(mask, v.shape)
        if mask.shape != v.shape:
            raise ValueError(f"background ROI shape {mask.shape} does not match the series {v.shape}")
        air = v[mask & (v > 0)]
        if air.size < 100:
            raise NoiseEstimateError(f"the background ROI has {air.size} non-zero pixels; draw one of at least 100 pixels in air")
        k = 2 * coils
        sigma = _sigma_median(air, k)
        return NoiseEstimate(sigma=sigma, method="background ROI", coils=coils, diagnostics={
            "air_px": int(air.size), "sigma_median": sigma, "sigma_moment": _sigma_moment(air, k)})

    pads = np.stack([padding_mask(sl) for sl in v])
    valid = (v > 0) & ~pads
    n_valid = int(valid.sum())
    if n_valid < min_air_px:
        raise NoiseEstimateError(f"the series has only {n_valid} non-padding pixels, too few to find air; " + HOW_TO_GIVE_SIGMA)
    k = 2 * coils
    chi = _chi(k)
    floor_sigma = _floor_sigma(v[valid], k)
    margin_px = max(3, round(0.02 * min(v.shape[1:])))
    smooth_px = max(1.0, 0.005 * min(v.shape[1:]))
    # Smoothed air has the chi_k mean and an SD shrunk by the Gaussian kernel's 2 sqrt(pi) s;
    # four of those above the mean is body (dark tissue included, as far as it can be).
    threshold = floor_sigma * (chi.mean() + 4 * chi.std() / (2 * math.sqrt(math.pi) * smooth_px))
    air_mask = np.stack([_air_of_slice(sl, pad, threshold, margin_px, smooth_px) for sl, pad in zip(v, pads, strict=True)])
    air = v[air_mask]
    diagnostics: dict = {
        "air_px": int(air.size), "valid_px": n_valid, "padding_px": int(pads.sum()),
        "floor_sigma": floor_sigma, "margin_px": int(margin_px),
    }
    needed = max(min_air_px, int(min_air_fraction * n_valid))
    if air.size < needed:
        raise NoiseEstimateError(
            f"not enough air to measure the noise: {air.size} background pixels found, {needed} needed "
            f"(the anatomy fills the field of view); " + HOW_TO_GIVE_SIGMA
        )
    cv = float(np.std(air) / np.mean(air))
    s_med = _sigma_median(air, k)
    s_mom = _sigma_moment(air, k)
    cv_model = float(chi.std() / chi.mean())
    diagnostics.update(sigma_median=s_med, sigma_moment=s_mom, cv=cv, cv_model=cv_model, coils=int(coils))

    rows, cols = v.shape[1:]
    rr, cc = np.meshgrid(np.arange(rows) < rows / 2, np.arange(cols) < cols / 2, indexing="ij")
    regions = {}
    for name, quad in {"top-left": rr & cc, "top-right": rr & ~cc, "bottom-left": ~rr & cc, "bottom-right": ~rr & ~cc}.items():
        values = v[air_mask & quad[None]]
        if values.size >= max(200, needed // 8):
            regions[name] = _sigma_median(values, k)
    diagnostics["regions"] = regions

    body = valid & ~air_mask
    body_snr = float(np.median(v[body]) / s_med) if body.any() else 0.0
    diagnostics["body_snr"] = body_snr
    problems = []
    if body_snr < min_body_snr:
        problems.append(
            f"the 'air' is not much darker than the anatomy (median outside it is {body_snr:.1f} x the noise SD; "
            f"at least {min_body_snr:g} expected), so it is probably dark tissue"
        )
    if abs(cv / cv_model - 1) > shape_tolerance:
        what = ("brighter structures (signal, ghosts) in it" if cv > cv_model
                else "narrower than noise: tissue, a multi-channel sum or a filtered background")
        problems.append(f"the background is not chi-distributed noise (CV {cv:.3f}, chi noise of {coils} channel(s) would give {cv_model:.3f}: {what})")
    if abs(s_mom / s_med - 1) > estimator_tolerance:
        problems.append(f"the median and second-moment estimates disagree ({s_med:.4g} vs {s_mom:.4g})")
    if len(regions) >= 2:
        spread = max(regions.values()) / min(regions.values()) - 1
        diagnostics["region_spread"] = spread
        if spread > region_tolerance:
            detail = ", ".join(f"{n} {s:.3g}" for n, s in regions.items())
            problems.append(f"the air of different parts of the image disagrees ({detail})")
    if problems:
        raise NoiseEstimateError("cannot trust a noise estimate from this series' background: " + "; ".join(problems) + "; " + HOW_TO_GIVE_SIGMA)
    return NoiseEstimate(sigma=s_med, method="background air", coils=coils, diagnostics=diagnostics)
