"""Image-integrity figures that a study reports for Fast-DL (seed 003; issue 4).

Every figure is per volume and computed with scikit-image at a stated data range:

* ``ssim``: mean over slices of :func:`skimage.metrics.structural_similarity` (7×7 Gaussian-free
  window, the library's defaults), at ``data_range``;
* ``l1``: mean per-pixel absolute difference, in image units, and ``l1_rel`` = ``l1 / data_range``;
* ``psnr``: :func:`skimage.metrics.peak_signal_noise_ratio` over the whole volume at ``data_range``;
* ``nmse``: ‖test − reference‖² / ‖reference‖², the square of
  :func:`skimage.metrics.normalized_root_mse` with Euclidean normalization (fastMRI's NMSE).

``data_range`` defaults to the reference volume's max − min, and is returned with the figures so
the report can state it.

References
----------
Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error visibility to
structural similarity. IEEE Trans Image Process 2004;13(4):600–612.
Bash S, Johnson B, Gibbs W, Zhang T, Shankaranarayanan A, Tanenbaum LN. Deep learning image
processing enables 40% faster spinal MR scans which match or exceed quality of standard of care.
Clin Neuroradiol 2022;32:197–203.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio, structural_similarity

METRIC_COLUMNS = ["ssim", "l1", "l1_rel", "psnr", "nmse", "data_range"]


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


def compare_volumes(reference: np.ndarray, test: np.ndarray, *, data_range: float | None = None) -> dict[str, float]:
    """SSIM, L1, PSNR and NMSE of ``test`` against ``reference`` (one volume).

    Parameters
    ----------
    reference, test : ndarray, shape (rows, columns) or (slices, rows, columns)
        Magnitude volumes on the same grid and intensity scale.
    data_range : float, optional
        Dynamic range for SSIM and PSNR; default ``reference.max() - reference.min()``.

    Returns
    -------
    dict
        ``ssim``, ``l1``, ``l1_rel``, ``psnr`` (dB), ``nmse``, ``data_range``.
    """
    ref = as_volume("reference", reference)
    tst = as_volume("test", test)
    if ref.shape != tst.shape:
        raise ValueError(f"reference and test differ in shape: {ref.shape} vs {tst.shape}.")
    if data_range is None:
        data_range = float(ref.max() - ref.min())
    if not data_range > 0:
        raise ValueError(f"data_range must be positive; got {data_range} (is the reference constant?).")
    win = min(7, *ref.shape[1:])
    win -= 1 - win % 2  # odd
    ssim = float(np.mean([structural_similarity(r, t, data_range=data_range, win_size=win) for r, t in zip(ref, tst)]))
    l1 = float(np.mean(np.abs(tst - ref)))
    if np.array_equal(ref, tst):
        psnr = float("inf")
    else:
        psnr = float(peak_signal_noise_ratio(ref, tst, data_range=data_range))
    ref_energy = float(np.sum(ref**2))
    nmse = float(normalized_root_mse(ref, tst, normalization="euclidean") ** 2) if ref_energy > 0 else float("nan")
    return {"ssim": ssim, "l1": l1, "l1_rel": l1 / data_range, "psnr": psnr, "nmse": nmse, "data_range": float(data_range)}


def fastdl_integrity(
    *,
    fast: np.ndarray,
    fast_dl: dict[str, np.ndarray],
    standard: np.ndarray | None = None,
    standard_dl: dict[str, np.ndarray] | None = None,
    truth: np.ndarray | None = None,
    data_range: float | None = None,
) -> pd.DataFrame:
    """The integrity table of one case × sequence, one row per comparison.

    Parameters
    ----------
    fast : ndarray
        The Fast series' volume.
    fast_dl : dict
        ``{arm: volume}`` for the Fast-DL arms (e.g. ``"Fast-DL50"``).
    standard, standard_dl : optional
        The Standard volume and ``{arm: volume}`` of the network applied to it ("Standard-DL").
    truth : ndarray, optional
        The phantom's noise-free image, for PSNR/SSIM/NMSE against truth.
    data_range : float, optional
        One data range for every row; default: the reference volume's range in each row.

    Returns
    -------
    DataFrame
        Columns ``reference``, ``test`` (arm names, e.g. ``Fast`` and ``Fast-DL50``), then
        ``ssim``, ``l1``, ``l1_rel``, ``psnr``, ``nmse``, ``data_range`` as in :func:`compare_volumes`.
        Rows: Fast vs each Fast-DL arm; Standard vs each Standard-DL arm; Truth vs every
        volume given (Standard, Fast, Fast-DL…, Standard-DL…).
    """
    rows: list[dict] = []

    def add(ref_name: str, ref: np.ndarray, test_name: str, test: np.ndarray) -> None:
        rows.append({"reference": ref_name, "test": test_name, **compare_volumes(ref, test, data_range=data_range)})

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
    return pd.DataFrame(rows, columns=["reference", "test", *METRIC_COLUMNS])
