"""Acquisition protocols as data (``protocols.toml``), so a coordinator adds one without code.

A :class:`Protocol` is one sequence of one protocol set (e.g. lumbar ``SAG T1``); it holds the
contrast and geometry parameters and, per arm (``Standard``, ``Fast``, ...), the
:class:`ArmAcquisition` that says how that arm samples k-space (NEX, partial Fourier, parallel
imaging).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PROTOCOLS_PATH = Path(__file__).with_name("protocols.toml")
DEFAULT_PROTOCOL_SET = "lumbar"
#: Former names of protocol sets, still accepted (recon jobs and commands written before a rename).
PROTOCOL_SET_ALIASES = {"neuro": "lumbar"}
DEFAULT_PARTIAL_FOURIER = 0.5625  # "NEX 0.5": half of ky plus 1/16 overscan for phase estimation

_REQUIRED = (
    "set", "name", "plane", "fat_suppression", "te_ms", "tr_ms", "echo_train_length", "fov_mm",
    "slice_thickness_mm", "slice_gap_mm", "slices", "matrix_frequency", "matrix_phase",
    "recon_matrix", "bandwidth_khz", "arms",
)
_ARM_KEYS = {"nex", "partial_fourier", "acceleration", "calibration_lines"}


@dataclass(frozen=True)
class ArmAcquisition:
    """How one arm samples k-space.

    ``nex`` 0.5 means one partial-Fourier acquisition of ``partial_fourier`` of the ky lines;
    an integer NEX means that many complete, independent acquisitions averaged.
    """

    nex: float
    partial_fourier: float = 1.0
    acceleration: int = 1
    calibration_lines: int = 0

    @property
    def averages(self) -> int:
        """Number of independent acquisitions that are averaged (1 for NEX 0.5)."""
        return max(1, int(round(self.nex)))

    @property
    def is_partial_fourier(self) -> bool:
        return self.partial_fourier < 1.0


@dataclass(frozen=True)
class Protocol:
    protocol_set: str
    name: str
    plane: str
    fat_suppression: bool
    te_ms: float
    tr_ms: float
    echo_train_length: int
    fov_mm: float
    slice_thickness_mm: float
    slice_gap_mm: float
    slices: int
    matrix_frequency: int
    matrix_phase: int
    recon_matrix: int
    bandwidth_khz: float
    arms: dict[str, ArmAcquisition] = field(default_factory=dict)

    @property
    def bandwidth_hz_total(self) -> float:
        """Full receiver bandwidth in Hz (Table 1 gives +/- kHz)."""
        return 2.0 * self.bandwidth_khz * 1000.0

    @property
    def pixel_spacing_mm(self) -> float:
        return self.fov_mm / self.recon_matrix

    @property
    def slice_spacing_mm(self) -> float:
        return self.slice_thickness_mm + self.slice_gap_mm

    @property
    def acquired_voxel_mm3(self) -> float:
        return (self.fov_mm / self.matrix_frequency) * (self.fov_mm / self.matrix_phase) * self.slice_thickness_mm

    def arm(self, arm: str) -> ArmAcquisition:
        try:
            return self.arms[arm]
        except KeyError:
            raise ValueError(f"protocol {self.protocol_set}/{self.name} has no arm {arm!r}; it has {sorted(self.arms)}") from None

    def scaled(self, *, recon_matrix: int | None = None, slices: int | None = None) -> Protocol:
        """The same protocol on a smaller grid (tests, previews): matrices scale together so the
        sampling fractions, contrast and relative SNR stay those of the full protocol."""
        if recon_matrix is None and slices is None:
            return self
        new = {}
        if recon_matrix is not None:
            f = recon_matrix / self.recon_matrix
            new.update(
                recon_matrix=recon_matrix,
                matrix_frequency=max(8, 2 * math.floor(self.matrix_frequency * f / 2)),
                matrix_phase=max(8, 2 * math.floor(self.matrix_phase * f / 2)),
            )
        if slices is not None:
            new["slices"] = slices
        return replace(self, **new)


def _parse_arm(label: str, raw: dict) -> ArmAcquisition:
    unknown = set(raw) - _ARM_KEYS
    if unknown:
        raise ValueError(f"{label}: unknown arm keys {sorted(unknown)}")
    if "nex" not in raw:
        raise ValueError(f"{label}: arm needs 'nex'")
    nex = float(raw["nex"])
    if nex <= 0:
        raise ValueError(f"{label}: nex must be positive")
    if nex < 1:
        if nex != 0.5:
            raise ValueError(f"{label}: fractional NEX other than 0.5 is not supported")
        pf = float(raw.get("partial_fourier", DEFAULT_PARTIAL_FOURIER))
    else:
        if nex != int(nex):
            raise ValueError(f"{label}: NEX above 1 must be an integer")
        pf = float(raw.get("partial_fourier", 1.0))
    if not 0.5 < pf <= 1.0:
        raise ValueError(f"{label}: partial_fourier must be in (0.5, 1]")
    accel = int(raw.get("acceleration", 1))
    calib = int(raw.get("calibration_lines", 0))
    if accel < 1:
        raise ValueError(f"{label}: acceleration must be >= 1")
    if accel > 1 and pf < 1.0:
        raise ValueError(f"{label}: partial Fourier together with parallel imaging is not supported")
    return ArmAcquisition(nex=nex, partial_fourier=pf, acceleration=accel, calibration_lines=calib)


def parse_protocols(data: dict, source: str = "<toml>") -> dict[tuple[str, str], Protocol]:
    """Validate a parsed TOML document into ``{(set, name): Protocol}`` (precise ValueErrors)."""
    out: dict[tuple[str, str], Protocol] = {}
    for i, raw in enumerate(data.get("sequence", [])):
        label = f"{source}: sequence #{i + 1} ({raw.get('set', '?')}/{raw.get('name', '?')})"
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ValueError(f"{label}: missing {missing}")
        unknown = set(raw) - set(_REQUIRED)
        if unknown:
            raise ValueError(f"{label}: unknown keys {sorted(unknown)}")
        if raw["plane"] not in ("sagittal", "axial"):
            raise ValueError(f"{label}: plane must be 'sagittal' or 'axial'")
        if raw["matrix_frequency"] > raw["recon_matrix"] or raw["matrix_phase"] > raw["recon_matrix"]:
            raise ValueError(f"{label}: acquired matrix larger than recon_matrix")
        arms = {name: _parse_arm(f"{label} arm {name}", arm) for name, arm in raw["arms"].items()}
        protocol = Protocol(
            protocol_set=str(raw["set"]),
            name=str(raw["name"]),
            plane=raw["plane"],
            fat_suppression=bool(raw["fat_suppression"]),
            te_ms=float(raw["te_ms"]),
            tr_ms=float(raw["tr_ms"]),
            echo_train_length=int(raw["echo_train_length"]),
            fov_mm=float(raw["fov_mm"]),
            slice_thickness_mm=float(raw["slice_thickness_mm"]),
            slice_gap_mm=float(raw["slice_gap_mm"]),
            slices=int(raw["slices"]),
            matrix_frequency=int(raw["matrix_frequency"]),
            matrix_phase=int(raw["matrix_phase"]),
            recon_matrix=int(raw["recon_matrix"]),
            bandwidth_khz=float(raw["bandwidth_khz"]),
            arms=arms,
        )
        key = (protocol.protocol_set, protocol.name)
        if key in out:
            raise ValueError(f"{label}: duplicate protocol {key}")
        out[key] = protocol
    return out


def load_protocols(*paths: str | os.PathLike) -> dict[tuple[str, str], Protocol]:
    """Protocols from the packaged TOML plus any extra files (later files add or override).

    ``RECON_PROTOCOLS`` (os.pathsep-separated) names extra files too.
    """
    files = [DEFAULT_PROTOCOLS_PATH, *map(Path, paths)]
    extra = os.environ.get("RECON_PROTOCOLS")
    if extra:
        files += [Path(p) for p in extra.split(os.pathsep) if p]
    out: dict[tuple[str, str], Protocol] = {}
    for path in files:
        with open(path, "rb") as fh:
            out.update(parse_protocols(tomllib.load(fh), source=str(path)))
    return out


def get_protocol(name: str, protocol_set: str = DEFAULT_PROTOCOL_SET, *extra_paths) -> Protocol:
    protocol_set = PROTOCOL_SET_ALIASES.get(protocol_set, protocol_set)
    protocols = load_protocols(*extra_paths)
    try:
        return protocols[(protocol_set, name)]
    except KeyError:
        known = sorted(n for s, n in protocols if s == protocol_set)
        raise ValueError(f"no protocol {name!r} in set {protocol_set!r}; known: {known}") from None


def protocol_set(protocol_set: str = DEFAULT_PROTOCOL_SET, *extra_paths) -> list[Protocol]:
    """The sequences of one protocol set, in file order."""
    protocol_set = PROTOCOL_SET_ALIASES.get(protocol_set, protocol_set)
    found = [p for (s, _), p in load_protocols(*extra_paths).items() if s == protocol_set]
    if not found:
        raise ValueError(f"unknown protocol set {protocol_set!r}")
    return found
