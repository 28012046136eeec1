"""Real MR images shipped inside installed packages: the denoiser's real-anatomy data.

Nothing is downloaded: each source reads files that a PyPI package installs. Sources are whole
files or series, and each has one role, so validation never sees slices of a training source:

==================  ==========================================================  ============  ==========
name                what                                                        package        role
==================  ==========================================================  ============  ==========
mr2_shoulder        MR2_UNCR.dcm: shoulder, 1024² (downsampled 2× → 512²)       pydicom-data   validation
dipy_t1_coronal     t1_coronal_slice.npy: brain T1, coronal, 256² (skull off)   dipy           validation
pydicom_mr_small    MR_small.dcm: 64² MR slice                                  pydicom        validation
siemens_abdomen     MR-SIEMENS-DICOM-WithOverlays.dcm: abdomen T1, 484²         pydicom-data   training
mni152_t1           ICBM 2009a sym T1 template, 1 mm, 197×233×189 (every 3rd    nilearn        training
                    slice of each orientation)
dipy_s0             S0_10slices.nii.gz: b0 EPI brain, 10 × 128²                 dipy           training
dipy_piesno         test_piesno.nii.gz: EPI, 14 × 96²                           dipy           training
nibabel_example4d   example4d.nii.gz: EPI, 24 × 128×96 (first volume)           nibabel        training
pydicom_emri        emri_small.dcm: 10 × 64² MR frames                          pydicom-data   training
colin27_t1          ch2.nii.gz: Colin27, one subject's T1 (27 scans averaged),  mricron-data   training
                    1 mm, 181×217×181 (every 3rd slice of each orientation)     (Debian)
itk_fat_mri         FatMRISlice.png: abdomen, 256² (8-bit)                      insighttoolkit5-
                                                                                examples (Debian)
                                                                                               training
==================  ==========================================================  ============  ==========

(pydicom's ``examples_overlay.dcm`` is a crop of the Siemens abdomen image, so it is not a separate
source.) Licences: pydicom and pydicom-data MIT; dipy BSD-3-Clause; nibabel MIT; nilearn BSD-3-Clause
with the ICBM 2009a template under its own permissive copyright notice (McConnell Brain Imaging
Centre, free use with attribution). These images carry their own acquisition noise; they serve as
the "clean" reference to which noise of known σ is added.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(f"the package providing {module!r} is not installed")
    return Path(spec.origin).parent


def _dicom_frames(path: Path) -> list[np.ndarray]:
    import pydicom

    pixels = np.asarray(pydicom.dcmread(path).pixel_array, dtype=np.float32)
    return list(pixels) if pixels.ndim == 3 else [pixels]


def _nifti_slices(path: Path, *, axes: tuple[int, ...] = (2,), step: int = 1, volume: int = 0) -> list[np.ndarray]:
    import nibabel as nib

    data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    if data.ndim == 4:
        data = data[..., volume]
    slices = []
    for axis in axes:
        moved = np.moveaxis(data, axis, 0)
        for s in moved[::step]:
            slices.append(np.ascontiguousarray(np.rot90(s)))
    return slices


def _downsample2(image: np.ndarray) -> np.ndarray:
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).astype(np.float32)


def _packaged(module: str, *parts: str) -> Callable[[], Path]:
    """The path of a file inside an installed package (LookupError when the package is missing)."""
    return lambda: _package_dir(module).joinpath(*parts)


DEBIAN_SHARE = Path("/usr/share")


def _debian_file(relative: str) -> Path:
    path = DEBIAN_SHARE / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install its Debian package (see recon.denoiser.realmr)")
    return path


def _debian(relative: str) -> Callable[[], Path]:
    return lambda: _debian_file(relative)


def _downsampled_frames(path: Path) -> list[np.ndarray]:
    return [_downsample2(f) for f in _dicom_frames(path)]


def _npy(path: Path) -> list[np.ndarray]:
    return [np.load(path).astype(np.float32)]


def _orthogonal_every_third(path: Path) -> list[np.ndarray]:
    return _nifti_slices(path, axes=(0, 1, 2), step=3)


def _png_gray(path: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(path).convert("L"), dtype=np.float32)]


@dataclass(frozen=True)
class RealSource:
    name: str
    package: str
    licence: str
    role: str  # "training" or "validation"
    description: str
    path: Callable[[], Path]  # where the file is (LookupError / FileNotFoundError when not installed)
    reader: Callable[[Path], list[np.ndarray]]

    def loader(self) -> list[np.ndarray]:
        """The source's raw 2-D images (reads the file)."""
        return self.reader(self.path())

    def installed(self) -> bool:
        """Whether the file is there, without reading it."""
        try:
            return self.path().is_file()
        except (LookupError, FileNotFoundError, ImportError):
            return False


SOURCES: dict[str, RealSource] = {
    s.name: s
    for s in (
        RealSource("mr2_shoulder", "pydicom-data", "MIT", "validation",
                   "MR2_UNCR.dcm shoulder, 1024² downsampled 2× to 512²",
                   _packaged("data_store", "data", "MR2_UNCR.dcm"), _downsampled_frames),
        RealSource("dipy_t1_coronal", "dipy", "BSD-3-Clause", "validation",
                   "t1_coronal_slice.npy brain T1, 256²", _packaged("dipy.data", "files", "t1_coronal_slice.npy"), _npy),
        RealSource("pydicom_mr_small", "pydicom", "MIT", "validation",
                   "MR_small.dcm, 64²", _packaged("pydicom", "data", "test_files", "MR_small.dcm"), _dicom_frames),
        RealSource("siemens_abdomen", "pydicom-data", "MIT", "training",
                   "MR-SIEMENS-DICOM-WithOverlays.dcm abdomen, 484²",
                   _packaged("data_store", "data", "MR-SIEMENS-DICOM-WithOverlays.dcm"), _dicom_frames),
        RealSource("mni152_t1", "nilearn", "BSD-3-Clause (ICBM 2009a template: MNI copyright, free use with notice)",
                   "training", "ICBM 2009a symmetric T1 template, 1 mm; every 3rd slice, 3 orientations",
                   _packaged("nilearn.datasets", "data", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
                   _orthogonal_every_third),
        RealSource("dipy_s0", "dipy", "BSD-3-Clause", "training", "S0_10slices.nii.gz b0 EPI, 10 × 128²",
                   _packaged("dipy.data", "files", "S0_10slices.nii.gz"), _nifti_slices),
        RealSource("dipy_piesno", "dipy", "BSD-3-Clause", "training", "test_piesno.nii.gz EPI, 14 × 96²",
                   _packaged("dipy.data", "files", "test_piesno.nii.gz"), _nifti_slices),
        RealSource("nibabel_example4d", "nibabel", "MIT", "training", "example4d.nii.gz EPI, 24 × 128×96",
                   _packaged("nibabel", "tests", "data", "example4d.nii.gz"), _nifti_slices),
        RealSource("pydicom_emri", "pydicom-data", "MIT", "training", "emri_small.dcm, 10 × 64²",
                   _packaged("data_store", "data", "emri_small.dcm"), _dicom_frames),
        RealSource("colin27_t1", "mricron-data (Debian)", "BSD-3-Clause (Debian copyright; Colin27, MNI)", "training",
                   "ch2.nii.gz Colin27 single-subject T1, 1 mm; every 3rd slice, 3 orientations",
                   _debian("mricron/templates/ch2.nii.gz"), _orthogonal_every_third),
        RealSource("itk_fat_mri", "insighttoolkit5-examples (Debian)", "Apache-2.0", "training",
                   "FatMRISlice.png abdomen, 256² 8-bit",
                   _debian("doc/insighttoolkit5-examples/examples/Data/FatMRISlice.png"), _png_gray),
    )
}


def load_source(name: str, *, min_size: int = 64) -> list[np.ndarray]:
    """The usable 2-D slices of one source (float32; slices with little signal dropped)."""
    source = SOURCES[name]
    slices = []
    for image in source.loader():
        image = np.asarray(image, dtype=np.float32)
        top = float(np.percentile(image, 99.5))
        if min(image.shape) < min_size or top <= 0:
            continue
        if np.mean(image > 0.1 * top) < 0.08:  # mostly background: an edge slice of a volume
            continue
        slices.append(image)
    return slices


def available_sources(role: str | None = None) -> list[str]:
    """Names of the sources whose file is installed (optionally of one role); nothing is read."""
    return [name for name, source in SOURCES.items()
            if (role is None or source.role == role) and source.installed()]


