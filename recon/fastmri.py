"""Real data in (b): raw multi-coil k-space in the fastMRI HDF5 layout.

Layout (as in the fastMRI multi-coil files, Zbontar et al. 2018, arXiv:1811.08839):

``kspace``
    complex64, (slices, coils, readout, phase): the *last* axis is phase encoding, the axis
    the fastMRI masks act on.
``ismrmrd_header``
    ISMRMRD XML (bytes): encodedSpace/reconSpace matrix sizes and fields of view,
    encodingLimits kspace_encoding_step_1 (centre line).
``reconstruction_rss``
    float32 (slices, rows, cols), optional: the reference RSS reconstruction.
attributes ``acquisition``, ``patient_id``, ``max``, ``norm``.

Standard is the full reconstruction; Fast is a retrospective undersampling of the same data
(partial Fourier -> homodyne, or R-fold with ACS lines -> SENSE with ACS-estimated maps).
The project writes phantom data in this layout (:func:`write_fastmri`) to test the path, since
no raw spine data can be downloaded here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .protocols import ArmAcquisition

_NS = "http://www.ismrm.org/ISMRMRD"


@dataclass
class RawSeries:
    kspace: np.ndarray  # (slices, coils, readout, phase) complex64
    recon_matrix: tuple[int, int]  # (readout, phase)
    fov_mm: tuple[float, float, float]
    acquisition: str
    patient_id: str


def ismrmrd_header(*, readout: int, phase: int, recon: tuple[int, int], fov_mm: tuple[float, float, float], centre_line: int, protocol_name: str) -> bytes:
    """A minimal ISMRMRD header with the fields a reader of this layout needs."""
    def space(tag, mx, my, fov):
        return (f"<{tag}><matrixSize><x>{mx}</x><y>{my}</y><z>1</z></matrixSize>"
                f"<fieldOfView_mm><x>{fov[0]}</x><y>{fov[1]}</y><z>{fov[2]}</z></fieldOfView_mm></{tag}>")
    xml = (
        f'<?xml version="1.0" encoding="utf-8"?><ismrmrdHeader xmlns="{_NS}">'
        f"<measurementInformation><protocolName>{protocol_name}</protocolName></measurementInformation>"
        f"<encoding>{space('encodedSpace', readout, phase, fov_mm)}{space('reconSpace', recon[0], recon[1], fov_mm)}"
        f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{phase - 1}</maximum>"
        f"<center>{centre_line}</center></kspace_encoding_step_1></encodingLimits>"
        f"<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>"
    )
    return xml.encode()


def write_fastmri(path: Path | str, kspace: np.ndarray, *, recon_matrix: tuple[int, int], fov_mm: tuple[float, float, float], acquisition: str, patient_id: str, reconstruction_rss: np.ndarray | None = None) -> Path:
    """Write (slices, coils, readout, phase) k-space in the fastMRI layout."""
    if kspace.ndim != 4:
        raise ValueError("kspace must be (slices, coils, readout, phase)")
    path = Path(path)
    _, _, readout, phase = kspace.shape
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64))
        f.create_dataset("ismrmrd_header", data=np.bytes_(ismrmrd_header(
            readout=readout, phase=phase, recon=recon_matrix, fov_mm=fov_mm, centre_line=phase // 2, protocol_name=acquisition)))
        if reconstruction_rss is not None:
            f.create_dataset("reconstruction_rss", data=reconstruction_rss.astype(np.float32))
            f.attrs["max"] = float(reconstruction_rss.max())
            f.attrs["norm"] = float(np.linalg.norm(reconstruction_rss))
        f.attrs["acquisition"] = acquisition
        f.attrs["patient_id"] = patient_id
    return path


def read_fastmri(path: Path | str) -> RawSeries:
    with h5py.File(path, "r") as f:
        if "kspace" not in f or "ismrmrd_header" not in f:
            raise ValueError(f"{path}: not a fastMRI file (needs 'kspace' and 'ismrmrd_header')")
        kspace = f["kspace"][()]
        header = f["ismrmrd_header"][()]
        acquisition = str(f.attrs.get("acquisition", ""))
        patient = str(f.attrs.get("patient_id", ""))
    if kspace.ndim != 4 or not np.iscomplexobj(kspace):
        raise ValueError(f"{path}: kspace must be complex (slices, coils, readout, phase)")
    root = ET.fromstring(header.decode() if isinstance(header, bytes) else str(header))
    ns = {"m": _NS}
    recon = root.find("m:encoding/m:reconSpace", ns)
    mx = int(recon.find("m:matrixSize/m:x", ns).text)
    my = int(recon.find("m:matrixSize/m:y", ns).text)
    fov = tuple(float(recon.find(f"m:fieldOfView_mm/m:{a}", ns).text) for a in "xyz")
    return RawSeries(kspace=kspace.astype(np.complex64), recon_matrix=(mx, my), fov_mm=fov, acquisition=acquisition, patient_id=patient)


def _as_raw(raw: RawSeries):
    from .rawdata import RawData

    fov = tuple(raw.fov_mm)
    return RawData(kspace=raw.kspace[None], encoded_matrix=tuple(raw.kspace.shape[-2:]), encoded_fov_mm=fov,
                   recon_matrix=tuple(raw.recon_matrix), recon_fov_mm=fov, layout="fastmri")


def reconstruct_standard(raw: RawSeries) -> np.ndarray:
    """Full reconstruction: RSS of the coil images, (slices, readout, phase). An encoded matrix
    larger than the recon matrix (readout oversampling) is cropped in the image domain, as the
    fastMRI reference does (:mod:`recon.rawdata`)."""
    from .rawdata import reconstruct

    return reconstruct(raw.kspace, _as_raw(raw))


def reconstruct_fast(raw: RawSeries, arm: ArmAcquisition) -> np.ndarray:
    """Retrospective undersampling of the same data along the phase axis (last)."""
    from .rawdata import reconstruct

    return reconstruct(raw.kspace, _as_raw(raw), arm)


def phantom_to_fastmri(sim_kspace: np.ndarray, phase_axis: int) -> np.ndarray:
    """Simulated (slices, coils, rows, cols) k-space to the layout's (slices, coils, readout,
    phase) order."""
    return sim_kspace if phase_axis == -1 else np.swapaxes(sim_kspace, -1, -2)
