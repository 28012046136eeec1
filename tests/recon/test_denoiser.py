"""Fast-DL (issues 4, 13): factor semantics (measured on flat tissue), no tells (no new zeros, a
background like Fast's at the lower noise, tissue intensity kept), a real-image regression floor,
lesion conspicuity on the phantom, shapes/dtypes, the ONNX model.

Inference tests need only onnxruntime; the ONNX-vs-PyTorch agreement test skips without torch.
Everything runs on small images so the module stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from recon.denoiser import (
    FAST_DL_ARMS,
    MODEL_PATH,
    apply_factor,
    blend_weight,
    denoise_arms,
    denoise_volume,
    estimate_noise_sigma,
    predict_clean,
)
from recon.denoiser.inference import (
    MAX_WEIGHT,
    air_floor,
    blend_arms,
    estimator_transfer,
    flat_reduction,
    noise_transfer,
    volume_scale,
    weight_for_reduction,
)
from recon.quality import compare_volumes, fastdl_integrity, object_mask, psnr


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    """A 2-slice 128×128 magnitude volume in scanner-like units (0..1000)."""
    image = resize(shepp_logan_phantom(), (128, 128), anti_aliasing=True).astype(np.float32)
    return np.stack([image, np.flipud(image)]) * 1000.0


def _noisy(clean: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape)).astype(np.float32)


# --- factor semantics ---------------------------------------------------------------------------

def test_factor_zero_is_the_identity_for_every_dtype(clean):
    noisy = _noisy(clean, 40.0)
    for volume in (noisy, noisy.astype(np.float64), np.rint(noisy).astype(np.uint16), noisy[0]):
        out = denoise_volume(volume, 0.0)
        assert out.dtype == volume.dtype and out.shape == volume.shape
        np.testing.assert_array_equal(out, volume)
        assert out is not volume


def test_factor_is_the_calibrated_blend_of_one_network_pass(clean):
    noisy = _noisy(clean, 40.0)
    full = predict_clean(noisy)
    sigma = estimate_noise_sigma(noisy)
    sigma_n = sigma / volume_scale(noisy)
    for r in (0.25, 0.5, 0.75, 1.0):
        w = blend_weight(r, sigma_n)
        assert 0 < w <= MAX_WEIGHT
        reduction = flat_reduction(w, *noise_transfer(sigma_n))
        expected = noisy + np.float32(w) * (air_floor(full, sigma, noisy=noisy, keep=1 - reduction / w) - noisy)
        np.testing.assert_allclose(denoise_volume(noisy, r), expected, rtol=0, atol=1e-3)


def test_apply_factor_is_the_documented_formula():
    rng = np.random.default_rng(0)
    noisy, estimate = rng.random((3, 8, 8)).astype(np.float32), rng.random((3, 8, 8)).astype(np.float32) - 0.2
    floored = np.maximum(estimate, 0)
    np.testing.assert_allclose(apply_factor(noisy, estimate, 0.3), noisy + 0.3 * (floored - noisy), atol=1e-6)
    np.testing.assert_allclose(apply_factor(noisy, estimate, 0.3, weight=0.4), noisy + 0.4 * (floored - noisy), atol=1e-6)
    np.testing.assert_array_equal(apply_factor(noisy, estimate, 0.0), noisy)
    np.testing.assert_allclose(apply_factor(noisy, estimate, 1.0), floored, atol=1e-6)
    # With σ and the input: in air (estimate f within 2σ of 0) the target is f + U(r) + keep·(r − U(r)),
    # r = x − f, U the 5×5 local mean (reflected at the border), floored at 0; above 3σ the
    # estimate; a ramp between.
    x = np.full((12, 12), 0.1, np.float32)
    x[5, 5] = 0.2
    est = np.zeros((12, 12), np.float32)
    est[0, :] = 0.8
    est[1, :] = 0.25
    g = air_floor(est, 0.1, noisy=x, keep=0.5)
    assert g[0, 0] == pytest.approx(0.8)
    assert g[5, 5] == pytest.approx(0.1 + 0.1 / 25 + 0.5 * (0.2 - 0.1 - 0.1 / 25))  # f = 0 around it
    assert g[8, 8] == pytest.approx(0.1)
    u = (2 * (0.1 - 0.8) + (0.1 - 0.25) + 2 * 0.1) / 5  # rows 0 (reflected), 0, 1, 2, 3
    assert g[1, 8] == pytest.approx(0.5 * 0.25 + 0.5 * max(0.25 + u + 0.5 * (0.1 - 0.25 - u), 0.0))
    # A dark structure the network sees is kept, at the input's level (no 5×5 blur).
    stripes = np.zeros((16, 16), np.float32)
    stripes[:, ::2] = 0.1
    g = air_floor(stripes, 0.1, noisy=stripes + 0.05, keep=0.0)
    np.testing.assert_allclose(g, stripes + 0.05, atol=1e-6)


def test_weight_solves_the_noise_reduction_equation():
    # A perfect denoiser (ε = 0) needs w = r; an imperfect one more, up to the cap.
    for r in (0.25, 0.5, 0.75):
        assert weight_for_reduction(r, 0.0, 0.0) == pytest.approx(r)
    rng = np.random.default_rng(5)
    n = rng.normal(size=200_000)
    e = 0.3 * (0.4 * n + np.sqrt(1 - 0.4**2) * rng.normal(size=n.size))  # ε = 0.3, ρ = 0.4
    for r in (0.25, 0.5, 0.6):
        w = weight_for_reduction(r, 0.3, 0.4)
        assert np.std((1 - w) * n + w * e) == pytest.approx(1 - r, rel=0.01)
    assert weight_for_reduction(0.9, 0.3, 0.4) == MAX_WEIGHT  # unreachable: capped
    assert weight_for_reduction(0.0, 0.3, 0.4) == 0.0


@pytest.mark.parametrize("factor", [-0.01, 1.01, float("nan"), "half", None, 25])
def test_factor_outside_zero_one_is_refused(clean, factor):
    with pytest.raises(ValueError, match="factor"):
        denoise_volume(clean, factor)


def test_arms_are_25_50_75_percent():
    assert FAST_DL_ARMS == {"Fast-DL25": 0.25, "Fast-DL50": 0.5, "Fast-DL75": 0.75}


def test_residual_noise_decreases_strictly_from_25_to_50_to_75(clean):
    sigma = 40.0
    noisy = _noisy(clean, sigma)
    arms = denoise_arms(noisy)
    body = object_mask(clean)
    residual = {"Fast": float(np.std((noisy - clean)[body]))}
    residual |= {arm: float(np.std((volume - clean)[body])) for arm, volume in arms.items()}
    assert residual["Fast"] > residual["Fast-DL25"] > residual["Fast-DL50"] > residual["Fast-DL75"], residual


# --- factor semantics and tells on flat tissue ----------------------------------------------------

@pytest.fixture(scope="module")
def flat():
    """Two 128×128 slices: a flat disc of 600 (tissue) in an empty background (air), with a
    darker flat inset of 300; Rician noise of σ = 24 (4 % of the tissue)."""
    y, x = np.mgrid[0:128, 0:128]
    image = np.zeros((128, 128), np.float32)
    image[(y - 64) ** 2 + (x - 64) ** 2 < 50**2] = 600.0
    image[(y - 64) ** 2 + (x - 80) ** 2 < 14**2] = 300.0
    clean = np.stack([image, image])
    noisy = _noisy(clean, 24.0, seed=11)
    tissue = np.zeros(clean.shape, bool)
    # Well inside the 600 disc: 6 px from its rim and from the 300 inset. (Until 2026-11-30 this
    # disc was centred at x = 50 with radius 24 and took in 115 inset pixels and the inset's
    # edge, so the "flat tissue" figure counted the edge's error as noise left: it read 57 %
    # for Fast-DL75 where the flat part alone reads more; MODEL_CARD.md.)
    tissue[:, (y - 64) ** 2 + (x - 40) ** 2 < 20**2] = True
    air = np.zeros(clean.shape, bool)
    air[:, (y - 64) ** 2 + (x - 64) ** 2 > 58**2] = True
    return clean, noisy, tissue, air, denoise_arms(noisy)


# The blend weight is calibrated on small synthetic flat patches (the committed network leaves
# ε ≈ 0.07 of the noise SD there, correlated 0.005 with it; the width-24 model before it 0.13 and
# 0.06); inside this disc, 6 px from edges, it leaves a little more, so each arm removes somewhat
# less than asked (committed model: 24.3 / 48.5 / 72.3 %; the width-24 model 22.9 / 45.6 / 67.9 %,
# MODEL_CARD.md), within the ±10 points of issue 13.
@pytest.mark.parametrize("arm", list(FAST_DL_ARMS))
def test_fast_dl_f_removes_f_percent_of_the_noise_sd_in_flat_tissue(flat, arm):
    clean, noisy, tissue, _, arms = flat
    removed = 1 - np.std((arms[arm] - clean)[tissue]) / np.std((noisy - clean)[tissue])
    assert removed == pytest.approx(FAST_DL_ARMS[arm], abs=0.10), removed


@pytest.mark.parametrize("arm", list(FAST_DL_ARMS))
def test_tissue_intensity_is_kept_within_one_percent(flat, arm):
    _, noisy, tissue, _, arms = flat
    assert arms[arm][tissue].mean() == pytest.approx(noisy[tissue].mean(), rel=0.01)


@pytest.mark.parametrize("arm", list(FAST_DL_ARMS))
def test_no_new_zeros_and_a_background_like_fast_at_the_lower_noise(flat, arm):
    clean, noisy, tissue, air, arms = flat
    out = arms[arm]
    assert np.count_nonzero(noisy == 0) == 0 and np.count_nonzero(out == 0) == 0
    assert out.min() > 0
    # Background: Fast's mean level (not black, not darkened), fluctuation lowered by the fraction
    # the tissue's noise is lowered (not more: a smooth, flat background would be a tell).
    r = FAST_DL_ARMS[arm]
    assert out[air].mean() == pytest.approx(noisy[air].mean(), rel=0.03)
    tissue_kept = np.std((out - clean)[tissue]) / np.std((noisy - clean)[tissue])
    assert out[air].std() / noisy[air].std() == pytest.approx(tissue_kept, abs=0.12)
    assert out[air].std() / noisy[air].std() < 1 - r / 2


def test_dark_tissue_keeps_its_mean():
    # Tissue at 1.5σ (too dark to tell from air): the arms keep its (Rician-biased) mean level.
    y, x = np.mgrid[0:128, 0:128]
    image = np.full((128, 128), 36.0, np.float32)
    image[(y - 64) ** 2 + (x - 64) ** 2 < 30**2] = 600.0
    clean = np.stack([image, image])
    noisy = _noisy(clean, 24.0, seed=4)
    dark = np.zeros(clean.shape, bool)
    dark[:, :20, :] = True
    for arm, out in denoise_arms(noisy).items():
        assert out[dark].mean() == pytest.approx(noisy[dark].mean(), rel=0.03), arm


def test_stored_integers_get_no_zeros_the_source_lacks(flat):
    _, noisy, _, _, _ = flat
    stored = np.rint(noisy / 4).astype(np.uint16)  # a coarse scale: background values of 1–10
    zeros_in = stored == 0
    for arm, out in denoise_arms(stored).items():
        assert not np.any((out == 0) & ~zeros_in), arm


def test_denoise_arms_equals_one_call_per_factor(clean):
    noisy = _noisy(clean, 30.0)
    arms = denoise_arms(noisy)
    for arm, r in FAST_DL_ARMS.items():
        np.testing.assert_allclose(arms[arm], denoise_volume(noisy, r), atol=1e-3)


def test_any_estimate_goes_through_the_same_calibrated_arms(clean):
    # The bench puts BM3D's output through the arms; with the network's estimate and transfer the
    # result is denoise_arms' bit for bit, and the calibration of an estimator is measured, not assumed.
    noisy = _noisy(clean, 30.0)
    sigma = estimate_noise_sigma(noisy)
    sigma_n = sigma / volume_scale(noisy)
    through = blend_arms(noisy, predict_clean(noisy, sigma=sigma), FAST_DL_ARMS, sigma=sigma,
                         transfer=noise_transfer(sigma_n))
    arms = denoise_arms(noisy, sigma=sigma)
    for arm in FAST_DL_ARMS:
        np.testing.assert_array_equal(through[arm], arms[arm])
    assert estimator_transfer(lambda x, s: x, 0.05) == pytest.approx((1.0, 1.0))  # keeps all the noise
    eps, _ = estimator_transfer(lambda x, s: x.mean(axis=(1, 2), keepdims=True) + 0 * x, 0.05)
    assert eps == pytest.approx(0.0, abs=1e-5)  # removes it all
    half = estimator_transfer(lambda x, s: 0.5 * x + 0.5 * x.mean(axis=(1, 2), keepdims=True), 0.05)
    assert half == pytest.approx((0.5, 1.0))
    # A perfect estimator needs weight r: its arms keep (1 − r) of the noise in flat tissue.
    flat = np.full((64, 64), 500.0, np.float32)
    noisy_flat = _noisy(flat, 20.0, seed=3)
    out = blend_arms(noisy_flat, flat, {"x": 0.75}, sigma=20.0, transfer=(0.0, 0.0))["x"]
    assert np.std(out - flat) == pytest.approx(0.25 * np.std(noisy_flat - flat), rel=1e-3)


def test_known_sigma_is_used_as_given(clean):
    # A network told the noise is tiny changes the image less than one told the true level.
    noisy = _noisy(clean, 30.0)
    told_tiny = denoise_volume(noisy, 1.0, sigma=1.0)
    told_true = denoise_volume(noisy, 1.0, sigma=30.0)
    assert np.std(told_tiny - noisy) < np.std(told_true - noisy)


def test_noise_estimate_is_close_for_white_gaussian_noise(clean):
    # Gaussian noise on a bright image; in dark background Rician noise has a smaller spread.
    noisy = clean + 500.0 + np.random.default_rng(3).normal(0, 30.0, clean.shape)
    assert estimate_noise_sigma(noisy) == pytest.approx(30.0, rel=0.15)


def test_noise_estimate_ignores_the_rayleigh_background():
    # A brain-like slice that is mostly air: a whole-slice wavelet MAD reads ~0.7σ there (Rayleigh
    # noise has an SD of 0.655σ); restricted to signal blocks the estimate is the per-channel σ.
    y, x = np.mgrid[0:256, 0:256]
    image = np.zeros((256, 256), np.float32)
    image[(y - 128) ** 2 + (x - 128) ** 2 < 70**2] = 500.0
    image[(y - 110) ** 2 + (x - 140) ** 2 < 20**2] = 250.0
    for sigma in (10.0, 25.0, 50.0):
        assert estimate_noise_sigma(_noisy(image, sigma, seed=2)) == pytest.approx(sigma, rel=0.06), sigma


def test_network_sees_the_image_in_units_of_sigma(clean):
    # The network divides by σ and multiplies back: scaling image and σ together scales the output
    # exactly (up to float32 rounding), and what it removes on flat tissue does not depend on σ.
    noisy = _noisy(clean, 30.0)
    base = predict_clean(noisy, sigma=30.0)
    np.testing.assert_allclose(predict_clean(noisy * 3.0, sigma=90.0) / 3.0, base, rtol=1e-4, atol=1e-2)
    eps = [noise_transfer(level)[0] for level in (0.02, 0.05, 0.1)]
    assert max(eps) - min(eps) < 0.1, eps


# --- shapes and dtypes --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(37, 53), (1, 64, 64), (3, 41, 70), (2, 8, 8)])
def test_any_slice_size_comes_back_in_its_shape(shape):
    rng = np.random.default_rng(0)
    volume = (rng.random(shape) * 100).astype(np.float32)
    out = denoise_volume(volume, 0.5)
    assert out.shape == shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0


def test_integer_pixel_data_stays_in_its_dtype(clean):
    stored = np.rint(_noisy(clean, 40.0)).astype(np.uint16)
    out = denoise_volume(stored, 0.75)
    assert out.dtype == np.uint16 and out.shape == stored.shape
    float_out = denoise_volume(stored.astype(np.float32), 0.75)
    np.testing.assert_allclose(out, np.rint(float_out), atol=1)


def test_float64_stays_float64(clean):
    out = denoise_volume(_noisy(clean, 40.0).astype(np.float64), 0.5)
    assert out.dtype == np.float64


def test_intensity_scale_does_not_change_the_result(clean):
    noisy = _noisy(clean, 40.0)
    np.testing.assert_allclose(denoise_volume(noisy * 7.0, 0.5) / 7.0, denoise_volume(noisy, 0.5), rtol=1e-3, atol=1e-2)


def test_all_zero_volume_stays_zero():
    out = denoise_volume(np.zeros((2, 16, 16), np.float32), 0.75)
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize(
    "volume, message",
    [
        (np.ones((2, 2, 16, 16)), "2-D slice or a 3-D"),
        (np.ones(16), "2-D slice or a 3-D"),
        (np.ones((16, 16), complex), "complex"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.ones((16, 16), bool), "numeric"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(volume, message):
    with pytest.raises(ValueError, match=message):
        denoise_volume(volume, 0.5)


# --- the committed model ------------------------------------------------------------------------

def test_committed_model_is_small_and_documented():
    from recon.denoiser.export import read_metadata

    assert MODEL_PATH.is_file()
    assert MODEL_PATH.stat().st_size < 5 * 1024 * 1024
    meta = read_metadata(MODEL_PATH)
    for key in ("architecture", "width", "n_res_blocks", "parameters", "seed", "training_config"):
        assert key in meta, key
    assert (MODEL_PATH.parent / "MODEL_CARD.md").is_file()


def test_onnx_model_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    from recon.denoiser.export import load_torch_from_onnx, max_abs_difference_torch_vs_onnx

    torch.set_num_threads(1)
    model = load_torch_from_onnx(MODEL_PATH)
    assert max_abs_difference_torch_vs_onnx(model, MODEL_PATH) < 1e-4


# --- real anatomy and lesions (regression floors recorded from the committed model) -----------------

#: In-body PSNR [dB] of the committed model on pydicom's MR_small (a held-out source, never trained
#: on) with Rician noise σ = 4 % of its 99.5th percentile (seed 7), minus a 0.3 dB margin.
# (Before the dark-region target kept the estimate's structure, 2026-11-30: 30.67 / 32.03 / 32.23.)
REAL_FLOOR_DB = {"Fast-DL25": 30.46, "Fast-DL50": 32.32, "Fast-DL75": 33.58}  # measured 30.76 / 32.62 / 33.88
REAL_GAIN_OVER_FAST_DB = 4.67  # DL75 measured 4.97 (Fast 28.91 dB)


def test_real_mr_in_body_psnr_stays_above_the_recorded_floor():
    from recon.denoiser.evaluation import rician
    from recon.denoiser.realmr import SOURCES, load_source

    assert SOURCES["pydicom_mr_small"].role == "validation" and SOURCES["pydicom_mr_small"].package == "pydicom"
    (clean,) = load_source("pydicom_mr_small", min_size=32)
    noisy = rician(clean, 0.04 * float(np.percentile(clean, 99.5)), seed=7)
    mask = object_mask(clean)
    arms = denoise_arms(noisy)
    fast = psnr(clean, noisy, mask=mask)
    figures = {arm: psnr(clean, out, mask=mask) for arm, out in arms.items()}
    for arm, floor in REAL_FLOOR_DB.items():
        assert figures[arm] >= floor, (arm, figures[arm], floor)
    assert figures["Fast-DL75"] - fast >= REAL_GAIN_OVER_FAST_DB, (fast, figures)


@pytest.fixture(scope="module")
def lesions():
    from recon.denoiser.evaluation import lesion_table
    from recon.pipeline import simulate_case

    sim = simulate_case(9103, "SAG T2 FS", slices=2, prevalence={"schmorl_nodes": 1.0, "disc_herniation": 1.0})
    table = lesion_table(sim, {"Fast": sim.fast, **denoise_arms(sim.fast)})
    assert table.lesion.nunique() >= 2, "the forced lesions must be in the slices"
    return table


def test_phantom_lesions_keep_their_contrast(lesions):
    # Denoising must not move the lesion contrast further from Truth's than Fast's (a blurring
    # denoiser would), within 0.01 of the ratio (the committed model: medians 0.867 / 0.865 / 0.862
    # vs Fast 0.870 on these 15 lesion-slices; the width-24 model 0.868 / 0.868 / 0.867).
    fast = lesions[lesions.arm == "Fast"]
    for arm in FAST_DL_ARMS:
        ratio = lesions[lesions.arm == arm].contrast_vs_truth
        assert abs(ratio.median() - 1) <= abs(fast.contrast_vs_truth.median() - 1) + 0.01, arm


@pytest.mark.xfail(strict=True, reason="committed model (width 32, 50 % real MR, 50 % phantom Truth + noise): 20 % of lesion-slices within 10 % of Truth, "
                                       "as Fast (20 %); Standard 53 %. The cause is the magnitude-noise bias the 1 % intensity rule keeps "
                                       "(without it 93 %; MODEL_CARD.md, sixth pass)")
def test_phantom_lesions_within_ten_percent_more_often_than_fast(lesions):
    # Issue 13's target is ≥ 90 % of lesions within 10 % of Truth's contrast. The previous model
    # reached 40 % here; this guards a floor and that denoising beats Fast on it.
    dl = lesions[lesions.arm.str.startswith("Fast-DL")]
    fast = lesions[lesions.arm == "Fast"]
    assert dl.within_10pct.mean() >= LESION_SHARE_WITHIN_10PCT, dl.groupby("arm").contrast_vs_truth.describe()
    assert dl.within_10pct.mean() > fast.within_10pct.mean()


LESION_SHARE_WITHIN_10PCT = 0.35  # the previous model's 0.40 minus a margin


# --- the recon worker's arm steps ---------------------------------------------------------------

def test_fast_dl_arm_steps_plug_into_the_pipeline():
    from recon.denoiser.arms import register_fast_dl_arms
    from recon.pipeline import ARM_STEPS, arm_image, simulate_case, unregister_arm_step

    before = dict(ARM_STEPS)
    try:
        names = register_fast_dl_arms()
        assert names == ["Fast-DL25", "Fast-DL50", "Fast-DL75"]
        sim = simulate_case(11, "SAG T2 FS", slices=1)  # full 384×384 matrix: the trained setting
        images = {name: arm_image(sim, name) for name in names}
        for name, image in images.items():
            assert image.shape == sim.fast.shape and image.dtype == np.float32
            np.testing.assert_allclose(image, denoise_volume(sim.fast, FAST_DL_ARMS[name]), atol=1e-3)
        error = [float(np.sqrt(np.mean((images[n] - sim.truth) ** 2))) for n in names]
        assert np.sqrt(np.mean((sim.fast - sim.truth) ** 2)) > error[0] > error[1] > error[2], error
    finally:
        for name in list(ARM_STEPS):
            if name not in before:
                unregister_arm_step(name)


# --- training pairs (no torch) ---------------------------------------------------------------------

def test_phantom_noise_pairs_carry_only_added_noise_at_the_estimated_sigma():
    from recon.denoiser.data import CaseVolumes, phantom_noise_slices

    truth = np.stack([resize(shepp_logan_phantom(), (96, 96)).astype(np.float32) * 500] * 2)
    empty = np.zeros_like(truth)
    case = CaseVolumes(1, "AX T2", 1.0, truth, empty, empty, (empty, empty))
    pairs = phantom_noise_slices([case], seed=3, per_slice=3, sigma_range=(0.03, 0.03))
    assert len(pairs) == 6
    again = phantom_noise_slices([case], seed=3, per_slice=3, sigma_range=(0.03, 0.03))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(pairs, again))  # seeded
    top = float(np.percentile(truth[0], 99.5))
    for noisy, clean, sigma in pairs:
        # the target is Truth in the noisy slice's units, the input Truth + noise, σ in the same units
        ratio = truth[0].max() / clean.max()
        assert np.allclose(clean * ratio, truth[0], rtol=1e-5, atol=1e-3)
        assert sigma == pytest.approx(estimate_noise_sigma(noisy), rel=1e-5)  # as at inference
        assert 0.5 * 0.03 * top < sigma * ratio < 2.0 * 0.03 * top
        assert 0.015 < float(np.std(noisy - clean)) * ratio / top < 0.05  # noise of the drawn σ was added


def test_patch_sampler_pads_slices_smaller_than_the_patch_and_leaves_larger_ones_alone():
    from recon.denoiser.train import _PatchSampler

    rng = np.random.default_rng(0)
    small = rng.random((40, 48)).astype(np.float32) + 0.1
    large = rng.random((80, 80)).astype(np.float32) + 0.1
    sampler = _PatchSampler([("a", [(small, small * 0.5, 0.1)], 1.0), ("b", [(large, large, 0.2)], 1.0)],
                            64, np.random.default_rng(1))
    (_, ((pad_x, pad_y, _),)), (_, ((big_x, _, _),)) = sampler.groups
    assert pad_x.shape == pad_y.shape == (64, 64)
    np.testing.assert_array_equal(pad_x[:40, :48], small)  # the slice itself, then its reflection
    np.testing.assert_allclose(pad_y, pad_x * 0.5)  # input and reference padded alike
    assert big_x is large
    x, y, s = sampler.batch(6)
    assert x.shape == y.shape == (6, 1, 64, 64) and s.shape == (6, 1)
    assert np.all(np.isclose(s, 0.1) | np.isclose(s, 0.2))


# --- training: a run stopped and resumed from its checkpoint is the same run --------------------

def test_training_resumed_from_a_checkpoint_gives_the_weights_of_one_uninterrupted_run(tmp_path):
    torch = pytest.importorskip("torch")
    from recon.denoiser.train import TrainingConfig, train_network

    rng = np.random.default_rng(5)
    clean_slices = [rng.random((24, 24)).astype(np.float32) + 0.5 for _ in range(3)]
    pairs = [(c + rng.normal(0, 0.05, c.shape).astype(np.float32), c, 0.05) for c in clean_slices]
    groups = [("a", pairs[:2], 0.5), ("b", pairs[2:], 0.5)]
    config = TrainingConfig(steps=6, width=8, batch_size=2, patch=16, threads=1, log_every=3)

    straight, _ = train_network(groups, config, log=lambda line: None)

    class Stopped(Exception):
        pass

    def stop_at_step_3(line: str) -> None:
        if line.startswith("step     3/"):
            raise Stopped

    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Stopped):
        train_network(groups, config, log=stop_at_step_3, checkpoint=checkpoint, checkpoint_every=3)
    assert torch.load(checkpoint, weights_only=True)["step"] == 3
    lines: list[str] = []
    resumed, _ = train_network(groups, config, log=lines.append, checkpoint=checkpoint, checkpoint_every=3)
    assert any(line.startswith("resumed from") and "after step 3" in line for line in lines)
    assert not any(line.startswith("step     3/") for line in lines)  # steps 1–3 were not run again
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name

    with pytest.raises(ValueError, match="another training config"):
        train_network(groups, TrainingConfig(steps=7, width=8, batch_size=2, patch=16, threads=1), log=lambda line: None,
                      checkpoint=checkpoint)


def test_training_reads_only_named_installed_training_sources(monkeypatch):
    from recon.denoiser import realmr
    from recon.denoiser.train import training_source_names

    with pytest.raises(LookupError, match="unknown real MR source 'nope'"):
        training_source_names(("nope",))
    with pytest.raises(LookupError, match="'pydicom_mr_small' is a validation source"):
        training_source_names(("pydicom_mr_small",))
    monkeypatch.setattr(realmr, "available_sources", lambda role=None: ["siemens_abdomen"])
    with pytest.raises(LookupError, match=r"'colin27_t1' is not installed: it comes with mricron-data \(Debian\)"):
        training_source_names(("siemens_abdomen", "colin27_t1"))
    assert training_source_names(("siemens_abdomen",)) == ["siemens_abdomen"]
    assert training_source_names(None) == ["siemens_abdomen"]


def test_training_defaults_are_the_committed_models_recipe():
    """``manage.py train_denoiser`` with no options retrains the committed model: its metadata's
    training config is the defaults' (training itself is deterministic: the checkpoint test)."""
    import json

    from recon.denoiser.export import read_metadata
    from recon.denoiser.train import TrainingConfig, config_json

    meta = read_metadata(MODEL_PATH)
    assert json.loads(meta["training_config"]) == json.loads(config_json(TrainingConfig()))
    assert sorted(json.loads(meta["real_training_sources"])) == sorted(TrainingConfig().real_sources)


def test_debian_training_sources_are_found_where_debian_installs_them_or_named_missing(monkeypatch, tmp_path):
    from recon.denoiser import realmr

    monkeypatch.setattr(realmr, "DEBIAN_SHARE", tmp_path)
    with pytest.raises(FileNotFoundError, match="ch2.nii.gz is missing: install its Debian package"):
        realmr.SOURCES["colin27_t1"].loader()
    with pytest.raises(FileNotFoundError, match="FatMRISlice.png is missing"):
        realmr.SOURCES["itk_fat_mri"].loader()
    assert not {"colin27_t1", "itk_fat_mri"} & set(realmr.available_sources("training"))
    assert not realmr.SOURCES["colin27_t1"].installed()
    monkeypatch.undo()
    if not (realmr.DEBIAN_SHARE / "mricron/templates/ch2.nii.gz").is_file():
        pytest.skip("Debian's mricron-data is not installed")
    slices = realmr.load_source("colin27_t1")
    assert len(slices) > 150 and all(s.ndim == 2 and s.dtype == np.float32 for s in slices)


def test_finding_the_installed_sources_reads_no_image(monkeypatch):
    import dataclasses

    from recon.denoiser import realmr

    def unread(path):
        raise AssertionError(f"{path} was read to decide whether it is installed")

    patched = {name: dataclasses.replace(source, reader=unread) for name, source in realmr.SOURCES.items()}
    monkeypatch.setattr(realmr, "SOURCES", patched)
    names = realmr.available_sources()
    assert "pydicom_mr_small" in names  # pydicom itself is always installed
    assert set(realmr.available_sources("validation")) <= set(names)
