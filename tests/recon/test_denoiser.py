"""Fast-DL (issue 4): factor semantics, identity at r = 0, residual noise, shapes/dtypes, ONNX model.

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
    denoise_arms,
    denoise_volume,
    estimate_noise_sigma,
    predict_clean,
)
from recon.denoiser.integrity import compare_volumes, fastdl_integrity


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


def test_factor_blends_input_and_full_strength_estimate(clean):
    noisy = _noisy(clean, 40.0)
    full = predict_clean(noisy)
    for r in (0.25, 0.5, 0.75, 1.0):
        expected = np.maximum(noisy + np.float32(r) * (full - noisy), 0)
        np.testing.assert_allclose(denoise_volume(noisy, r), expected, rtol=0, atol=1e-3)


def test_apply_factor_is_the_documented_formula():
    rng = np.random.default_rng(0)
    noisy, estimate = rng.random((3, 8, 8)).astype(np.float32), rng.random((3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(apply_factor(noisy, estimate, 0.3), noisy + 0.3 * (estimate - noisy), atol=1e-6)
    np.testing.assert_array_equal(apply_factor(noisy, estimate, 0.0), noisy)
    np.testing.assert_allclose(apply_factor(noisy, estimate, 1.0), estimate, atol=1e-6)


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
    residual = {"Fast": float(np.std(noisy - clean))}
    residual |= {arm: float(np.std(volume - clean)) for arm, volume in arms.items()}
    assert residual["Fast"] > residual["Fast-DL25"] > residual["Fast-DL50"] > residual["Fast-DL75"], residual
    # A clear, not marginal, reduction (the committed model's figures are in its MODEL_CARD.md).
    assert residual["Fast-DL75"] < 0.95 * residual["Fast"], residual


def test_denoise_arms_equals_one_call_per_factor(clean):
    noisy = _noisy(clean, 30.0)
    arms = denoise_arms(noisy)
    for arm, r in FAST_DL_ARMS.items():
        np.testing.assert_allclose(arms[arm], denoise_volume(noisy, r), atol=1e-3)


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
    np.testing.assert_allclose(out, np.clip(np.rint(float_out), 0, 65535), atol=1)


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


# --- integrity figures --------------------------------------------------------------------------

def test_identical_volumes_have_perfect_integrity(clean):
    figures = compare_volumes(clean, clean)
    assert figures["ssim"] == pytest.approx(1.0)
    assert figures["l1"] == 0 and figures["nmse"] == 0 and figures["psnr"] == float("inf")
    assert figures["data_range"] == pytest.approx(float(clean.max() - clean.min()))


def test_integrity_figures_match_scikit_image_and_the_stated_range(clean):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    noisy = _noisy(clean, 20.0)
    figures = compare_volumes(clean, noisy, data_range=1000.0)
    assert figures["data_range"] == 1000.0
    assert figures["psnr"] == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1000.0), rel=1e-6)
    ssim = np.mean([structural_similarity(c, n, data_range=1000.0) for c, n in zip(clean, noisy)])
    assert figures["ssim"] == pytest.approx(ssim, rel=1e-6)
    assert figures["l1"] == pytest.approx(float(np.mean(np.abs(noisy.astype(float) - clean))), rel=1e-6)
    assert figures["nmse"] == pytest.approx(float(np.sum((noisy.astype(float) - clean) ** 2) / np.sum(clean.astype(float) ** 2)), rel=1e-6)


def test_integrity_refuses_mismatched_volumes(clean):
    with pytest.raises(ValueError, match="shape"):
        compare_volumes(clean, clean[:1])
    with pytest.raises(ValueError, match="data_range"):
        compare_volumes(np.zeros((8, 8)), np.zeros((8, 8)))


def test_integrity_table_has_one_row_per_comparison(clean):
    fast = _noisy(clean, 40.0, seed=2)
    standard = _noisy(clean, 28.0, seed=3)
    table = fastdl_integrity(
        fast=fast,
        fast_dl=denoise_arms(fast),
        standard=standard,
        standard_dl=denoise_arms(standard),
        truth=clean,
    )
    pairs = set(zip(table["reference"], table["test"]))
    assert ("Fast", "Fast-DL50") in pairs and ("Standard", "Standard-DL75") in pairs
    assert ("Truth", "Standard") in pairs and ("Truth", "Fast-DL75") in pairs
    assert len(table) == 3 + 3 + (2 + 3 + 3)
    truth_rows = table[table["reference"] == "Truth"].set_index("test")
    assert truth_rows.loc["Fast-DL75", "psnr"] > truth_rows.loc["Fast", "psnr"]


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
