import os
from pathlib import Path

from django.apps import AppConfig


def load_plugin_arms() -> list[str]:
    """Register the Fast-DL arms of :mod:`recon.denoiser` when it and its ONNX model are present.
    Returns the names registered (empty if unavailable).

    Here, in the app's composition root, rather than in ``recon.pipeline``: the denoiser's arm
    steps import the pipeline's registry, so the pipeline must not import the denoiser back."""
    try:
        import recon.denoiser as denoiser
        from recon.denoiser.arms import register_fast_dl_arms
    except ImportError:
        return []
    if not (Path(denoiser.__file__).parent / "model" / "fastdl.onnx").exists():
        return []
    return register_fast_dl_arms()


class ReconConfig(AppConfig):
    name = "recon"
    label = "recon"
    verbose_name = "Recon worker"

    def ready(self):
        # Post-processing arms (Fast-DL25/50/75) plug into the pipeline's registry when the
        # denoiser and its trained model are installed; RECON_FAST_DL=0 turns them off.
        if os.environ.get("RECON_FAST_DL", "1") != "0":
            load_plugin_arms()
