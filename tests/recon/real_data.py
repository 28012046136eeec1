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

import copy
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


def series_from(name: str, folder: Path, *, slices: int = 3, scale: float = 1.0, noise_sd: float | None = None,
                seed: int = 0, description: str | None = None) -> Path:
    """A single-frame series folder made from a real image: ``slices`` copies 4 mm apart along
    the normal, values times ``scale``, with Rician noise of ``noise_sd`` (independent per slice)
    when given; exact zeros of the image stay zero. Stored as 16-bit."""
    src = dataset(name)
    folder.mkdir(parents=True)
    series = pydicom.uid.generate_uid()
    iop = np.array(src.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    rng = np.random.default_rng(seed)
    base = image(name)[0] * scale
    for k in range(slices):
        ds = copy.deepcopy(src)
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [f"{x:.4f}" for x in np.array(src.ImagePositionPatient, float) + 4.0 * k * normal]
        ds.InstanceNumber = k + 1
        if description is not None:
            ds.SeriesDescription = description
        px = base if noise_sd is None else rician(base, noise_sd, rng)
        ds.BitsStored, ds.HighBit = 16, 15
        ds.PixelData = np.clip(np.rint(px), 0, 65535).astype(np.uint16).tobytes()
        ds.save_as(folder / f"s{k}.dcm", enforce_file_format=True)
    return folder


def nibabel_epi() -> np.ndarray:
    """Held-out source (never used to tune recon.noise): nibabel's bundled ``example4d.nii.gz``,
    a real 128 x 96 x 24 EPI head volume (first frame) as (slices, rows, cols). Its background is
    masked to exact zeros (61 % of the voxels)."""
    import nibabel

    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    v = np.asarray(nibabel.load(path).dataobj)[..., 0].astype(np.float64)
    return np.transpose(v, (2, 0, 1))
