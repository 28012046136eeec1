"""Fast-DL25/50/75 as post-processing arm steps of the recon worker's pipeline.

``register_fast_dl_arms()`` adds the steps to :data:`recon.pipeline.ARM_STEPS`; the worker calls it
once (e.g. from ``ReconConfig.ready()`` or at import of ``recon.pipeline``'s users). The network
runs once per case × sequence: the full-strength estimate is kept in ``sim.info`` and each arm
only blends (see :mod:`recon.denoiser.inference` for the factor's meaning).
"""

from __future__ import annotations

import numpy as np

from recon.denoiser.inference import FAST_DL_ARMS, apply_factor, predict_clean

_CACHE_KEY = "fastdl_clean_estimate"


def _clean_estimate(sim) -> np.ndarray:
    cached = sim.info.get(_CACHE_KEY)
    if cached is None or cached.shape != sim.fast.shape:
        cached = predict_clean(sim.fast)
        sim.info[_CACHE_KEY] = cached
    return cached


def fast_dl_step(factor: float):
    """An arm step ``fn(sim) -> volume``: Fast denoised at noise-reduction factor ``factor``."""

    def step(sim) -> np.ndarray:
        return apply_factor(sim.fast, _clean_estimate(sim), factor)

    step.__name__ = f"fast_dl_{round(factor * 100)}"
    return step


def register_fast_dl_arms() -> list[str]:
    """Register ``Fast-DL25``, ``Fast-DL50``, ``Fast-DL75`` with the pipeline; return their names."""
    from recon.pipeline import register_arm_step

    for arm, factor in FAST_DL_ARMS.items():
        register_arm_step(
            arm, fast_dl_step(factor), source="Fast",
            description=f"Fast through the Fast-DL network at noise-reduction factor {factor:.2f}",
        )
    return list(FAST_DL_ARMS)
