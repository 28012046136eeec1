"""Fast-DL25/50/75 as post-processing arm steps of the recon worker's pipeline.

``register_fast_dl_arms()`` adds the steps to :data:`recon.pipeline.ARM_STEPS`; the worker calls it
once (e.g. from ``ReconConfig.ready()`` or at import of ``recon.pipeline``'s users). The network
runs once per case × sequence: the first Fast-DL arm asked for computes all of them
(:func:`~recon.denoiser.inference.denoise_arms`, calibrated blends of one network pass) and keeps
them in ``sim.info`` (see :mod:`recon.denoiser.inference` for the factor's meaning).
"""

from __future__ import annotations

import numpy as np

from recon.denoiser.inference import FAST_DL_ARMS, denoise_arms

_CACHE_KEY = "fastdl_arms"


def _arms(sim) -> dict[float, np.ndarray]:
    cached = sim.info.get(_CACHE_KEY)
    if cached is None or cached["shape"] != sim.fast.shape:
        factors = {r: r for r in FAST_DL_ARMS.values()}
        cached = {"shape": sim.fast.shape, "arms": denoise_arms(sim.fast, factors)}
        sim.info[_CACHE_KEY] = cached
    return cached["arms"]


def fast_dl_step(factor: float):
    """An arm step ``fn(sim) -> volume``: Fast denoised at noise-reduction factor ``factor``."""

    def step(sim) -> np.ndarray:
        arms = _arms(sim)
        if factor not in arms:
            arms[factor] = denoise_arms(sim.fast, {factor: factor})[factor]
        return arms[factor]

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
