"""Fast-DL inference through onnxruntime: ``denoise_volume(volume, factor)``.

No torch here: the recon worker and the tests run the committed ONNX model
(``recon/denoiser/model/fastdl.onnx``) on the CPU, or on CUDA when onnxruntime offers it.

Noise-reduction factor
----------------------
The network, conditioned on the volume's noise level σ, predicts the noise-free image ``f(x)``.
The factor ``r`` in [0, 1] says which fraction of the noise the network found is removed::

    Fast-DL(r) = x + r · (f(x) − x)        i.e.  x − r · n̂   with   n̂ = x − f(x)

so ``r = 0`` is exactly the input (the identity), ``r = 1`` the network's full-strength estimate,
and in between the output keeps the fraction ``1 − r`` of the estimated noise. For pure noise of
standard deviation σ that the network estimates well, the residual noise is ≈ (1 − r)·σ, so it
decreases strictly from 25 % to 50 % to 75 %; the arms ``Fast-DL25``, ``Fast-DL50`` and
``Fast-DL75`` are ``r = 0.25, 0.50, 0.75``. This mirrors the vendor's "noise reduction factor"
(seed 000, AIR Recon DL) as a blend, which keeps texture at low factors and never invents signal
that the full-strength output does not contain.

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
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(result), info.min, info.max).astype(like.dtype)
    return result.astype(like.dtype, copy=False)


def estimate_noise_sigma(volume: np.ndarray) -> float:
    """Noise standard deviation of a magnitude slice or volume, in its own units.

    The median over slices of :func:`skimage.restoration.estimate_sigma` (Donoho–Johnstone MAD of the
    finest diagonal wavelet sub-band), which is robust to anatomy and equals the Gaussian σ for
    white noise at moderate-to-high SNR.
    """
    from skimage.restoration import estimate_sigma

    vol, _ = _as_float_volume(volume)
    per_slice = [float(estimate_sigma(s)) for s in vol]
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
    return out[0] if was_2d else out


def apply_factor(noisy: np.ndarray, clean_estimate: np.ndarray, factor: float) -> np.ndarray:
    """``noisy + factor · (clean_estimate − noisy)``, clipped at 0 (magnitude images are non-negative).

    ``factor = 0`` returns ``noisy`` unchanged (no clipping either).
    """
    factor = _check_factor(factor)
    noisy = np.asarray(noisy, dtype=np.float32)
    if factor == 0.0:
        return noisy.copy()
    blended = noisy + np.float32(factor) * (np.asarray(clean_estimate, dtype=np.float32) - noisy)
    return np.maximum(blended, 0.0, out=blended)


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
    clean = predict_clean(
        original,
        sigma=sigma,
        model_path=model_path,
        providers=providers,
        num_threads=num_threads,
        batch_size=batch_size,
    )
    result = apply_factor(vol if original.ndim == 3 else vol[0], clean, factor)
    return _restore_dtype(result, original)


def denoise_arms(volume: np.ndarray, factors: dict[str, float] | None = None, **kwargs) -> dict[str, np.ndarray]:
    """All Fast-DL arms of one volume from a single network pass: ``{"Fast-DL25": ..., ...}``."""
    factors = FAST_DL_ARMS if factors is None else factors
    original = np.asarray(volume)
    vol, was_2d = _as_float_volume(original)
    clean = predict_clean(original, **kwargs)
    noisy = vol[0] if was_2d else vol
    return {arm: _restore_dtype(apply_factor(noisy, clean, r), original) if r > 0 else original.copy()
            for arm, r in factors.items()}
