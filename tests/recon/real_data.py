"""Real MR images shipped in packages (no download at run time), with Rician noise of known SD.

Sources (all DICOM, stored values):

- ``siemens``: pydicom-data ``MR-SIEMENS-DICOM-WithOverlays.dcm``, 484 x 484 abdomen, 25 % exact
  zeros in zero-padded bands above and below the field of view, air left and right of the body;
- ``philips``: pydicom-data ``MR2_UNCR.dcm``, 1024 x 1024 shoulder, zero bands, air at the top left;
- ``overlay``: pydicom's own ``examples_overlay.dcm``, 300 x 484 (the Siemens abdomen cropped to
  the body's rows: no padding);
- ``emri``: pydicom-data ``emri_small.dcm``, 10 x 64 x 64 crop of anatomy, no air;
- ``mr_small``: pydicom's own ``MR_small.dcm``, 64 x 64 crop of anatomy, no air.

Their own noise is small against the noise the tests add; it is measured once in a hand-chosen
air box (``AIR_BOX``, looked at on the image, independent of :mod:`recon.noise`) and added in
quadrature to give the true SD of the noisy image's air.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data

FILES = {
    "siemens": ("pydicom-data", "MR-SIEMENS-DICOM-WithOverlays.dcm"),
    "philips": ("pydicom-data", "MR2_UNCR.dcm"),
    "overlay": ("pydicom", "examples_overlay.dcm"),
    "emri": ("pydicom-data", "emri_small.dcm"),
    "mr_small": ("pydicom", "MR_small.dcm"),
}

# (rows, cols) of an air box without anatomy, ghosts or padding, chosen by eye.
AIR_BOX = {
    "siemens": (slice(130, 200), slice(5, 40)),
    "philips": (slice(250, 450), slice(20, 120)),
    "overlay": (slice(10, 80), slice(5, 40)),
}


def path(name: str) -> Path:
    package, filename = FILES[name]
    if package == "pydicom":
        return Path(pydicom.data.__file__).parent / "test_files" / filename
    import data_store  # the pydicom-data package (test extra)

    return Path(data_store.__file__).parent / "data" / filename


def dataset(name: str) -> pydicom.Dataset:
    """A fresh copy (callers may change it)."""
    return pydicom.dcmread(path(name))


@functools.lru_cache(maxsize=8)
def _image(name: str) -> np.ndarray:
    a = dataset(name).pixel_array.astype(np.float64)
    a = a if a.ndim == 3 else a[None]
    a.flags.writeable = False
    return a


def image(name: str) -> np.ndarray:
    """(slices, rows, cols) float64 stored values (read-only, cached)."""
    return _image(name)


def own_noise_sd(name: str) -> float:
    """Per-channel SD of the image's own air (Rayleigh: E[M^2] = 2 sigma^2) in AIR_BOX."""
    box = image(name)[(slice(None), *AIR_BOX[name])]
    box = box[box > 0]
    return math.sqrt(np.mean(box**2) / 2)


def rician(truth: np.ndarray, sigma: float, rng: np.random.Generator, *, keep_zeros: bool = True) -> np.ndarray:
    """|truth + complex Gaussian noise of per-channel SD sigma|; exact zeros stay zero (the
    scanner's padding is written after reconstruction)."""
    noisy = np.abs(truth + rng.normal(0, sigma, truth.shape) + 1j * rng.normal(0, sigma, truth.shape))
    return np.where(truth == 0, 0.0, noisy) if keep_zeros else noisy


def true_sd(name: str, added: float) -> float:
    return math.hypot(added, own_noise_sd(name))
