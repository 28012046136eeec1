import os

from django.apps import AppConfig


class ReconConfig(AppConfig):
    name = "recon"
    label = "recon"
    verbose_name = "Recon worker"

    def ready(self):
        # Post-processing arms (Fast-DL25/50/75) plug into the pipeline's registry when the
        # denoiser and its trained model are installed; RECON_FAST_DL=0 turns them off.
        if os.environ.get("RECON_FAST_DL", "1") != "0":
            from recon.pipeline import load_plugin_arms

            load_plugin_arms()
