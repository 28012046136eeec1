"""The recon worker: pure numerical modules (phantom, acquisition, reconstruction, denoiser,
DICOM writing) and thin Celery tasks that call them."""
