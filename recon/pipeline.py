"""Phantom case -> arms (Truth, Standard, Fast, and post-processing arms such as Fast-DL).

The API the rest of the worker (and the denoiser's training-pair generator) builds on::

    sim = simulate_case(seed=3, sequence="SAG T2 FS")
    sim.truth          # noise-free Standard-resolution image (slices, rows, cols), float32
    sim.nex1           # the two independent NEX-1 full acquisitions, each (slices, rows, cols)
    sim.standard       # Standard arm image (mean of the protocol's NEX acquisitions)
    sim.fast           # Fast arm image (its own, independent acquisition)
    sim.arms["Fast"]   # every protocol arm by name (e.g. "Fast-R2" from a custom protocol)
    sim.scale_12bit    # one display scale per case x sequence, shared by all arms
    arm_image(sim, "Fast-DL50")   # a registered post-processing arm

Images are magnitude images in "image units" (see :func:`recon.acquisition.image_scale`);
``to_uint12(image, sim.scale_12bit)`` gives what DICOM stores.

Post-processing arms plug in with :func:`register_arm_step` (e.g. the denoiser registers
``Fast-DL25/50/75`` as steps that take ``sim`` and return an image volume); the command line,
the Celery task and the bench all produce every registered arm without further changes.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import acquisition as acq
from . import reconstruction as rec
from .phantom import Phantom, make_phantom, render_signal
from .protocols import DEFAULT_PROTOCOL_SET, ArmAcquisition, Protocol, get_protocol
from .signal import signal_lookup

TRUTH_ARM = "Truth"
BASE_ARMS = ("Truth", "Standard", "Fast")


@dataclass
class CaseSimulation:
    """One case x sequence through acquisition and reconstruction (all images float32,
    (slices, rows, cols), slices ordered along the geometry normal)."""

    seed: int
    sequence: str
    protocol: Protocol
    geometry: acq.Geometry
    phantom: Phantom
    truth: np.ndarray
    nex1: tuple[np.ndarray, np.ndarray]
    arms: dict[str, np.ndarray]
    noise_sigma: float
    scale_12bit: float
    info: dict = field(default_factory=dict)

    @property
    def standard(self) -> np.ndarray:
        return self.arms["Standard"]

    @property
    def fast(self) -> np.ndarray:
        return self.arms["Fast"]


# --------------------------------------------------------------------------------------------
# Post-processing arm registry


@dataclass(frozen=True)
class ArmStep:
    """A post-processing arm: ``fn(sim) -> image volume`` (float32, same shape and units as
    ``sim.fast``). ``source`` names the arm it starts from (informational, e.g. "Fast")."""

    name: str
    fn: Callable[[CaseSimulation], np.ndarray]
    source: str = "Fast"
    description: str = ""


ARM_STEPS: dict[str, ArmStep] = {}


def register_arm_step(name: str, fn: Callable[[CaseSimulation], np.ndarray], *, source: str = "Fast", description: str = "") -> None:
    """Register (or replace) a post-processing arm, e.g. ``Fast-DL50``."""
    if name in BASE_ARMS:
        raise ValueError(f"{name!r} is a base arm")
    ARM_STEPS[name] = ArmStep(name, fn, source, description)


def unregister_arm_step(name: str) -> None:
    ARM_STEPS.pop(name, None)


def available_arms(protocol: Protocol) -> list[str]:
    """Truth, the protocol's acquisition arms, then registered post-processing arms."""
    return [TRUTH_ARM, *protocol.arms, *ARM_STEPS]


def arm_image(sim: CaseSimulation, arm: str) -> np.ndarray:
    if arm == TRUTH_ARM:
        return sim.truth
    if arm in sim.arms:
        return sim.arms[arm]
    if arm in ARM_STEPS:
        image = np.asarray(ARM_STEPS[arm].fn(sim), dtype=np.float32)
        if image.shape != sim.truth.shape:
            raise ValueError(f"arm step {arm!r} returned shape {image.shape}, expected {sim.truth.shape}")
        sim.arms[arm] = image
        return image
    raise ValueError(f"unknown arm {arm!r}; available: {available_arms(sim.protocol)}")


# --------------------------------------------------------------------------------------------


def _stable(text: str) -> int:
    return zlib.crc32(text.encode())


def noise_rng(seed: int, sequence: str, stream: str) -> np.random.Generator:
    """Independent, reproducible noise stream per case, sequence and acquisition."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), _stable(sequence), _stable(stream)]))


@functools.lru_cache(maxsize=2)
def cached_phantom(seed: int, spacing_mm: float, prevalence_key: tuple | None = None) -> Phantom:
    return make_phantom(seed, spacing_mm=spacing_mm, prevalence=dict(prevalence_key) if prevalence_key else None)


def prescription_center(phantom: Phantom, protocol: Protocol) -> np.ndarray:
    """Where the coordinator would centre the stack: sagittal on the spine's midline with the
    posterior skin ~20 mm inside the FOV (air behind the back gives a background region);
    axial on the canal at the L2-L3 disc height, covering the lumbar levels."""
    c = phantom.spine_center_mm
    if protocol.plane == "sagittal":
        y = phantom.posterior_skin_y_mm + 20.0 - protocol.fov_mm / 2
        return np.array([phantom.anatomy.lateral_shift_mm, y, c[2] - 10.0])
    y = c[1] + 35.0
    z = (phantom.disc_frames["L1-L2"].center[2] + phantom.disc_frames["L5-S1"].center[2]) / 2
    return np.array([0.0, y, z])


def simulate_case(
    seed: int,
    sequence: str,
    *,
    protocol_set: str = DEFAULT_PROTOCOL_SET,
    protocol: Protocol | None = None,
    phantom: Phantom | None = None,
    recon_matrix: int | None = None,
    slices: int | None = None,
    spacing_mm: float = 0.8,
    prevalence: dict[str, float] | None = None,
    coils: int = 8,
    fast_independent: bool = True,
    partial_fourier_method: str = "homodyne",
    noise_scale: float = 1.0,
    repeat: int = 0,
) -> CaseSimulation:
    """Simulate the acquisition arms of one case x sequence.

    Parameters
    ----------
    seed : int
        Case seed: anatomy and pathology (via :func:`recon.phantom.make_phantom`) and, with the
        sequence name, every noise stream.
    sequence : str
        Protocol name, e.g. ``"SAG T2 FS"``, looked up in ``protocol_set`` unless ``protocol``
        is given.
    recon_matrix, slices : int, optional
        Shrink the protocol (tests); the sampling fractions stay those of the protocol.
    coils : int
        8 (2x2 posterior spine array + 2x2 anterior array) or 4 (2 + 2).
    fast_independent : bool
        Fast is its own acquisition (a separate scan) when True; when False and Fast is NEX 1,
        Fast reuses the first NEX-1 acquisition of Standard.
    partial_fourier_method : {"homodyne", "pocs", "zero_fill"}
    noise_scale : float
        Multiplies the receiver noise (0 gives noise-free arms; tests).
    repeat : int
        Selects another, independent set of noise streams (repeated scans of the same case,
        e.g. for difference-method SNR).

    Returns
    -------
    CaseSimulation
    """
    protocol = protocol or get_protocol(sequence, protocol_set)
    protocol = protocol.scaled(recon_matrix=recon_matrix, slices=slices)
    if phantom is None:
        phantom = cached_phantom(seed, spacing_mm, tuple(sorted(prevalence.items())) if prevalence else None)
    geometry = acq.prescribe(protocol, prescription_center(phantom, protocol))
    lut = signal_lookup(
        tr_ms=protocol.tr_ms, te_ms=protocol.te_ms, fat_suppression=protocol.fat_suppression,
        fat_suppression_efficiency=phantom.anatomy.fat_suppression_efficiency,
    )
    obj = render_signal(phantom, lut, geometry) * np.float32(acq.image_scale(protocol))
    coil_set = acq.spine_array(
        phantom.posterior_skin_y_mm, phantom.anterior_skin_y_mm, float(geometry.center_mm[2]),
        n_posterior=(2, 2) if coils == 8 else (2, 1), n_anterior=(2, 2) if coils == 8 else (2, 1), seed=seed,
    )
    sigma = acq.noise_sigma(protocol.bandwidth_hz_total) * noise_scale
    shape = (geometry.rows, geometry.cols)
    full = ArmAcquisition(nex=1)
    full_mask = acq.sampling_mask(shape, protocol, full, geometry.phase_axis)

    arm_names = list(protocol.arms)
    out = {name: np.empty(obj.shape, np.float32) for name in arm_names}
    truth = np.empty(obj.shape, np.float32)
    std_arm = protocol.arm("Standard")
    n_nex1 = max(2, std_arm.averages if std_arm.partial_fourier == 1.0 and std_arm.acceleration == 1 else 2)
    nex1 = [np.empty(obj.shape, np.float32) for _ in range(2)]
    masks = {name: acq.sampling_mask(shape, protocol, protocol.arms[name], geometry.phase_axis) for name in arm_names}
    rngs = {name: noise_rng(seed, protocol.name, f"arm:{name}:{repeat}") for name in arm_names}
    rng_nex1 = noise_rng(seed, protocol.name, f"nex1:{repeat}")
    sens_cache = None
    band = acq.band_of(full_mask)  # every arm samples inside the acquired matrix
    for k in range(geometry.slices):
        sens = acq.coil_sensitivities(geometry, coil_set, k)
        clean = acq.fft2c_band(sens * obj[k][None], band)
        truth[k] = rec.rss(acq.ifft2c_band(clean * full_mask, band))
        # The NEX-1 acquisitions that Standard averages (and that the denoiser trains on).
        nex1_k = acq.acquire(clean, full_mask, sigma, rng_nex1, n_nex1)
        nex1_img = [acq.ifft2c_band(a, band) for a in nex1_k]
        for i in range(2):
            nex1[i][k] = rec.rss(nex1_img[i])
        for name in arm_names:
            arm = protocol.arms[name]
            if name == "Standard" and arm.partial_fourier == 1.0 and arm.acceleration == 1:
                imgs = nex1_img[: arm.averages] if arm.averages <= n_nex1 else None
                if imgs is not None:
                    out[name][k] = rec.rss(sum(imgs[1:], imgs[0].copy()) / len(imgs))
                    continue
            if name == "Fast" and not fast_independent and arm.nex == 1 and arm.partial_fourier == 1.0 and arm.acceleration == 1:
                out[name][k] = nex1[0][k]
                continue
            out[name][k] = reconstruct_arm(
                acq.average_nex(acq.acquire(clean, masks[name], sigma, rngs[name], arm.averages)),
                arm, geometry.phase_axis, partial_fourier_method=partial_fourier_method, sensitivities=sens_cache,
            )
    scale = rec.twelve_bit_scale(truth)
    return CaseSimulation(
        seed=seed, sequence=protocol.name, protocol=protocol, geometry=geometry, phantom=phantom,
        truth=truth, nex1=(nex1[0], nex1[1]), arms=out, noise_sigma=sigma, scale_12bit=scale,
        info={"coils": len(coil_set), "image_scale": acq.image_scale(protocol), "partial_fourier_method": partial_fourier_method},
    )


def reconstruct_arm(kspace: np.ndarray, arm: ArmAcquisition, phase_axis: int, *, partial_fourier_method: str = "homodyne", sensitivities: np.ndarray | None = None) -> np.ndarray:
    """Magnitude image of one slice's (averaged) multi-coil k-space for an arm."""
    if arm.is_partial_fourier:
        if partial_fourier_method == "homodyne":
            return rec.homodyne(kspace, phase_axis)
        if partial_fourier_method == "pocs":
            return rec.pocs(kspace, phase_axis)
        if partial_fourier_method == "zero_fill":
            return rec.zero_filled(kspace)
        raise ValueError(f"unknown partial_fourier_method {partial_fourier_method!r}")
    if arm.acceleration > 1:
        if sensitivities is None:
            if arm.calibration_lines < 8:
                raise ValueError("parallel imaging needs calibration_lines (>= 8) or known sensitivities")
            sensitivities = rec.estimate_sensitivities(kspace, phase_axis, arm.calibration_lines)
        return np.abs(rec.sense_unfold(kspace, sensitivities, arm.acceleration, phase_axis))
    return rec.zero_filled(kspace)


def simulate_raw_kspace(
    seed: int, sequence: str, *, protocol_set: str = DEFAULT_PROTOCOL_SET, protocol: Protocol | None = None,
    phantom: Phantom | None = None, recon_matrix: int | None = None, slices: int | None = None,
    spacing_mm: float = 0.8, repeat: int = 0, noise_scale: float = 1.0,
) -> tuple[np.ndarray, Protocol, acq.Geometry]:
    """One fully sampled NEX-1 multi-coil acquisition as raw k-space, cropped to the acquired
    matrix: (slices, coils, rows, cols) complex64 with ``geometry.phase_axis`` as in the image.
    (For writing phantom data in the fastMRI layout.)"""
    protocol = (protocol or get_protocol(sequence, protocol_set)).scaled(recon_matrix=recon_matrix, slices=slices)
    if phantom is None:
        phantom = cached_phantom(seed, spacing_mm, None)
    geometry = acq.prescribe(protocol, prescription_center(phantom, protocol))
    lut = signal_lookup(tr_ms=protocol.tr_ms, te_ms=protocol.te_ms, fat_suppression=protocol.fat_suppression,
                        fat_suppression_efficiency=phantom.anatomy.fat_suppression_efficiency)
    obj = render_signal(phantom, lut, geometry) * np.float32(acq.image_scale(protocol))
    coil_set = acq.spine_array(phantom.posterior_skin_y_mm, phantom.anterior_skin_y_mm, float(geometry.center_mm[2]), seed=seed)
    shape = (geometry.rows, geometry.cols)
    region = acq.acquired_region(shape, protocol, geometry.phase_axis)
    rows = np.nonzero(region.any(axis=1))[0]
    cols = np.nonzero(region.any(axis=0))[0]
    sigma = acq.noise_sigma(protocol.bandwidth_hz_total) * noise_scale
    rng = noise_rng(seed, protocol.name, f"raw:{repeat}")
    out = np.empty((geometry.slices, len(coil_set), rows.size, cols.size), dtype=np.complex64)
    for k in range(geometry.slices):
        clean = acq.fft2c(acq.coil_sensitivities(geometry, coil_set, k) * obj[k][None])
        noisy = acq.add_noise(clean, sigma, rng, region)
        out[k] = noisy[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return out, protocol, geometry


def simulate_arms(seed: int, sequence: str, arms: list[str] | None = None, **kwargs) -> tuple[CaseSimulation, dict[str, np.ndarray]]:
    """simulate_case plus every requested arm (default: Truth, the protocol's arms and all
    registered post-processing arms) as float32 volumes."""
    sim = simulate_case(seed, sequence, **kwargs)
    names = arms or available_arms(sim.protocol)
    return sim, {name: arm_image(sim, name) for name in names}
