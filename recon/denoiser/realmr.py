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


def _mr2_shoulder() -> list[np.ndarray]:
    return [_downsample2(f) for f in _dicom_frames(_package_dir("data_store") / "data" / "MR2_UNCR.dcm")]


def _siemens_abdomen() -> list[np.ndarray]:
    return _dicom_frames(_package_dir("data_store") / "data" / "MR-SIEMENS-DICOM-WithOverlays.dcm")


def _dipy_t1_coronal() -> list[np.ndarray]:
    return [np.load(_package_dir("dipy.data") / "files" / "t1_coronal_slice.npy").astype(np.float32)]


def _pydicom_file(name: str) -> Callable[[], list[np.ndarray]]:
    def load() -> list[np.ndarray]:
        return _dicom_frames(_package_dir("pydicom") / "data" / "test_files" / name)

    return load


def _mni152() -> list[np.ndarray]:
    path = _package_dir("nilearn.datasets") / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    return _nifti_slices(path, axes=(0, 1, 2), step=3)


def _dipy_nifti(name: str) -> Callable[[], list[np.ndarray]]:
    def load() -> list[np.ndarray]:
        return _nifti_slices(_package_dir("dipy.data") / "files" / name)

    return load


def _nibabel_example4d() -> list[np.ndarray]:
    return _nifti_slices(_package_dir("nibabel") / "tests" / "data" / "example4d.nii.gz")


DEBIAN_SHARE = Path("/usr/share")


def _debian_file(relative: str) -> Path:
    path = DEBIAN_SHARE / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install its Debian package (see recon.denoiser.realmr)")
    return path


def _colin27() -> list[np.ndarray]:
    return _nifti_slices(_debian_file("mricron/templates/ch2.nii.gz"), axes=(0, 1, 2), step=3)


def _itk_fat_mri() -> list[np.ndarray]:
    from PIL import Image

    path = _debian_file("doc/insighttoolkit5-examples/examples/Data/FatMRISlice.png")
    return [np.asarray(Image.open(path).convert("L"), dtype=np.float32)]


@dataclass(frozen=True)
class RealSource:
    name: str
    package: str
    licence: str
    role: str  # "training" or "validation"
    description: str
    loader: Callable[[], list[np.ndarray]]


SOURCES: dict[str, RealSource] = {
    s.name: s
    for s in (
        RealSource("mr2_shoulder", "pydicom-data", "MIT", "validation",
                   "MR2_UNCR.dcm shoulder, 1024² downsampled 2× to 512²", _mr2_shoulder),
        RealSource("dipy_t1_coronal", "dipy", "BSD-3-Clause", "validation",
                   "t1_coronal_slice.npy brain T1, 256²", _dipy_t1_coronal),
        RealSource("pydicom_mr_small", "pydicom", "MIT", "validation",
                   "MR_small.dcm, 64²", _pydicom_file("MR_small.dcm")),
        RealSource("siemens_abdomen", "pydicom-data", "MIT", "training",
                   "MR-SIEMENS-DICOM-WithOverlays.dcm abdomen, 484²", _siemens_abdomen),
        RealSource("mni152_t1", "nilearn", "BSD-3-Clause (ICBM 2009a template: MNI copyright, free use with notice)",
                   "training", "ICBM 2009a symmetric T1 template, 1 mm; every 3rd slice, 3 orientations", _mni152),
        RealSource("dipy_s0", "dipy", "BSD-3-Clause", "training", "S0_10slices.nii.gz b0 EPI, 10 × 128²",
                   _dipy_nifti("S0_10slices.nii.gz")),
        RealSource("dipy_piesno", "dipy", "BSD-3-Clause", "training", "test_piesno.nii.gz EPI, 14 × 96²",
                   _dipy_nifti("test_piesno.nii.gz")),
        RealSource("nibabel_example4d", "nibabel", "MIT", "training", "example4d.nii.gz EPI, 24 × 128×96",
                   _nibabel_example4d),
        RealSource("pydicom_emri", "pydicom-data", "MIT", "training", "emri_small.dcm, 10 × 64²",
                   lambda: _dicom_frames(_package_dir("data_store") / "data" / "emri_small.dcm")),
        RealSource("colin27_t1", "mricron-data (Debian)", "BSD-3-Clause (Debian copyright; Colin27, MNI)", "training",
                   "ch2.nii.gz Colin27 single-subject T1, 1 mm; every 3rd slice, 3 orientations", _colin27),
        RealSource("itk_fat_mri", "insighttoolkit5-examples (Debian)", "Apache-2.0", "training",
                   "FatMRISlice.png abdomen, 256² 8-bit", _itk_fat_mri),
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
    """Names of the sources whose package is installed (optionally of one role)."""
    names = []
    for name, source in SOURCES.items():
        if role is not None and source.role != role:
            continue
        try:
            source.loader()
        except (LookupError, FileNotFoundError, ImportError):
            continue
        names.append(name)
    return names


