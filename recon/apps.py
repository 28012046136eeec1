from django.apps import AppConfig


class ReconConfig(AppConfig):
    name = "recon"
    label = "recon"
    verbose_name = "Recon worker"
