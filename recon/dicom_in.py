"""Real data in (a): a user's magnitude Standard series -> a simulated Fast series.

A magnitude image already carries the Standard acquisition's noise. To emulate a Fast
acquisition with fewer excitations, the *missing* noise variance is added in k-space:

1. estimate the existing per-channel noise SD ``s`` from the background (chi distribution
   with 2 x coils degrees of freedom; Rayleigh for a single coil; median-based, robust to a few
   object pixels): :func:`estimate_noise_sd`;
2. Fast with NEX_fast >= 1: add circular complex noise in the acquired part of k-space so that
   the per-channel variance becomes ``s^2 * NEX_std / NEX_fast``;
3. Fast with NEX 0.5: add complex noise, keep the partial-Fourier lines and reconstruct with
   homodyne (one "coil": the magnitude image's phase is flat). The existing noise is
   real-valued and passes homodyne unamplified while the added noise is amplified by the
   homodyne gain g, so the added variance is s^2 (NEX_std g - 1) / g, which makes the result
   that of a NEX-1 partial-Fourier acquisition.

The magnitude image is treated as a real object (its phase is gone), which is what makes
homodyne exact on the noise-free part.

References
----------
.. [1] Constantinides CD et al. Magn Reson Med. 1997;38:852-857 (noise of magnitude images).
.. [2] Noll DC et al. IEEE Trans Med Imaging. 1991;10:154-163 (homodyne).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from . import acquisition as acq
from . import reconstruction as rec
from .noise import check_noise_sd, estimate_noise
from .protocols import ArmAcquisition


def estimate_noise_sd(volume: np.ndarray, *, coils: int = 1) -> float:
    """Per-channel Gaussian noise SD of a magnitude volume from its air (see :mod:`recon.noise`).

    Raises :class:`recon.noise.NoiseEstimateError` when the air cannot be trusted.
    """
    return estimate_noise(volume, coils=coils).sigma


def _band_mask(shape, acquired: tuple[int, int] | None) -> np.ndarray:
    rows, cols = shape
    if acquired is None:
        return np.ones(shape, dtype=bool)
    n_r, n_c = acquired
    m = np.zeros(shape, dtype=bool)
    r0, c0 = rows // 2 - n_r // 2, cols // 2 - n_c // 2
    m[r0 : r0 + n_r, c0 : c0 + n_c] = True
    return m


def fast_from_magnitude(
    volume: np.ndarray,
    *,
    standard_nex: float,
    fast: ArmAcquisition,
    phase_axis: int,
    rng: np.random.Generator,
    noise_sd: float | None = None,
    coils: int = 1,
    acquired_matrix: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fast magnitude volume (float32) from a Standard magnitude volume (slices, rows, cols).

    ``acquired_matrix`` (rows, cols) is the acquired k-space extent on this grid (DICOM
    AcquisitionMatrix; None = the whole grid), so that noise is added where the scanner
    measured data.
    """
    if fast.acceleration > 1:
        raise ValueError(
            f"parallel imaging (R = {fast.acceleration}) cannot be simulated from a magnitude image: its noise "
            "amplification (g-factor) and aliasing depend on the coil sensitivities and phase, which a magnitude "
            "series no longer has; start from raw k-space (--from kspace) instead"
        )
    fast_averages = 1.0 if fast.is_partial_fourier else float(fast.nex)
    if fast_averages > standard_nex:
        raise ValueError("Fast cannot have more excitations than Standard")
    v = np.asarray(volume, np.float32)
    if not np.isfinite(v).all():
        raise ValueError("the Standard series has non-finite values")
    s = check_noise_sd(noise_sd) if noise_sd is not None else estimate_noise(v, coils=coils).sigma
    zeros = v == 0
    band = _band_mask(v.shape[1:], acquired_matrix)
    f = band.mean()
    n_phase = int(band.any(axis=0 if phase_axis == -1 else 1).sum())
    if fast.is_partial_fourier:
        lines = acq.partial_fourier_lines(v.shape[phase_axis], n_phase, fast.partial_fourier)
        gain = rec.homodyne_noise_gain(lines, n_phase)
        # The magnitude image's own noise is real-valued: homodyne passes it with gain 1 (its
        # k-space is conjugate-symmetric), while added complex noise is amplified by ``gain``.
        # Target per-channel variance: s^2 * NEX_std * gain (a NEX-1 partial-Fourier scan).
        per_channel = s * s * (standard_nex * gain - 1.0) / gain
    else:
        per_channel = s * s * (standard_nex / fast_averages - 1.0)
    # Per real channel the image gains v_k * f / 2 from complex k-space noise of variance v_k.
    added = 2.0 * max(per_channel, 0.0) / f
    out = np.empty_like(v)
    for k in range(v.shape[0]):
        ksp = acq.fft2c(v[k].astype(np.complex64))[None]
        if added > 0:
            ksp = acq.add_noise(ksp, math.sqrt(added), rng, band) + ksp * ~band
        if fast.is_partial_fourier:
            keep = lines[None, :] if phase_axis == -1 else lines[:, None]
            out[k] = rec.homodyne(ksp * (keep & band), phase_axis)
        else:
            out[k] = np.abs(acq.ifft2c(ksp[0]))
    # What the scanner stored as exact zero (padding bands, masked background) stays zero:
    # noise there would be a tell no Standard has.
    out[zeros] = 0
    return out


def acquired_matrix_from_header(ds, rows: int, cols: int) -> tuple[int, int] | None:
    """(rows, cols) acquired extent from AcquisitionMatrix and InPlanePhaseEncodingDirection."""
    am = getattr(ds, "AcquisitionMatrix", None)
    if not am or len(am) != 4:
        return None
    f_rows, f_cols, p_rows, p_cols = (int(x) for x in am)
    if getattr(ds, "InPlanePhaseEncodingDirection", "") == "ROW":
        n_r, n_c = f_rows, p_cols
    else:
        n_r, n_c = p_rows, f_cols
    if not (0 < n_r <= rows and 0 < n_c <= cols):
        return None
    return n_r, n_c


class SourceSeriesError(ValueError):
    """A DICOM folder that is not one usable magnitude MR series; the message says why."""


@dataclass
class SourceSeries:
    """One single-frame MR series read from a folder, slices sorted along the normal.

    ``volume`` is in stored pixel units (no rescale): what is reconstructed and written back.
    """

    volume: np.ndarray  # (slices, rows, cols) float32
    datasets: list  # pydicom Datasets, same order
    phase_axis: int  # -1: phase along the rows' direction (ROW), -2: along the columns (COL)
    phase_axis_source: str  # "header" or "assumed"
    acquired_matrix: tuple[int, int] | None

    @property
    def max_stored(self) -> int:
        return int(self.volume.max(initial=0))


def read_source_series(folder: Path | str) -> SourceSeries:
    """Read and check a series folder: one series, one geometry, single-frame MR magnitude."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(folder)
    if not folder.is_dir():
        raise SourceSeriesError(f"{folder}: not a folder (give the folder of one DICOM series)")
    datasets = []
    for p in sorted(x for x in folder.rglob("*") if x.is_file()):
        try:
            ds = pydicom.dcmread(p)
        except (InvalidDicomError, OSError):
            continue
        if "PixelData" not in ds:
            continue
        datasets.append(ds)
    if not datasets:
        raise SourceSeriesError(f"{folder}: no DICOM images found")
    uids = {str(d.get("SeriesInstanceUID", "")) for d in datasets}
    if len(uids) > 1:
        raise SourceSeriesError(f"{folder}: {len(uids)} series mixed in one folder (SeriesInstanceUID differs); give one series")
    if any(str(d.get("Modality", "")) != "MR" for d in datasets):
        raise SourceSeriesError(f"{folder}: not an MR series (Modality {sorted({str(d.get('Modality', '')) for d in datasets})})")
    if any(int(d.get("NumberOfFrames", 1) or 1) > 1 for d in datasets):
        raise SourceSeriesError(f"{folder}: multi-frame (enhanced) MR is not supported here; export the series as single-frame images")
    if any("PHASE" in [str(x).upper() for x in d.get("ImageType", [])] or str(d.get("ComplexImageComponent", "MAGNITUDE")).upper() not in ("MAGNITUDE", "") for d in datasets):
        raise SourceSeriesError(f"{folder}: not a magnitude series (ImageType/ComplexImageComponent say phase, real or imaginary)")

    def key(d, name):
        v = d.get(name)
        return None if v is None else tuple(np.round(np.atleast_1d(np.asarray(v, float)), 4).tolist())

    for name in ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient"):
        values = {key(d, name) for d in datasets}
        if len(values) > 1:
            raise SourceSeriesError(f"{folder}: mixed geometry ({name} differs between images: {sorted(values, key=str)[:3]})")
    missing = [n for n in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing") if n not in datasets[0]]
    if missing:
        raise SourceSeriesError(f"{folder}: the images lack {missing}, so the output could not be placed in the patient")
    iop = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = [float(np.dot(np.array(d.ImagePositionPatient, float), normal)) for d in datasets]
    if len(set(np.round(positions, 3))) != len(positions):
        raise SourceSeriesError(f"{folder}: two images share a slice position (duplicates or several echoes/phases in one series)")
    order = np.argsort(positions)
    datasets = [datasets[i] for i in order]
    try:
        volume = np.stack([d.pixel_array for d in datasets]).astype(np.float32)
    except Exception as exc:  # noqa: BLE001 - a codec or a broken file: say which
        raise SourceSeriesError(f"{folder}: cannot decode the pixel data ({exc})") from exc
    if volume.min() < 0:
        raise SourceSeriesError(f"{folder}: negative stored values; a magnitude series has none")
    direction = str(datasets[0].get("InPlanePhaseEncodingDirection", "")).upper()
    phase_axis, how = (-1, "header") if direction == "ROW" else (-2, "header" if direction == "COL" else "assumed")
    rows, cols = volume.shape[1:]
    return SourceSeries(volume=volume, datasets=datasets, phase_axis=phase_axis, phase_axis_source=how,
                        acquired_matrix=acquired_matrix_from_header(datasets[0], rows, cols))
