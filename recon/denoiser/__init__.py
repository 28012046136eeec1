"""Fast-DL: the project's own trained MR magnitude denoiser (issue 4).

Pure numerics, no Django. Inference needs only numpy, scikit-image and onnxruntime; training
(:mod:`recon.denoiser.train`, :mod:`recon.denoiser.network`) needs the ``train`` extra (torch).

The recon worker calls :func:`denoise_volume` (Fast → Fast-DL at a factor) or :func:`denoise_arms`
(all of Fast-DL25/50/75 from one network pass). :mod:`recon.denoiser.realmr` lists the real MR
sources (installed packages) used for training and validation.
"""

from recon.denoiser.inference import (
    FAST_DL_ARMS,
    MODEL_PATH,
    apply_factor,
    blend_weight,
    denoise_arms,
    denoise_volume,
    estimate_noise_sigma,
    predict_clean,
)

__all__ = [
    "FAST_DL_ARMS",
    "MODEL_PATH",
    "apply_factor",
    "blend_weight",
    "denoise_arms",
    "denoise_volume",
    "estimate_noise_sigma",
    "predict_clean",
]
