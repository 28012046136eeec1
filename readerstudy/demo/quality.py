"""Image quality of one series against the phantom's noise-free Truth (pure numpy/scipy).

What a simulated reader's scores follow (:mod:`readerstudy.demo.reader_model`) and what the
study's image-integrity table reports. Every figure compares a series with the Truth series of the
same case and sequence (same grid, same 12-bit scale: the recon worker writes every arm of a case
x sequence with one scale):

* ``snr``: mean Truth signal in the object's flat interior over the SD of (series - Truth) there.
  The interior excludes edges, so blurring barely counts and the figure is the noise a reader
  sees; a denoiser raises it.
* ``sharpness``: the edge transfer ratio: the projection of the series' high-pass band on Truth's
  high-pass band, ``<hp(series), hp(Truth)> / <hp(Truth), hp(Truth)>`` over Truth's edges, with
  ``hp(x) = x - gaussian(x, 1.5 px)`` in plane. Noise is uncorrelated with Truth and averages
  out; blurring (partial Fourier, a strong denoiser) lowers it below 1.
* ``ssim``, ``l1``, ``l1_rel``, ``psnr``, ``nmse``: :func:`recon.denoiser.integrity.compare_volumes`
  against Truth at Truth's data range (scikit-image; Wang et al. 2004).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from recon.denoiser.integrity import as_volume, compare_volumes

HIGH_PASS_SIGMA_PX = 1.5


@dataclass(frozen=True)
class SeriesQuality:
    """Measured quality of one series against Truth (see the module docstring)."""

    snr: float
    sharpness: float
    ssim: float
    l1: float
    l1_rel: float
    psnr: float
    nmse: float
    data_range: float

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


def _high_pass(volume: np.ndarray) -> np.ndarray:
    return volume - ndimage.gaussian_filter(volume, sigma=(0, HIGH_PASS_SIGMA_PX, HIGH_PASS_SIGMA_PX))


def measure_series(truth, image) -> SeriesQuality:
    """Quality of ``image`` against ``truth`` (same shape and intensity scale).

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
    hp_t, hp_x = _high_pass(t)[edges], _high_pass(x)[edges]
    energy = float(np.dot(hp_t, hp_t))
    sharpness = float(np.dot(hp_x, hp_t) / energy) if energy > 0 else 1.0
    metrics = compare_volumes(t, x)
    return SeriesQuality(snr=snr, sharpness=sharpness, **metrics)
