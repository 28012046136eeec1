"""Acquisition simulation in k-space, one function per physical step.

    object (phantom signal on the recon grid, patient coordinates)       render (phantom.py)
      x coil sensitivities (spine + anterior array)                      coil_sensitivities
      -> orthonormal 2-D FFT                                              fft2c
      -> keep the acquired matrix (resolution)                            acquired_region
      -> sampling pattern (partial Fourier, R-fold undersampling + ACS)  sampling_mask
      -> complex Gaussian receiver noise, sigma ~ sqrt(bandwidth)        add_noise
      -> NEX: independent acquisitions (kept) and their average          acquire / average_nex

Conventions: complex k-space arrays have shape (..., coils, rows, cols) on the *recon* grid
(zero outside the acquired region), and ``phase_axis`` (-1 = columns, -2 = rows) says along
which image axis the phase-encode lines run. Noise is added only to sampled positions, so a
zero in k-space is an unsampled sample.

Signal and noise scaling: the phantom signal (relative units) is multiplied by
:func:`image_scale` so that, with per-sample noise ``sigma = NOISE_PER_SQRT_HZ * sqrt(BW)``,
image SNR is proportional to voxel volume * sqrt(N_acquired * NEX / BW), the classic
dependence (Edelstein WA, Glover GH, Hardy CJ, Redington RW. The intrinsic signal-to-noise ratio
in NMR imaging. Magn Reson Med. 1986;3(4):604-618; Haacke EM et al., Magnetic Resonance Imaging:
Physical Principles and Sequence Design, 1999, ch. 15).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.fft

# Calibrated on the full-size neuro protocols (8 coils, RSS, difference method): Standard SNR
# ~48 in CSF on SAG T2 FS, ~37 in marrow on SAG T1, ~34 in CSF on AX T2 (clinical range; seed
# 001 Table 3 reports uncorrected ROI/background SNRs of 65-370 on 3 T sagittal T1). The
# Fast/Standard *ratios* do not depend on it.
NOISE_PER_SQRT_HZ = 1.0 / 88.0
FFT_WORKERS = int(os.environ.get("RECON_FFT_WORKERS", "2"))


# --------------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class Geometry:
    """An axis-aligned 2-D multi-slice prescription in patient coordinates (LPS, mm).

    ``row_direction`` is DICOM's first ImageOrientationPatient triplet (direction of increasing
    column index), ``column_direction`` the second (increasing row index). Slices are ordered
    along the normal ``row_direction x column_direction``.
    """

    plane: str
    rows: int
    cols: int
    pixel_spacing_mm: float
    slices: int
    slice_thickness_mm: float
    slice_spacing_mm: float
    center_mm: tuple[float, float, float]
    row_direction: tuple[float, float, float]
    column_direction: tuple[float, float, float]
    phase_axis: int  # image axis of phase encoding: -1 columns (ROW in DICOM), -2 rows (COL)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction, self.column_direction)

    @property
    def normal_axis(self) -> int:
        return int(np.argmax(np.abs(self.normal)))

    @property
    def row_axis(self) -> int:
        """World axis along which the row index runs (image vertical)."""
        return int(np.argmax(np.abs(self.column_direction)))

    @property
    def col_axis(self) -> int:
        return int(np.argmax(np.abs(self.row_direction)))

    def slice_centers_mm(self) -> list[np.ndarray]:
        c, n = np.asarray(self.center_mm, float), self.normal
        return [c + n * (k - (self.slices - 1) / 2) * self.slice_spacing_mm for k in range(self.slices)]

    def in_plane_coordinates_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """World coordinate (on row_axis / col_axis) of each row / column centre."""
        d = self.pixel_spacing_mm
        r = np.arange(self.rows) - (self.rows - 1) / 2
        c = np.arange(self.cols) - (self.cols - 1) / 2
        rows_mm = self.center_mm[self.row_axis] + self.column_direction[self.row_axis] * r * d
        cols_mm = self.center_mm[self.col_axis] + self.row_direction[self.col_axis] * c * d
        return rows_mm, cols_mm

    def image_position_mm(self, k: int) -> np.ndarray:
        """DICOM ImagePositionPatient: centre of the first (top-left) pixel of slice k."""
        d = self.pixel_spacing_mm
        return (
            self.slice_centers_mm()[k]
            - np.asarray(self.row_direction) * d * (self.cols - 1) / 2
            - np.asarray(self.column_direction) * d * (self.rows - 1) / 2
        )

    def pixel_positions_mm(self, k: int) -> np.ndarray:
        """(rows, cols, 3) patient coordinates of every pixel centre of slice k."""
        d = self.pixel_spacing_mm
        p0 = self.image_position_mm(k)
        r = np.arange(self.rows)[:, None, None] * d * np.asarray(self.column_direction)[None, None, :]
        c = np.arange(self.cols)[None, :, None] * d * np.asarray(self.row_direction)[None, None, :]
        return p0[None, None, :] + r + c


SAGITTAL_ORIENTATION = ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0))  # anterior left, superior up
AXIAL_ORIENTATION = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))  # patient right on the left, anterior up


def prescribe(protocol, center_mm, *, matrix: int | None = None, slices: int | None = None) -> Geometry:
    """Geometry of a protocol centred at ``center_mm``. Sagittal: frequency SI, phase AP;
    axial: frequency LR, phase AP (the usual choices for the lumbar spine)."""
    n = matrix or protocol.recon_matrix
    if protocol.plane == "sagittal":
        rd, cd, phase_axis = *SAGITTAL_ORIENTATION, -1
    elif protocol.plane == "axial":
        rd, cd, phase_axis = *AXIAL_ORIENTATION, -2
    else:
        raise ValueError(f"unsupported plane {protocol.plane!r}")
    return Geometry(
        plane=protocol.plane, rows=n, cols=n, pixel_spacing_mm=protocol.fov_mm / n,
        slices=slices or protocol.slices, slice_thickness_mm=protocol.slice_thickness_mm,
        slice_spacing_mm=protocol.slice_spacing_mm, center_mm=tuple(float(v) for v in center_mm),
        row_direction=rd, column_direction=cd, phase_axis=phase_axis,
    )


# --------------------------------------------------------------------------------------------
# Coils


@dataclass(frozen=True)
class Coil:
    position_mm: tuple[float, float, float]
    normal: tuple[float, float, float]  # unit vector pointing into the patient
    radius_mm: float
    phase_rad: float
    phase_gradient_rad_per_mm: tuple[float, float, float]


def spine_array(posterior_y_mm: float, anterior_y_mm: float, center_z_mm: float, *, n_posterior=(2, 2), n_anterior=(2, 2), radius_mm: float = 70.0, seed: int = 0) -> list[Coil]:
    """Posterior spine array under the patient plus an anterior flex array on the abdomen
    (the anterior elements give the AP sensitivity variation that R = 2 SENSE along AP needs)."""
    rng = np.random.default_rng(seed)
    coils = []
    for y, ny, (nlr, nsi) in ((posterior_y_mm + 12.0, -1.0, n_posterior), (anterior_y_mm - 12.0, 1.0, n_anterior)):
        for i in range(nlr):
            for j in range(nsi):
                x = (i - (nlr - 1) / 2) * 90.0
                z = center_z_mm + (j - (nsi - 1) / 2) * 110.0
                grad = tuple(float(g) for g in rng.normal(0.0, 0.004, 3))
                coils.append(Coil((x, y, z), (0.0, ny, 0.0), radius_mm, float(rng.uniform(-math.pi, math.pi)), grad))
    return coils


def coil_sensitivities(geometry: Geometry, coils: list[Coil], k: int) -> np.ndarray:
    """Complex sensitivity of each coil over slice k, (coils, rows, cols), complex64.

    Magnitude: on-axis field of a circular loop, (R^2 / (R^2 + d^2))^(3/2) with d the distance
    to the loop centre (a smooth stand-in for Biot-Savart); phase: a constant plus a slow
    linear drift, as receive phases are smooth over the FOV. (Separable in the row and column
    coordinates of an axis-aligned slice, which keeps this cheap.)
    """
    d = geometry.pixel_spacing_mm
    p0 = geometry.image_position_mm(k)
    rd, cd = np.asarray(geometry.row_direction), np.asarray(geometry.column_direction)
    r = np.arange(geometry.rows, dtype=np.float64) * d
    c = np.arange(geometry.cols, dtype=np.float64) * d
    out = np.empty((len(coils), geometry.rows, geometry.cols), dtype=np.complex64)
    for i, coil in enumerate(coils):
        off = p0 - np.asarray(coil.position_mm)
        # position - coil = off + r * cd + c * rd, with rd and cd orthonormal.
        a_r = off @ cd + r
        a_c = off @ rd + c
        rest = float(off @ off - (off @ cd) ** 2 - (off @ rd) ** 2)
        r2 = (rest + a_r[:, None] ** 2).astype(np.float32) + (a_c[None, :] ** 2).astype(np.float32)
        x = np.float32(coil.radius_mm**2) / (np.float32(coil.radius_mm**2) + r2)
        g = np.asarray(coil.phase_gradient_rad_per_mm)
        ph_r = np.exp(1j * (coil.phase_rad + off @ g + r * (cd @ g))).astype(np.complex64)
        ph_c = np.exp(1j * (c * (rd @ g))).astype(np.complex64)
        np.multiply(x * np.sqrt(x), ph_r[:, None] * ph_c[None, :], out=out[i])
    return out


# --------------------------------------------------------------------------------------------
# Fourier transform, resolution, sampling


@functools.lru_cache(maxsize=32)
def _alternating(n: int, dtype: str) -> np.ndarray:
    return np.where(np.arange(n) % 2 == 0, 1, -1).astype(dtype)


def _centred(x: np.ndarray, axes: tuple[int, ...], inverse: bool) -> np.ndarray:
    """fftshift(F(ifftshift(x))) over ``axes``, orthonormal. For even lengths the shifts are
    done as a (-1)^n modulation before and after the transform (no copies for rolling)."""
    f = scipy.fft.ifftn if inverse else scipy.fft.fftn
    if any(x.shape[a] % 2 for a in axes) or not np.iscomplexobj(x):
        return scipy.fft.fftshift(f(scipy.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho", workers=FFT_WORKERS), axes=axes)
    mod = None
    sign = 1
    for a in axes:
        v = _alternating(x.shape[a], x.real.dtype.name)
        shape = [1] * x.ndim
        shape[a] = -1
        v = v.reshape(shape)
        mod = v if mod is None else mod * v
        sign *= -1 if (x.shape[a] // 2) % 2 else 1
    y = f(x * mod, axes=axes, norm="ortho", workers=FFT_WORKERS, overwrite_x=True)
    y *= mod if sign == 1 else -mod
    return y


def fft2c(image: np.ndarray) -> np.ndarray:
    """Centred, orthonormal 2-D DFT over the last two axes (Parseval: noise SD is preserved)."""
    return _centred(np.asarray(image), (-2, -1), inverse=False)


def ifft2c(kspace: np.ndarray) -> np.ndarray:
    return _centred(np.asarray(kspace), (-2, -1), inverse=True)


def _fftc_axis(x: np.ndarray, axis: int, inverse: bool) -> np.ndarray:
    return _centred(np.asarray(x), (axis,), inverse=inverse)


def band_of(mask: np.ndarray) -> tuple[slice, slice]:
    """Bounding rows and columns of a (rows, cols) sampling mask."""
    r = np.nonzero(mask.any(axis=1))[0]
    c = np.nonzero(mask.any(axis=0))[0]
    return slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1)


def fft2c_band(image: np.ndarray, band: tuple[slice, slice]) -> np.ndarray:
    """fft2c, computed only inside ``band`` (zero outside): the second 1-D pass runs over the
    band's columns only. Same values as ``fft2c(image)`` inside the band."""
    rows, cols = band
    out = np.zeros(image.shape, dtype=np.result_type(image.dtype, np.complex64))
    tmp = _fftc_axis(image, -1, inverse=False)[..., cols]
    out[..., rows, cols] = _fftc_axis(tmp, -2, inverse=False)[..., rows, :]
    return out


def ifft2c_band(kspace: np.ndarray, band: tuple[slice, slice]) -> np.ndarray:
    """ifft2c of k-space that is zero outside ``band``: the first 1-D pass runs over the
    nonzero lines only. Same result as ``ifft2c(kspace)``."""
    rows, cols = band
    n_rows, n_cols = kspace.shape[-2:]
    r, c = rows.stop - rows.start, cols.stop - cols.start
    tmp = np.zeros(kspace.shape, dtype=kspace.dtype)
    if r * n_cols <= c * n_rows:  # transform along columns first, only the band's rows
        tmp[..., rows, :] = _fftc_axis(kspace[..., rows, :], -1, inverse=True)
        return _fftc_axis(tmp, -2, inverse=True)
    tmp[..., :, cols] = _fftc_axis(kspace[..., :, cols], -2, inverse=True)
    return _fftc_axis(tmp, -1, inverse=True)


def image_scale(protocol) -> float:
    """Factor from relative tissue signal to image units on the recon grid, so that
    SNR ~ voxel volume * sqrt(N_acquired / BW) with noise :func:`noise_sigma` per sample
    (see module docstring)."""
    n_acq = protocol.matrix_frequency * protocol.matrix_phase
    n_rec = protocol.recon_matrix**2
    return protocol.acquired_voxel_mm3 * n_acq / math.sqrt(n_rec)


def noise_sigma(bandwidth_hz: float) -> float:
    """Per-sample complex noise SD of one acquisition: thermal noise ~ sqrt(receiver bandwidth)."""
    if bandwidth_hz <= 0:
        raise ValueError("bandwidth_hz must be positive")
    return NOISE_PER_SQRT_HZ * math.sqrt(bandwidth_hz)


def _phase_len(shape, phase_axis):
    return shape[phase_axis]


def acquired_region(shape: tuple[int, int], protocol, phase_axis: int) -> np.ndarray:
    """Boolean (rows, cols) mask of the acquired matrix (frequency x phase) centred in the recon
    grid: the image resolution of the protocol."""
    rows, cols = shape
    n_phase, n_freq = protocol.matrix_phase, protocol.matrix_frequency
    n_r, n_c = (n_freq, n_phase) if phase_axis == -1 else (n_phase, n_freq)
    if n_r > rows or n_c > cols:
        raise ValueError("acquired matrix larger than the recon grid")
    mask = np.zeros((rows, cols), dtype=bool)
    r0, c0 = rows // 2 - n_r // 2, cols // 2 - n_c // 2
    mask[r0 : r0 + n_r, c0 : c0 + n_c] = True
    return mask


def phase_lines(n_recon: int, n_phase: int) -> np.ndarray:
    """Indices (on the recon grid) of the acquired phase-encode lines, centre at n_recon // 2."""
    start = n_recon // 2 - n_phase // 2
    return np.arange(start, start + n_phase)


def partial_fourier_lines(n_recon: int, n_phase: int, fraction: float) -> np.ndarray:
    """Boolean line mask (recon grid) for partial Fourier: the first ``fraction`` of the acquired
    lines, i.e. one half of ky plus an overscan past the centre."""
    lines = phase_lines(n_recon, n_phase)
    n_keep = int(round(fraction * n_phase))
    if n_keep <= n_phase // 2:
        raise ValueError("partial Fourier needs lines past the k-space centre")
    mask = np.zeros(n_recon, dtype=bool)
    mask[lines[:n_keep]] = True
    return mask


def undersampled_lines(n_recon: int, n_phase: int, acceleration: int, calibration_lines: int) -> np.ndarray:
    """Boolean line mask for R-fold uniform undersampling (every R-th line, aligned on the
    k-space centre) plus ``calibration_lines`` fully sampled central lines (ACS)."""
    lines = phase_lines(n_recon, n_phase)
    centre = n_recon // 2
    mask = np.zeros(n_recon, dtype=bool)
    keep = lines[(lines - centre) % acceleration == 0]
    mask[keep] = True
    if calibration_lines:
        half = calibration_lines // 2
        mask[max(lines[0], centre - half) : min(lines[-1] + 1, centre - half + calibration_lines)] = True
    return mask


def sampling_mask(shape: tuple[int, int], protocol, arm, phase_axis: int) -> np.ndarray:
    """Boolean (rows, cols) mask of the k-space samples one acquisition of ``arm`` measures."""
    region = acquired_region(shape, protocol, phase_axis)
    n_recon = shape[phase_axis]
    if arm.is_partial_fourier:
        lines = partial_fourier_lines(n_recon, protocol.matrix_phase, arm.partial_fourier)
    elif arm.acceleration > 1:
        lines = undersampled_lines(n_recon, protocol.matrix_phase, arm.acceleration, arm.calibration_lines)
    else:
        lines = np.zeros(n_recon, dtype=bool)
        lines[phase_lines(n_recon, protocol.matrix_phase)] = True
    line_mask = lines[None, :] if phase_axis == -1 else lines[:, None]
    return region & line_mask


# --------------------------------------------------------------------------------------------
# Noise and averaging


def add_noise(kspace: np.ndarray, sigma: float, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
    """Add circular complex Gaussian noise with E|n|^2 = sigma^2 (sigma/sqrt(2) per real
    component), independent across coils and samples, at the sampled positions only
    (``mask``, (rows, cols); all positions when None)."""
    if mask is None:
        noisy = np.array(kspace, copy=True)
        mask = np.ones(kspace.shape[-2:], dtype=bool)
    else:
        noisy = kspace * mask
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return noisy
    # Noise is drawn for the bounding box of the sampled region (cheaper than fancy indexing)
    # and zeroed where nothing is sampled.
    box = (..., slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    shape = kspace.shape[:-2] + (rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0], 2)
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= np.float32(sigma / math.sqrt(2.0))
    cnoise = noise.view(np.complex64)[..., 0]
    sub = mask[box[1:]]
    if not sub.all():
        cnoise *= sub
    noisy[box] += cnoise.astype(noisy.dtype, copy=False)
    return noisy


def acquire(clean_kspace: np.ndarray, mask: np.ndarray, sigma: float, rng: np.random.Generator, repetitions: int) -> list[np.ndarray]:
    """``repetitions`` independent acquisitions of the same object (NEX): each is the sampled
    clean k-space plus its own noise. Returned individually; average with :func:`average_nex`."""
    return [add_noise(clean_kspace, sigma, rng, mask) for _ in range(repetitions)]


def average_nex(acquisitions: list[np.ndarray]) -> np.ndarray:
    """NEX averaging: the mean of independent acquisitions (noise variance / NEX)."""
    if not acquisitions:
        raise ValueError("no acquisitions to average")
    return sum(acquisitions[1:], acquisitions[0].copy()) / len(acquisitions)
