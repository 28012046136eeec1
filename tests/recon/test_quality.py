"""recon.quality, the one image-quality module: in-body PSNR/SSIM (object mask) with the whole-image
figures beside them, one PSNR definition, the integrity table the report reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from recon.quality import (
    METRIC_COLUMNS,
    compare_volumes,
    fastdl_integrity,
    object_mask,
    psnr,
    ssim,
)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    image = resize(shepp_logan_phantom(), (128, 128), anti_aliasing=True).astype(np.float32)
    return np.stack([image, np.flipud(image)]) * 1000.0


def _noisy(clean, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape)).astype(np.float32)


def test_object_mask_is_the_body_not_the_background(clean):
    mask = object_mask(clean)
    assert mask.shape == clean.shape
    from scipy import ndimage

    body = np.stack([ndimage.binary_fill_holes(s > 0) for s in clean])
    assert not np.any(mask & ~body)  # no background pixel outside the head
    assert 0.3 < mask.mean() < 0.8
    # It also finds the body on a noisy image (background noise stays out).
    noisy_mask = object_mask(_noisy(clean, 30.0))
    assert (noisy_mask & mask).sum() / mask.sum() > 0.95


def test_in_body_psnr_is_not_flattered_by_a_black_background(clean):
    noisy = _noisy(clean, 30.0)
    from scipy import ndimage

    body = np.stack([ndimage.binary_fill_holes(s > 0) for s in clean])
    blackened = noisy.copy()
    blackened[~body] = 0  # a "denoiser" that only zeroes the background
    mask = object_mask(clean)
    assert psnr(clean, blackened) > psnr(clean, noisy) + 3  # whole image: a big, false gain
    assert psnr(clean, blackened, mask=mask) == pytest.approx(psnr(clean, noisy, mask=mask))
    figures = compare_volumes(clean, blackened)
    assert figures["psnr"] == pytest.approx(psnr(clean, noisy, mask=mask))
    assert figures["psnr_whole"] > figures["psnr"]


def test_psnr_is_one_definition_peak_over_mse(clean):
    noisy = _noisy(clean, 20.0)
    mse = float(np.mean((noisy.astype(float) - clean) ** 2))
    assert psnr(clean, noisy) == pytest.approx(10 * math.log10(float(clean.max() - clean.min()) ** 2 / mse))
    assert psnr(clean, noisy, data_range=1000.0) == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1000.0))
    assert psnr(clean, clean) == math.inf


def test_whole_image_figures_match_scikit_image(clean):
    noisy = _noisy(clean, 20.0)
    figures = compare_volumes(clean, noisy, data_range=1000.0)
    assert figures["data_range"] == 1000.0
    assert figures["psnr_whole"] == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1000.0), rel=1e-6)
    expected = np.mean([structural_similarity(c, n, data_range=1000.0) for c, n in zip(clean, noisy)])
    assert figures["ssim_whole"] == pytest.approx(expected, rel=1e-6)
    mask = object_mask(clean)
    assert figures["l1"] == pytest.approx(float(np.mean(np.abs(noisy[mask].astype(float) - clean[mask]))), rel=1e-6)
    assert ssim(clean, noisy, mask=mask, data_range=1000.0) == pytest.approx(figures["ssim"])


def test_identical_volumes_have_perfect_figures(clean):
    figures = compare_volumes(clean, clean)
    assert figures["ssim"] == pytest.approx(1.0) and figures["ssim_whole"] == pytest.approx(1.0)
    assert figures["l1"] == 0 and figures["nmse"] == 0 and figures["psnr"] == math.inf
    assert figures["data_range"] == pytest.approx(float(clean.max() - clean.min()))


def test_bad_input_is_refused(clean):
    with pytest.raises(ValueError, match="shape"):
        compare_volumes(clean, clean[:1])
    with pytest.raises(ValueError, match="data_range"):
        compare_volumes(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="mask is empty"):
        psnr(clean, clean, mask=np.zeros(clean.shape, bool))


def test_integrity_table_keeps_the_report_columns(clean):
    fast = _noisy(clean, 40.0, seed=2)
    standard = _noisy(clean, 28.0, seed=3)
    table = fastdl_integrity(fast=fast, fast_dl={"Fast-DL50": (fast + clean) / 2},
                             standard=standard, standard_dl={"Fast-DL50": (standard + clean) / 2}, truth=clean)
    assert list(table.columns) == ["reference", "test", *METRIC_COLUMNS]  # what the report accepts
    pairs = set(zip(table["reference"], table["test"]))
    assert {("Fast", "Fast-DL50"), ("Standard", "Standard-DL50"), ("Truth", "Standard"), ("Truth", "Fast-DL50")} <= pairs
    assert len(table) == 1 + 1 + (2 + 1 + 1)
    truth_rows = table[table["reference"] == "Truth"].set_index("test")
    assert truth_rows.loc["Fast-DL50", "psnr"] > truth_rows.loc["Fast", "psnr"]
    wide = fastdl_integrity(fast=fast, fast_dl={"Fast-DL50": fast}, whole_image=True)
    assert {"psnr_whole", "ssim_whole"} <= set(wide.columns)
