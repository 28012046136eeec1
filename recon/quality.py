"""The project's one image-quality module (pure numpy/scipy/scikit-image).

Three families, all used by the recon worker's tests, the denoiser, the demo and the bench:

1. **SNR of magnitude images** (physics tests, bench): the difference method and ROI mean over
   background SD with the noncentral-chi correction. A root-sum-of-squares magnitude of ``k`` real
   Gaussian channels of SD ``s`` (k = 2 x coils for complex coil images, k = coils for the
   real-valued homodyne coil images) follows a chi distribution with k degrees of freedom in the
   background and a noncentral chi distribution in the object (Constantinides et al. 1997)::

       background:  E[M] = s * mu_k,   Var[M] = s^2 * (k - mu_k^2),   mu_k = sqrt(2) G((k+1)/2) / G(k/2)
       object:      E[M^2] = A^2 + k s^2

2. **Fidelity against a reference, inside the body** (:func:`psnr`, :func:`ssim`,
   :func:`compare_volumes`, :func:`fastdl_integrity`): PSNR and SSIM are computed over the object
   mask (:func:`object_mask`) by default, because whole-image figures are dominated by the
   background (a denoiser that blackens the background wins them). The whole-image figures are
   returned beside them (``psnr_whole``, ``ssim_whole``), never instead. One PSNR definition:
   ``10·log10(peak² / MSE)`` with ``peak`` = the reference's data range (max − min over the whole
   reference; for magnitude images with background that is its maximum), MSE over the mask.
   SSIM: scikit-image's SSIM map (7×7 window, Wang et al. 2004) at the same data range, averaged
   over the mask.

3. **Series quality against Truth** (:func:`measure_series`; what the demo's simulated readers
   follow): SNR in the flat interior, the edge transfer ratio (sharpness), and the fidelity figures.

References
----------
.. [1] Constantinides CD, Atalar E, McVeigh ER. Signal-to-noise measurements in magnitude
   images from NMR phased arrays. Magn Reson Med. 1997;38(5):852-857.
.. [2] Dietrich O, Raya JG, Reeder SB, Reiser MF, Schoenberg SO. Measurement of
   signal-to-noise ratios in MR images: influence of multichannel coils, parallel imaging,
   and reconstruction filters. J Magn Reson Imaging. 2007;26(2):375-385.
.. [3] Henkelman RM. Measurement of signal intensities in the presence of noise in MR images.
   Med Phys. 1985;12(2):232-233. (Rayleigh correction, k = 2.)
.. [4] Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error visibility
   to structural similarity. IEEE Trans Image Process 2004;13(4):600-612.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
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


def nrmse(reference: np.ndarray, image: np.ndarray, mask: np.ndarray | None = None) -> float:
    ref = np.asarray(reference, float)
    img = np.asarray(image, float)
    if mask is not None:
        ref, img = ref[mask], img[mask]
    return float(np.linalg.norm(img - ref) / np.linalg.norm(ref))


# --------------------------------------------------------------------------------------------
# Fidelity against a reference, inside the body

METRIC_COLUMNS = ["ssim", "l1", "l1_rel", "psnr", "nmse", "data_range"]
WHOLE_IMAGE_COLUMNS = ["psnr_whole", "ssim_whole"]


def as_volume(name: str, array: np.ndarray) -> np.ndarray:
    """``array`` as a float64 (slices, rows, columns) volume; a 2-D slice becomes one slice.
    Raises ValueError naming ``name`` for another shape or non-finite values."""
    volume = np.asarray(array, dtype=np.float64)
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3:
        raise ValueError(f"{name} must be a 2-D slice or 3-D (slices, rows, columns) volume; got shape {np.shape(array)}.")
    if not np.all(np.isfinite(volume)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return volume


def _slice_object_mask(image: np.ndarray, fraction: float, erode_px: int) -> np.ndarray:
    smooth = ndimage.gaussian_filter(image, 1.5)
    top = float(np.percentile(smooth, 99.5))
    if not top > 0:
        return np.zeros(image.shape, bool)
    mask = smooth > fraction * top
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=2))
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, range(1, n + 1))
        keep = np.flatnonzero(sizes >= 0.02 * sizes.sum()) + 1
        mask = np.isin(labels, keep)
    if erode_px > 0:
        eroded = ndimage.binary_erosion(mask, iterations=erode_px)
        if eroded.any():
            mask = eroded
    return mask


def object_mask(reference: np.ndarray, *, fraction: float = 0.1, erode_px: int = 2) -> np.ndarray:
    """The body ("object") of a magnitude slice or volume, per slice: the reference smoothed
    (Gaussian, 1.5 px) above ``fraction`` of its 99.5th percentile, holes filled, components
    smaller than 2 % of the object dropped, eroded by ``erode_px`` so the partial-volume rim does
    not count. Same shape as ``reference`` (bool)."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim == 2:
        return _slice_object_mask(ref, fraction, erode_px)
    return np.stack([_slice_object_mask(s, fraction, erode_px) for s in as_volume("reference", ref)])


def _checked(reference, image, mask, data_range):
    ref = as_volume("reference", reference)
    img = as_volume("image", image)
    if ref.shape != img.shape:
        raise ValueError(f"reference and image differ in shape: {ref.shape} vs {img.shape}.")
    if mask is None:
        mask = np.ones(ref.shape, bool)
    else:
        mask = np.asarray(mask, bool).reshape(ref.shape) if np.size(mask) == ref.size else None
        if mask is None:
            raise ValueError(f"mask must have the reference's shape {np.shape(reference)}.")
        if not mask.any():
            raise ValueError("mask is empty (no object found in the reference?).")
    if data_range is None:
        data_range = float(ref.max() - ref.min())
    if not data_range > 0:
        raise ValueError(f"data_range must be positive; got {data_range} (is the reference constant?).")
    return ref, img, mask, float(data_range)


def psnr(reference: np.ndarray, image: np.ndarray, *, mask: np.ndarray | None = None,
         data_range: float | None = None) -> float:
    """PSNR in dB: ``10·log10(data_range² / MSE)``, MSE over ``mask`` (default: every pixel).

    ``data_range`` defaults to the reference's max − min over the whole reference (not just the
    mask), so in-body and whole-image PSNR share one peak. ``inf`` when the images agree."""
    ref, img, mask, peak = _checked(reference, image, mask, data_range)
    mse = float(np.mean((img[mask] - ref[mask]) ** 2))
    return float(10 * math.log10(peak**2 / mse)) if mse > 0 else math.inf


def ssim(reference: np.ndarray, image: np.ndarray, *, mask: np.ndarray | None = None,
         data_range: float | None = None) -> float:
    """Mean SSIM (scikit-image, 7×7 window or the largest odd window that fits) over ``mask``
    (default: every pixel), slice by slice, at ``data_range`` (default reference max − min)."""
    from skimage.metrics import structural_similarity

    ref, img, mask, peak = _checked(reference, image, mask, data_range)
    win = min(7, *ref.shape[1:])
    win -= 1 - win % 2  # odd
    whole = mask.all()
    values, weights = [], []
    for r, t, m in zip(ref, img, mask):
        if not m.any():
            continue
        mean, smap = structural_similarity(r, t, data_range=peak, win_size=win, full=True)
        # Whole image: scikit-image's own mean (it leaves out the half-window border).
        values.append(float(mean) if whole else float(smap[m].mean()))
        weights.append(int(m.sum()))
    return float(np.average(values, weights=weights))


def nmse(reference: np.ndarray, image: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """‖image − reference‖² / ‖reference‖² over ``mask`` (fastMRI's NMSE)."""
    ref, img, mask, _ = _checked(reference, image, mask, 1.0)
    energy = float(np.sum(ref[mask] ** 2))
    return float(np.sum((img[mask] - ref[mask]) ** 2) / energy) if energy > 0 else float("nan")


def compare_volumes(reference: np.ndarray, test: np.ndarray, *, data_range: float | None = None,
                    mask: np.ndarray | None = None, whole_image: bool = True) -> dict[str, float]:
    """Fidelity of ``test`` against ``reference`` inside the body, whole-image beside it.

    Parameters
    ----------
    reference, test : ndarray, shape (rows, columns) or (slices, rows, columns)
        Magnitude volumes on the same grid and intensity scale.
    data_range : float, optional
        Peak for PSNR and SSIM; default ``reference.max() - reference.min()``.
    mask : bool ndarray, optional
        The body; default :func:`object_mask` of the reference.
    whole_image : bool
        Also return ``psnr_whole`` and ``ssim_whole`` (every pixel).

    Returns
    -------
    dict
        ``ssim``, ``l1``, ``l1_rel``, ``psnr`` (dB), ``nmse`` — all inside the body — and
        ``data_range``; plus ``psnr_whole``, ``ssim_whole`` when asked.
    """
    ref, tst, _, peak = _checked(reference, test, None, data_range)
    if mask is None:
        mask = object_mask(ref)
        if not mask.any():
            mask = np.ones(ref.shape, bool)
    _, _, mask, _ = _checked(ref, tst, mask, peak)
    l1 = float(np.mean(np.abs(tst[mask] - ref[mask])))
    out = {
        "ssim": ssim(ref, tst, mask=mask, data_range=peak),
        "l1": l1,
        "l1_rel": l1 / peak,
        "psnr": psnr(ref, tst, mask=mask, data_range=peak),
        "nmse": nmse(ref, tst, mask=mask),
        "data_range": peak,
    }
    if whole_image:
        out["psnr_whole"] = psnr(ref, tst, data_range=peak)
        out["ssim_whole"] = ssim(ref, tst, data_range=peak)
    return out


def fastdl_integrity(
    *,
    fast: np.ndarray,
    fast_dl: dict[str, np.ndarray],
    standard: np.ndarray | None = None,
    standard_dl: dict[str, np.ndarray] | None = None,
    truth: np.ndarray | None = None,
    data_range: float | None = None,
    whole_image: bool = False,
) -> pd.DataFrame:
    """The image-integrity table of one case × sequence (seed 003), one row per comparison.

    Rows: Fast vs each Fast-DL arm; Standard vs each Standard-DL arm (the network applied to
    Standard); Truth vs every volume given. Columns ``reference``, ``test``, then
    :data:`METRIC_COLUMNS` (inside the body of the row's reference, see :func:`compare_volumes`),
    plus ``psnr_whole``/``ssim_whole`` with ``whole_image=True``.
    """
    rows: list[dict] = []

    def add(ref_name: str, ref: np.ndarray, test_name: str, test: np.ndarray) -> None:
        figures = compare_volumes(ref, test, data_range=data_range, whole_image=whole_image)
        rows.append({"reference": ref_name, "test": test_name, **figures})

    for arm, volume in fast_dl.items():
        add("Fast", fast, arm, volume)
    if standard is not None:
        for arm, volume in (standard_dl or {}).items():
            add("Standard", standard, arm.replace("Fast-DL", "Standard-DL"), volume)
    if truth is not None:
        candidates: list[tuple[str, np.ndarray]] = []
        if standard is not None:
            candidates.append(("Standard", standard))
        candidates.append(("Fast", fast))
        candidates += list(fast_dl.items())
        candidates += [(arm.replace("Fast-DL", "Standard-DL"), v) for arm, v in (standard_dl or {}).items()]
        for name, volume in candidates:
            add("Truth", truth, name, volume)
    columns = ["reference", "test", *METRIC_COLUMNS] + (WHOLE_IMAGE_COLUMNS if whole_image else [])
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Series quality against Truth (the demo's simulated readers follow it)

HIGH_PASS_SIGMA_PX = 1.5


@dataclass(frozen=True)
class SeriesQuality:
    """Measured quality of one series against Truth (see :func:`measure_series`)."""

    snr: float
    sharpness: float
    ssim: float
    l1: float
    l1_rel: float
    psnr: float
    nmse: float
    data_range: float
    psnr_whole: float
    ssim_whole: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def regions(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flat interior, edges) of the object in ``truth``, as boolean volumes.

    The object is Truth above 10 % of its 99th percentile; the interior is the object eroded by
    2 px where Truth's in-plane gradient is below its 60th percentile inside the object; the
    edges are where the gradient is above its 80th percentile.
    """
    truth = as_volume("truth", truth)
    top = float(np.percentile(truth, 99))
    if not top > 0:
        raise ValueError("truth is empty (no signal)")
    obj = truth > 0.1 * top
    grad = np.hypot(ndimage.sobel(truth, axis=1), ndimage.sobel(truth, axis=2))
    inner = ndimage.binary_erosion(obj, structure=np.ones((1, 5, 5), bool))
    if not inner.any():
        inner = obj
    flat = inner & (grad <= np.percentile(grad[inner], 60))
    edges = grad >= np.percentile(grad[obj], 80)
    return flat, edges


def high_pass(volume: np.ndarray) -> np.ndarray:
    """``x − gaussian(x, 1.5 px)`` in plane (the band the sharpness figure looks at)."""
    volume = as_volume("volume", volume)
    return volume - ndimage.gaussian_filter(volume, sigma=(0, HIGH_PASS_SIGMA_PX, HIGH_PASS_SIGMA_PX))


def edge_transfer(truth: np.ndarray, image: np.ndarray, edges: np.ndarray | None = None) -> float:
    """``<hp(image), hp(truth)> / <hp(truth), hp(truth)>`` over ``edges`` (default: Truth's edges
    of :func:`regions`). Noise averages out; blurring lowers it below 1."""
    t, x = as_volume("truth", truth), as_volume("image", image)
    if edges is None:
        _, edges = regions(t)
    hp_t, hp_x = high_pass(t)[edges], high_pass(x)[edges]
    energy = float(np.dot(hp_t, hp_t))
    return float(np.dot(hp_x, hp_t) / energy) if energy > 0 else 1.0


def measure_series(truth, image) -> SeriesQuality:
    """Quality of ``image`` against ``truth`` (same shape and intensity scale).

    * ``snr``: mean Truth signal in the object's flat interior over the SD of (series − Truth)
      there (edges excluded: the noise a reader sees; a denoiser raises it);
    * ``sharpness``: :func:`edge_transfer` over Truth's edges;
    * ``ssim``, ``l1``, ``l1_rel``, ``psnr``, ``nmse`` inside the body, ``psnr_whole`` and
      ``ssim_whole`` beside them (:func:`compare_volumes` at Truth's data range).

    Raises
    ------
    ValueError
        Shapes differ, a volume is not finite, or Truth holds no signal.
    """
    t = as_volume("truth", truth)
    x = as_volume("image", image)
    if t.shape != x.shape:
        raise ValueError(f"truth and image differ in shape: {t.shape} vs {x.shape}")
    flat, edges = regions(t)
    residual = (x - t)[flat]
    noise = float(residual.std(ddof=1)) if residual.size > 1 else 0.0
    signal = float(t[flat].mean())
    snr = signal / noise if noise > 0 else math.inf
    metrics = compare_volumes(t, x)
    return SeriesQuality(snr=snr, sharpness=edge_transfer(t, x, edges), **metrics)
