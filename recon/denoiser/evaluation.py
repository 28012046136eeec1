"""How Fast-DL is judged: figures shared by the bench, the model card and the CI tests.

Everything is measured **inside the body** (:func:`recon.quality.object_mask` of the noise-free
reference) with the whole-image figure only beside it:

* ``psnr``/``ssim`` in the body (``psnr_whole`` beside), peak = the reference's max − min;
* ``noise_removed``: 1 − SD(out − clean) / SD(noisy − clean) in the body (the factor's meaning);
* ``removed_noise_corr``: correlation, in the body, of what the denoiser removed
  (noisy − out) with the noise that was added (noisy − clean): near 1 when only noise is
  removed; anatomy in the removed component lowers it;
* ``intensity_bias``: mean(out) / mean(clean) − 1 in the body (Rician bias left or tissue darkened);
* ``edge_transfer``: :func:`recon.quality.edge_transfer` over the reference's strongest edges
  (1 = edges kept, < 1 blurred).

:func:`lesion_table` measures the phantom's lesion contrast (lesion mean − surrounding ring mean)
in every arm against Truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from recon.quality import as_volume, compare_volumes, edge_transfer, object_mask


def rician(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """|clean + n1 + i·n2|, n1, n2 ~ N(0, σ²) from ``seed``: magnitude data at known σ."""
    rng = np.random.default_rng(seed)
    clean = np.asarray(clean, np.float64)
    return np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape)).astype(np.float32)


def _edges(reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ref = as_volume("reference", reference)
    grad = np.hypot(ndimage.sobel(ref, axis=1), ndimage.sobel(ref, axis=2))
    near_body = np.stack([ndimage.binary_dilation(m, iterations=3) for m in mask])
    return near_body & (grad >= np.percentile(grad[near_body], 90))


def denoising_figures(clean: np.ndarray, noisy: np.ndarray, out: np.ndarray, *, mask: np.ndarray | None = None) -> dict[str, float]:
    """The figures of the module docstring for one denoised image (2-D or 3-D)."""
    c, x, y = as_volume("clean", clean), as_volume("noisy", noisy), as_volume("out", out)
    if mask is None:
        mask = object_mask(c)
    mask = np.asarray(mask, bool).reshape(c.shape)
    fidelity = compare_volumes(c, y, mask=mask)
    added, removed = (x - c)[mask], (x - y)[mask]
    sd_added = float(added.std())
    corr = float(np.corrcoef(added, removed)[0, 1]) if removed.std() > 0 else float("nan")
    return {
        "psnr": fidelity["psnr"],
        "ssim": fidelity["ssim"],
        "psnr_whole": fidelity["psnr_whole"],
        "ssim_whole": fidelity["ssim_whole"],
        "noise_removed": 1.0 - float((y - c)[mask].std()) / sd_added if sd_added > 0 else float("nan"),
        "removed_noise_corr": corr,
        "intensity_bias": float(y[mask].mean() / c[mask].mean() - 1.0),
        "edge_transfer": edge_transfer(c, y, _edges(c, mask)),
    }


def lesion_table(sim, arms: dict[str, np.ndarray], *, min_pixels: int = 8) -> pd.DataFrame:
    """Contrast of every phantom lesion (herniated nucleus: Schmorl nodes, disc herniations) of
    ``sim`` (a :class:`recon.pipeline.CaseSimulation`) in each of ``arms`` and in Truth.

    Contrast = lesion mean − mean of a 3-px ring around it (other lesion pixels excluded), per
    slice and connected lesion of at least ``min_pixels`` (after a 1-px erosion). Columns:
    ``slice, lesion, kind, arm, pixels, contrast, truth_contrast, contrast_vs_truth,
    within_10pct``.
    """
    from recon.phantom import LABELS, sample_labels

    labels = sample_labels(sim.phantom, sim.geometry)
    lesion_all = labels == LABELS["herniated_nucleus"]
    volumes = {"Truth": sim.truth, **arms}
    rows = []
    for k in range(labels.shape[0]):
        components, n = ndimage.label(lesion_all[k])
        for c in range(1, n + 1):
            lesion = ndimage.binary_erosion(components == c)
            if lesion.sum() < min_pixels:
                continue
            near = ndimage.binary_dilation(components == c, iterations=4)
            ring = near & ~ndimage.binary_dilation(components == c, iterations=1) & ~lesion_all[k]
            if not ring.any():
                continue
            kind = "Schmorl node" if (labels[k][ring] == LABELS["marrow"]).mean() > 0.3 else "herniation"
            for arm, volume in volumes.items():
                image = np.asarray(volume[k], np.float64)
                rows.append({"slice": k, "lesion": c, "kind": kind, "arm": arm, "pixels": int(lesion.sum()),
                             "contrast": float(image[lesion].mean() - image[ring].mean())})
    table = pd.DataFrame(rows, columns=["slice", "lesion", "kind", "arm", "pixels", "contrast"])
    truth = table[table.arm == "Truth"].set_index(["slice", "lesion"])["contrast"]
    table = table.join(truth.rename("truth_contrast"), on=["slice", "lesion"])
    table["contrast_vs_truth"] = table["contrast"] / table["truth_contrast"]
    table["within_10pct"] = (table["contrast_vs_truth"] - 1).abs() <= 0.10
    return table
