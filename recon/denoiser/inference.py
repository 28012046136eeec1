"""Fast-DL inference through onnxruntime: ``denoise_volume(volume, factor)``.

No torch here: the recon worker and the tests run the committed ONNX model
(``recon/denoiser/model/fastdl.onnx``) on the CPU, or on CUDA when onnxruntime offers it.

Noise-reduction factor
----------------------
The network divides the volume by its noise level σ (so it always sees unit-σ magnitude noise),
predicts the noise in those units and multiplies back: ``f(x) = x − σ·n̂(x/σ)``, the noise-free
image (in one pass for all factors). The factor ``r`` in [0, 1] means what a reader expects: Fast-DL*r*
removes the fraction ``r`` of the noise standard deviation in flat tissue. The output is a blend::

    Fast-DL(r) = x + w · (max(f(x), 0) − x)

whose weight ``w = w(r, σ)`` is calibrated per volume: the network is run once more on a few
synthetic flat patches (Rician noise at the volume's normalized σ, fixed seed), which measures how
much of the noise it removes there (its residual SD ε and the residual's correlation ρ with the
noise); ``w`` then solves ``SD((1 − w)·n + w·e) = (1 − r)·SD(n)``. For a perfect denoiser ``w = r``.
``r = 0`` is exactly the input (the identity). ``w`` is capped at 0.95 so some of the input's own
texture always remains; a factor whose weight would reach that cap (the network cannot remove the
fraction asked for) gets ``0.95 · r / 0.75`` instead, so the arms still differ and keep their
order (the model card says where the committed model falls short).

No tells: nothing is clipped. The network's estimate is floored at 0 *before* blending, and where
it is within 2σ of 0 (air, or tissue too dark to tell from air; :func:`air_floor`) it is shifted to
the input's local mean level, plus a fraction of the residual's fluctuation, so the output is at least
``(1 − w)·x``: it is zero only where the input is. In the background the output keeps the input's
mean level (no black or darkened background, no darkened dark tissue) and its fluctuation falls by
the fraction removed in flat tissue.

Noise level
-----------
σ is estimated per volume as the median over slices of scikit-image's wavelet (MAD of the finest
diagonal sub-band) estimator, the same estimator the network saw during training, so a scanner's
DICOM series and the recon worker's k-space path are handled alike. Callers that know σ (the
recon worker's noise simulation) may pass it; it is then used as given.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The committed, trained model.
MODEL_PATH = Path(__file__).resolve().parent / "model" / "fastdl.onnx"
#: Height/width must be multiples of this for the network; inputs are reflect-padded.
SIZE_MULTIPLE = 8
#: The volume is divided by this percentile of its voxel values before entering the network.
SCALE_PERCENTILE = 99.5

#: The arms this step produces, with their noise-reduction factors.
FAST_DL_ARMS: dict[str, float] = {"Fast-DL25": 0.25, "Fast-DL50": 0.50, "Fast-DL75": 0.75}


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build offers it, else the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _default_threads() -> int:
    env = os.environ.get("FASTDL_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


@lru_cache(maxsize=8)
def _session(model_path: str, providers: tuple[str, ...], num_threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path, sess_options=options, providers=list(providers))


def _as_float_volume(volume: np.ndarray) -> tuple[np.ndarray, bool]:
    """(slices, H, W) float32 view of a 2-D slice or 3-D volume; flag says it was 2-D."""
    array = np.asarray(volume)
    if np.iscomplexobj(array):
        raise ValueError("Fast-DL denoises magnitude images; got a complex array (take np.abs first).")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"Fast-DL needs a numeric magnitude image; got dtype {array.dtype}.")
    if array.ndim not in (2, 3):
        raise ValueError(f"Fast-DL needs a 2-D slice or a 3-D (slices, rows, columns) volume; got shape {array.shape}.")
    if min(array.shape[-2:]) < 2:
        raise ValueError(f"Fast-DL needs slices of at least 2×2 pixels; got shape {array.shape}.")
    as_float = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(as_float)):
        raise ValueError("Fast-DL input contains NaN or infinite values.")
    was_2d = array.ndim == 2
    return (as_float[None] if was_2d else as_float), was_2d


def _restore_dtype(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Back to the input's dtype. Integer data is rounded; a value that rounds to 0 where the
    input was positive becomes 1 (no exact zeros the source does not have)."""
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        rounded = np.clip(np.rint(result), info.min, info.max)
        rounded[(rounded == 0) & (like > 0)] = 1
        return rounded.astype(like.dtype)
    return result.astype(like.dtype, copy=False)


#: Blocks whose 2×2 mean exceeds this many σ count as signal for the noise estimate (there the
#: magnitude noise is close to Gaussian with the per-channel σ; in air it is Rayleigh, SD 0.655σ).
SIGNAL_BLOCK_SNR = 4.0
_MAD_TO_SD = 1.0 / 0.6744897501960817


def _slice_noise_sigma(image: np.ndarray) -> float:
    """Donoho–Johnstone MAD of the finest diagonal Haar sub-band, restricted to signal blocks."""
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    x = np.asarray(image[:h, :w], np.float64)
    a, b, c, d = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    diag = np.abs(a - b - c + d).ravel() / 2.0  # SD = σ for white noise (orthonormal Haar)
    mean = ((a + b + c + d) / 4.0).ravel()
    sigma = float(np.median(diag)) * _MAD_TO_SD
    minimum = max(16, int(0.02 * diag.size))
    for _ in range(3):
        signal = mean > SIGNAL_BLOCK_SNR * sigma
        if np.count_nonzero(signal) < minimum:
            break
        sigma = float(np.median(diag[signal])) * _MAD_TO_SD
    return sigma


def estimate_noise_sigma(volume: np.ndarray) -> float:
    """Noise standard deviation of a magnitude slice or volume, in its own units.

    The median over slices of the Donoho–Johnstone estimator (MAD of the finest diagonal Haar
    wavelet sub-band / 0.6745, robust to anatomy), taken over the 2×2 blocks whose mean is above
    4σ (iterated from the whole-slice estimate): in air, magnitude noise is Rayleigh-distributed
    with an SD of only 0.655σ, so a whole-slice estimate falls with the background fraction (to
    ~0.7σ on a brain slice); restricted to the signal it is the per-channel σ of white noise within
    a few per cent whatever the background. Correlated noise (partial Fourier, zero-filled
    interpolation) has less power in the finest band and reads lower.
    """
    vol, _ = _as_float_volume(volume)
    per_slice = [_slice_noise_sigma(s) for s in vol]
    return float(np.median(per_slice))


def volume_scale(volume: np.ndarray) -> float:
    """The intensity the volume is divided by before the network (its 99.5th percentile)."""
    vol, _ = _as_float_volume(volume)
    return float(np.percentile(vol, SCALE_PERCENTILE))


def _pad(batch: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = batch.shape[-2:]
    ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
    if ph == 0 and pw == 0:
        return batch, (h, w)
    mode = "reflect" if h > ph and w > pw else "edge"
    return np.pad(batch, ((0, 0), (0, ph), (0, pw)), mode=mode), (h, w)


def predict_clean(
    volume: np.ndarray,
    *,
    sigma: float | None = None,
    model_path: str | os.PathLike | None = None,
    providers: list[str] | tuple[str, ...] | None = None,
    num_threads: int | None = None,
    batch_size: int = 4,
) -> np.ndarray:
    """The network's full-strength (r = 1) estimate of the noise-free volume, float32, same shape.

    Parameters are those of :func:`denoise_volume` (without ``factor``).
    """
    vol, was_2d = _as_float_volume(volume)
    scale = volume_scale(vol)
    if scale <= 0:
        out = vol.copy()
        return out[0] if was_2d else out
    if sigma is None:
        sigma = estimate_noise_sigma(vol)
    if sigma < 0 or not np.isfinite(sigma):
        raise ValueError(f"sigma must be a finite, non-negative noise level; got {sigma}.")
    out = _predict(vol, sigma, scale, model_path, providers, num_threads, batch_size)
    return out[0] if was_2d else out


def _predict(vol: np.ndarray, sigma: float, scale: float, model_path, providers, num_threads, batch_size: int) -> np.ndarray:
    """The network pass of :func:`predict_clean` on a checked (slices, H, W) float32 volume whose
    :func:`volume_scale` is ``scale`` (> 0)."""
    session = _session(
        str(model_path or MODEL_PATH),
        tuple(providers) if providers else tuple(default_providers()),
        int(num_threads or _default_threads()),
    )
    sigma_n = np.float32(sigma / scale)
    out = np.empty_like(vol)
    for start in range(0, vol.shape[0], batch_size):
        chunk = vol[start : start + batch_size] / np.float32(scale)
        padded, (h, w) = _pad(chunk)
        feed = {
            "image": np.ascontiguousarray(padded[:, None], dtype=np.float32),
            "sigma": np.full((padded.shape[0], 1), sigma_n, dtype=np.float32),
        }
        (pred,) = session.run(None, feed)
        out[start : start + batch_size] = pred[:, 0, :h, :w] * np.float32(scale)
    return out


#: Largest blend weight toward the network estimate (keeps some input texture, never all-network).
MAX_WEIGHT = 0.95
#: Flat levels (fractions of the volume scale) and size of the calibration patches.
CALIBRATION_LEVELS = (0.3, 0.5, 0.7)
CALIBRATION_SIZE = 64


#: Below ``BACKGROUND_SNR[0]·σ`` the estimate counts as air (0), above ``BACKGROUND_SNR[1]·σ`` as
#: tissue; linear in between.
BACKGROUND_SNR = (2.0, 3.0)


#: In-plane size of the local mean whose level low-signal regions keep.
AIR_WINDOW_PX = 5


class _AirParts:
    """The pieces of :func:`air_floor` that do not depend on ``keep``: f + U(r), r − U(r), f·ramp
    and 1 − ramp (f the floored estimate, r = x − f, U its 5×5 local mean, ramp the air→tissue
    ramp); without σ or the input, just f. :func:`denoise_arms` computes them once for all arms
    (the blend of each arm is then a few in-place element-wise passes)."""

    def __init__(self, clean_estimate: np.ndarray, sigma: float | None, noisy: np.ndarray | None):
        self.estimate = np.maximum(np.asarray(clean_estimate, dtype=np.float32), 0.0)
        self.active = sigma is not None and sigma > 0 and noisy is not None
        if not self.active:
            return
        from scipy import ndimage

        x = np.asarray(noisy, dtype=np.float32)
        size = (AIR_WINDOW_PX,) * 2 if x.ndim == 2 else (1,) + (AIR_WINDOW_PX,) * 2
        # The residual (input − estimate) and its 5×5 local mean: the estimate plus the local mean
        # of the residual has the input's local mean level but the estimate's structure. Kept as the
        # pieces target() combines (base = f + U(r), fluctuation = r − U(r)), so each arm costs a
        # few in-place passes (same arithmetic, same bits as the formula).
        residual = x - self.estimate
        local_residual = ndimage.uniform_filter(residual, size=size, mode="reflect")
        self.base = self.estimate + local_residual
        residual -= local_residual
        self.fluctuation = residual
        lo, hi = BACKGROUND_SNR
        ramp = np.clip((self.estimate / np.float32(sigma) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
        self.tissue_part = self.estimate * ramp
        self.air_weight = 1 - ramp
        self.estimate = None  # not needed any more: four volumes are kept, not five

    def target(self, keep: float) -> np.ndarray:
        """A new array (the caller may change it in place)."""
        if not self.active:
            return self.estimate.copy()
        # f·ramp + max(f + U(r) + keep·(r − U(r)), 0)·(1 − ramp)
        air = self.fluctuation * np.float32(keep)
        air += self.base
        np.maximum(air, 0.0, out=air)  # ≥ 0, so the blend stays ≥ (1 − w)·input
        air *= self.air_weight
        air += self.tissue_part
        return air


def air_floor(clean_estimate: np.ndarray, sigma: float | None, *, noisy: np.ndarray | None = None,
              keep: float = 0.0) -> np.ndarray:
    """The blend target ``g``: the estimate floored at 0 where there is signal, and in air (and
    tissue too dark to tell from air) the estimate shifted to the input's local mean level, plus
    ``keep`` times the residual's local fluctuation.

    "Air" is where the estimate ``f`` is within 2σ of 0 (a linear ramp up to 3σ; above 3σ the target
    is the floored estimate). There the network's *level* is not trusted (it removes the Rician
    floor): with the residual ``r = x − f`` and its 5×5 in-plane mean ``U(r)``, the target
    ``f + U(r) + keep·(r − U(r))`` (floored at 0) keeps the input's local mean level — no darkened or
    black background, no darkened low-signal tissue — keeps the estimate's structure, and lowers the
    fluctuation; :func:`denoise_arms` chooses ``keep`` so the fluctuation falls by the fraction the
    flat tissue's noise does. (Until 2026-11-30 the target was ``m + keep·(x − m)`` with ``m`` the
    input's 5×5 mean: the same level, but dark structures inside the body — tendon, cortical bone,
    sulci, flow voids — came out as a 5×5 blur, which cost 0.9–1.7 dB in the body on the held-out
    shoulder and MR_small images; in air, where ``f`` ≈ 0, the two are nearly the same.)
    ``sigma=None`` or no ``noisy`` only floors the estimate at 0.
    """
    return _AirParts(clean_estimate, sigma, noisy).target(keep)


def _blend(noisy: np.ndarray, parts: _AirParts, weight: float, reduction: float) -> np.ndarray:
    """``noisy + w·(g − noisy)`` with ``g = parts.target(1 − reduction / w)``."""
    w = float(weight)
    if w == 0.0:
        return noisy.copy()
    reduction = min(max(float(reduction), 0.0), w)
    out = parts.target(1.0 - reduction / w)
    out -= noisy
    out *= np.float32(w)
    out += noisy
    return out


def apply_factor(noisy: np.ndarray, clean_estimate: np.ndarray, factor: float, *, weight: float | None = None,
                 sigma: float | None = None, air_reduction: float | None = None) -> np.ndarray:
    """``noisy + w · (g − noisy)`` with ``g`` = :func:`air_floor` and ``w = weight`` (default ``factor``).

    The raw blend; :func:`denoise_volume` and :func:`denoise_arms` pass the calibrated weight
    (:func:`blend_weight`), the noise level and the fraction of the noise to remove in air
    (``air_reduction``, default ``w``). ``factor = 0`` returns ``noisy`` unchanged. Nothing is
    clipped: the result is ≥ ``(1 − w)·noisy`` wherever ``noisy`` ≥ 0.
    """
    factor = _check_factor(factor)
    w = factor if weight is None else _check_factor(weight)
    noisy = np.asarray(noisy, dtype=np.float32)
    if factor == 0.0 or w == 0.0:
        return noisy.copy()
    reduction = w if air_reduction is None else air_reduction
    return _blend(noisy, _AirParts(clean_estimate, sigma, noisy), w, reduction)


def flat_reduction(weight: float, residual_ratio: float, correlation: float) -> float:
    """The fraction of flat-tissue noise SD that blend weight ``weight`` removes, for a network
    with residual ratio ε and correlation ρ (the inverse of :func:`weight_for_reduction`)."""
    w, eps, rho = float(weight), float(residual_ratio), float(correlation)
    variance = (1 - w) ** 2 + 2 * w * (1 - w) * rho * eps + w * w * eps * eps
    return float(1.0 - np.sqrt(max(variance, 0.0)))


def weight_for_reduction(factor: float, residual_ratio: float, correlation: float) -> float:
    """Blend weight w with SD((1 − w)·n + w·e) = (1 − factor)·SD(n), where SD(e) = ε·SD(n) and
    corr(n, e) = ρ (ε = ``residual_ratio``, ρ = ``correlation``); capped at :data:`MAX_WEIGHT`."""
    factor = _check_factor(factor)
    if factor == 0.0:
        return 0.0
    eps, rho = float(residual_ratio), float(np.clip(correlation, -1.0, 1.0))
    target = (1.0 - factor) ** 2
    # (1 − w)² + 2w(1 − w)ρε + w²ε² = target  →  a w² + b w + c = 0
    a = 1.0 - 2.0 * rho * eps + eps * eps
    b = -2.0 * (1.0 - rho * eps)
    c = 1.0 - target
    disc = b * b - 4.0 * a * c
    if a <= 0 or disc < 0:
        return MAX_WEIGHT
    w = (-b - np.sqrt(disc)) / (2.0 * a)
    return float(np.clip(w, 0.0, MAX_WEIGHT))


def flat_patches(sigma_normalized: float) -> np.ndarray:
    """The calibration input: flat Rician patches (levels :data:`CALIBRATION_LEVELS`, size
    :data:`CALIBRATION_SIZE`², fixed seed) at normalized noise level ``sigma_normalized``."""
    rng = np.random.default_rng(0)
    levels = np.asarray(CALIBRATION_LEVELS, np.float32)
    size = CALIBRATION_SIZE
    clean = np.broadcast_to(levels[:, None, None], (levels.size, size, size)).astype(np.float32)
    return np.hypot(clean + rng.normal(0, sigma_normalized, clean.shape),
                    rng.normal(0, sigma_normalized, clean.shape)).astype(np.float32)


def transfer_of(noisy: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """(ε, ρ) of an estimate of the flat patches ``noisy`` (:func:`flat_patches`): the SD of the
    estimate's fluctuation relative to the noise's, and its correlation with the noise, away from
    the patch border. The estimate is floored at 0 first, as the arms floor it."""
    inner = (slice(None), slice(8, -8), slice(8, -8))
    n = (noisy - noisy.mean(axis=(1, 2), keepdims=True))[inner].ravel()
    est = np.maximum(np.asarray(estimate, np.float32), 0.0)
    e = (est - est.mean(axis=(1, 2), keepdims=True))[inner].ravel()
    sd_n = float(n.std())
    if sd_n == 0:
        return 0.0, 0.0
    eps = float(e.std()) / sd_n
    rho = float(np.corrcoef(n, e)[0, 1]) if e.std() > 0 else 0.0
    return eps, rho


def estimator_transfer(estimator, sigma_normalized: float) -> tuple[float, float]:
    """(ε, ρ) of any denoiser ``estimator(patches, σ) -> estimate`` (normalized units, patches of
    shape (n, H, W)) on the calibration patches; the bench uses it to put BM3D through the arms."""
    noisy = flat_patches(sigma_normalized)
    return transfer_of(noisy, estimator(noisy, float(sigma_normalized)))


@lru_cache(maxsize=256)
def _noise_transfer(model_path: str, providers: tuple[str, ...], num_threads: int, sigma_key: float) -> tuple[float, float]:
    """(ε, ρ) of the network on flat Rician patches at normalized σ ``sigma_key`` (see module doc)."""
    session = _session(model_path, providers, num_threads)
    noisy = flat_patches(sigma_key)
    feed = {"image": noisy[:, None], "sigma": np.full((noisy.shape[0], 1), sigma_key, np.float32)}
    (pred,) = session.run(None, feed)
    return transfer_of(noisy, pred[:, 0])


def noise_transfer(
    sigma_normalized: float,
    *,
    model_path: str | os.PathLike | None = None,
    providers: list[str] | tuple[str, ...] | None = None,
    num_threads: int | None = None,
) -> tuple[float, float]:
    """(ε, ρ): the network's residual SD ratio and residual–noise correlation on flat patches at
    normalized noise level ``sigma_normalized`` (cached)."""
    return _noise_transfer(
        str(model_path or MODEL_PATH),
        tuple(providers) if providers else tuple(default_providers()),
        int(num_threads or _default_threads()),
        float(np.float32(round(float(sigma_normalized), 5))),
    )


def blend_weight(
    factor: float,
    sigma_normalized: float,
    *,
    model_path: str | os.PathLike | None = None,
    providers: list[str] | tuple[str, ...] | None = None,
    num_threads: int | None = None,
) -> float:
    """The calibrated blend weight for noise-reduction ``factor`` at normalized noise level
    ``sigma_normalized`` (σ divided by the volume's scale, :func:`volume_scale`)."""
    factor = _check_factor(factor)
    if factor == 0.0:
        return 0.0
    if not (np.isfinite(sigma_normalized) and sigma_normalized > 0):
        return factor
    return weight_from_transfer(factor, *noise_transfer(sigma_normalized, model_path=model_path,
                                                        providers=providers, num_threads=num_threads))


def weight_from_transfer(factor: float, residual_ratio: float, correlation: float) -> float:
    """The blend weight for ``factor`` of an estimate with flat-patch transfer (ε, ρ): the
    solution of :func:`weight_for_reduction`, or, where that reaches :data:`MAX_WEIGHT`, the
    factor's proportional share of the cap."""
    factor = _check_factor(factor)
    # Where the network cannot remove the fraction asked for (the weight reaches the cap), the arms
    # must still differ and keep their order: such a factor gets its proportional share of the cap
    # (the strongest arm, 75 %, may reach it). Reachable factors get their calibrated weight,
    # which grows with the factor, so the order holds either way.
    weight = weight_for_reduction(factor, residual_ratio, correlation)
    if weight >= MAX_WEIGHT:
        weight = MAX_WEIGHT * min(factor / max(FAST_DL_ARMS.values()), 1.0)
    return weight


def _check_factor(factor: float) -> float:
    try:
        value = float(factor)
    except (TypeError, ValueError):
        raise ValueError(f"The noise-reduction factor must be a number in [0, 1]; got {factor!r}.") from None
    if not (0.0 <= value <= 1.0):
        raise ValueError(
            f"The noise-reduction factor must be in [0, 1] (0.5 means 50 %); got {factor!r}."
        )
    return value


def denoise_volume(
    volume: np.ndarray,
    factor: float,
    *,
    sigma: float | None = None,
    model_path: str | os.PathLike | None = None,
    providers: list[str] | tuple[str, ...] | None = None,
    num_threads: int | None = None,
    batch_size: int = 4,
) -> np.ndarray:
    """Fast → Fast-DL: denoise a magnitude slice or volume at noise-reduction factor ``factor``.

    Parameters
    ----------
    volume : ndarray, shape (rows, columns) or (slices, rows, columns)
        Magnitude image in any real dtype (a DICOM series' stored values, or the recon worker's
        float reconstruction). Any intensity scale; it is normalized internally.
    factor : float
        Noise-reduction factor r in [0, 1] (0.25, 0.5, 0.75 for Fast-DL25/50/75). ``0`` returns
        the input unchanged. See the module docstring for its meaning.
    sigma : float, optional
        Noise standard deviation in the volume's units. Estimated from the volume when omitted.
    model_path : path, optional
        ONNX model to use instead of the committed one.
    providers : list of str, optional
        onnxruntime execution providers; default CUDA when available, else CPU.
    num_threads : int, optional
        onnxruntime intra-op threads (CPU); default ``$FASTDL_THREADS`` or min(2, cores).
    batch_size : int
        Slices per network call.

    Returns
    -------
    ndarray
        Same shape as ``volume``. Floating inputs keep their dtype; integer inputs (DICOM pixel
        data) are rounded and clipped back into their dtype.

    Examples
    --------
    >>> fast_dl50 = denoise_volume(fast_volume, 0.5)  # doctest: +SKIP
    """
    factor = _check_factor(factor)
    original = np.asarray(volume)
    vol, _ = _as_float_volume(original)
    if factor == 0.0:
        return original.copy()
    return denoise_arms(
        original, {"out": factor}, sigma=sigma, model_path=model_path, providers=providers,
        num_threads=num_threads, batch_size=batch_size,
    )["out"]


def denoise_arms(
    volume: np.ndarray,
    factors: dict[str, float] | None = None,
    *,
    sigma: float | None = None,
    model_path: str | os.PathLike | None = None,
    providers: list[str] | tuple[str, ...] | None = None,
    num_threads: int | None = None,
    batch_size: int = 4,
) -> dict[str, np.ndarray]:
    """All Fast-DL arms of one volume from a single network pass: ``{"Fast-DL25": ..., ...}``.

    Each arm is the calibrated blend of :func:`apply_factor` with :func:`blend_weight`; the
    keyword arguments are those of :func:`denoise_volume`.
    """
    factors = FAST_DL_ARMS if factors is None else factors
    checked = {arm: _check_factor(r) for arm, r in factors.items()}
    original = np.asarray(volume)
    vol, was_2d = _as_float_volume(original)
    scale = volume_scale(vol) if any(r != 0.0 for r in checked.values()) else 0.0
    if scale <= 0:
        return {arm: original.copy() for arm in checked}  # identity, or nothing to denoise
    if sigma is None:
        sigma = estimate_noise_sigma(vol)
    if sigma < 0 or not np.isfinite(sigma):
        raise ValueError(f"sigma must be a finite, non-negative noise level; got {sigma}.")
    options = {"model_path": model_path, "providers": providers, "num_threads": num_threads}
    clean = _predict(vol, sigma, scale, model_path, providers, num_threads, batch_size)
    sigma_n = float(sigma) / scale
    if was_2d:
        clean = clean[0]
    noisy = vol[0] if was_2d else vol
    transfer = noise_transfer(sigma_n, **options) if np.isfinite(sigma_n) and sigma_n > 0 else None
    arms = blend_arms(noisy, clean, checked, sigma=sigma, transfer=transfer)
    return {arm: original.copy() if checked[arm] == 0.0 else _restore_dtype(out, original) for arm, out in arms.items()}


def blend_arms(noisy: np.ndarray, estimate: np.ndarray, factors: dict[str, float], *, sigma: float | None,
               transfer: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """The arms of ``factors`` blended from the float input ``noisy`` and any full-strength
    ``estimate`` of it whose flat-patch transfer (ε, ρ) is ``transfer`` (``None``: weight = factor).

    :func:`denoise_arms` passes the network's estimate; the bench passes BM3D's (with
    :func:`estimator_transfer`) to show what the factor semantics cost an estimate as good as BM3D.
    """
    parts = _AirParts(estimate, sigma, noisy)
    out = {}
    for arm, r in factors.items():
        r = _check_factor(r)
        if r == 0.0:
            out[arm] = np.array(noisy, dtype=np.float32, copy=True)
            continue
        if transfer is None:
            weight = reduction = r
        else:
            weight = weight_from_transfer(r, *transfer)
            reduction = flat_reduction(weight, *transfer)
        out[arm] = _blend(noisy, parts, weight, reduction)
    return out
