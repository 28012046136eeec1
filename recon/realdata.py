"""Real data in, blinded arms out: one series (Standard DICOM, scanner Fast DICOM or raw k-space)
-> the arms of its protocol as DICOM folders with a manifest, all or nothing.

Pure (no Django): :func:`recon_series` is what ``manage.py recon_series`` and the recon jobs call.

Kinds
-----
``standard``
    A scanner's Standard magnitude series. Its noise is measured (:mod:`recon.noise`) or given;
    the protocol's Fast is simulated by adding the missing noise in k-space (NEX reduction) and
    homodyne partial Fourier (:func:`recon.dicom_in.fast_from_magnitude`). Parallel imaging
    (R > 1) is refused: it needs coil data. Arms written: Fast, Fast-DL25/50/75.
``fast``
    A scanner's Fast series (both protocols acquired, the seeds' design). Arms written:
    Fast-DL25/50/75 from it.
``kspace``
    Raw multi-coil k-space (fastMRI HDF5 or ISMRMRD, :mod:`recon.rawdata`). Standard = all
    averages; Fast = the protocol's reduced acquisition of the same data. Arms written: Standard,
    Fast, Fast-DL25/50/75.

Every arm of the series is written with the same header (the source's, or one built from the raw
data's header), the same BitsStored (from the largest value of any arm) and the same rescale and
window; exact zeros are exactly where the source has them in every arm (no arm gets clipped zeros
that the others never have). Folders are written under a hidden temporary folder that is renamed
into place only when every arm, ``manifest.csv`` and ``recon.json`` are written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dicom_in import SourceSeries, fast_from_magnitude, read_source_series
from .dicom_out import bits_stored_for, write_series_like
from .noise import NoiseEstimate, check_noise_sd, estimate_noise, given_noise
from .protocols import DEFAULT_PROTOCOL_SET, Protocol, get_protocol, protocol_set

KINDS = ("standard", "fast", "kspace")
FAST_DL_ARMS = {"Fast-DL25": 0.25, "Fast-DL50": 0.50, "Fast-DL75": 0.75}
ProgressFn = Callable[[int, str], None]


class ReconInputError(ValueError):
    """Input the recon cannot use (message names the problem and what to provide)."""


@dataclass
class ReconResult:
    case: str
    sequence: str
    arms: dict[str, np.ndarray]
    datasets: list
    info: dict = field(default_factory=dict)


def fast_dl_arms(fast: np.ndarray, *, sigma: float | None) -> dict[str, np.ndarray]:
    """Fast-DL25/50/75 from a Fast volume through the committed denoiser: one network pass,
    each arm a blend calibrated at the measured noise ``sigma``."""
    from .denoiser.inference import denoise_arms

    return denoise_arms(np.asarray(fast, np.float32), dict(FAST_DL_ARMS), sigma=sigma)


def pick_protocol(sequence: str | None, protocol_set_name: str, datasets: list | None = None) -> Protocol:
    """The protocol named ``sequence``, or the one whose name is the series' description."""
    if sequence:
        return get_protocol(sequence, protocol_set_name)
    names = [p.name for p in protocol_set(protocol_set_name)]
    description = str(datasets[0].get("SeriesDescription", "")).strip() if datasets else ""
    for name in names:
        if description.upper() == name.upper():
            return get_protocol(name, protocol_set_name)
    raise ReconInputError(
        f"which sequence is this? The series description {description!r} is none of the protocol set "
        f"{protocol_set_name!r}'s {names}; give --sequence NAME"
    )


def case_label_for(datasets: list) -> str:
    """A neutral, stable case label from the StudyInstanceUID (never the patient's name or ID)."""
    uid = str(datasets[0].get("StudyInstanceUID", "")) if datasets else ""
    return "case-" + hashlib.sha256(uid.encode()).hexdigest()[:8]


def _noise_for_standard(src: SourceSeries, noise_sd: float | None, background_mask: np.ndarray | None) -> NoiseEstimate:
    if noise_sd is not None:
        return given_noise(noise_sd)
    return estimate_noise(src.volume, background_mask=background_mask)


def recon_from_standard(
    src: SourceSeries, protocol: Protocol, *, noise_sd: float | None = None, background_mask: np.ndarray | None = None,
    seed: int = 0, fast_dl: bool = True, progress: ProgressFn | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Fast (and Fast-DL) simulated from a magnitude Standard series."""
    report = progress or (lambda p, m: None)
    std, fast = protocol.arm("Standard"), protocol.arm("Fast")
    if fast.acceleration > 1:
        raise ReconInputError(
            f"protocol {protocol.protocol_set}/{protocol.name}: its Fast uses parallel imaging (R = {fast.acceleration}), "
            "which cannot be simulated from a magnitude image (the g-factor noise and aliasing depend on coil "
            "sensitivities and phase the series no longer has); use raw k-space (--from kspace) or a scanner Fast (--from fast)"
        )
    if std.is_partial_fourier:
        raise ReconInputError(f"protocol {protocol.name}: the Standard is itself partial Fourier; a Fast cannot be simulated from it")
    report(10, "measuring the noise")
    noise = _noise_for_standard(src, noise_sd, background_mask)
    report(30, f"simulating the Fast (noise SD {noise.sigma:.4g})")
    rng = np.random.default_rng(seed)
    volume = fast_from_magnitude(
        src.volume, standard_nex=float(std.nex), fast=fast, phase_axis=src.phase_axis, rng=rng,
        noise_sd=noise.sigma, coils=noise.coils, acquired_matrix=src.acquired_matrix,
    )
    arms = {"Fast": volume}
    fast_sd = noise.sigma * math.sqrt(std.nex / fast.nex) if not fast.is_partial_fourier else None
    if fast_dl:
        report(60, "Fast-DL")
        arms.update(fast_dl_arms(volume, sigma=fast_sd))
    info = {
        "noise_sd": noise.sigma, "noise_method": noise.method, "noise_coils": noise.coils,
        "noise_diagnostics": _jsonable(noise.diagnostics), "fast_noise_sd": fast_sd,
        "standard_nex": std.nex, "fast_nex": fast.nex, "fast_partial_fourier": fast.partial_fourier,
        "phase_axis": "rows (COL)" if src.phase_axis == -2 else "columns (ROW)", "phase_axis_from": src.phase_axis_source,
        "acquired_matrix": list(src.acquired_matrix) if src.acquired_matrix else None, "seed": seed,
    }
    return arms, info


def recon_from_fast(src: SourceSeries, *, noise_sd: float | None = None, fast_dl: bool = True,
                    progress: ProgressFn | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fast-DL25/50/75 from a scanner's Fast series."""
    from .denoiser.inference import estimate_noise_sigma
    from .noise import NoiseEstimateError

    report = progress or (lambda p, m: None)
    report(10, "measuring the noise")
    if noise_sd is not None:
        noise = given_noise(noise_sd)
        sd, method, diagnostics = noise.sigma, noise.method, {}
    else:
        try:
            noise = estimate_noise(src.volume)
            sd, method, diagnostics = noise.sigma, noise.method, noise.diagnostics
        except NoiseEstimateError as exc:
            # The denoiser measures its own noise level from the anatomy; record that one.
            sd, method, diagnostics = estimate_noise_sigma(src.volume), "wavelet MAD of the anatomy (denoiser)", {"background": str(exc)}
    arms = {}
    if fast_dl:
        report(40, "Fast-DL")
        arms = fast_dl_arms(src.volume, sigma=sd if method != "wavelet MAD of the anatomy (denoiser)" else None)
    return arms, {"noise_sd": float(sd), "noise_method": method, "noise_diagnostics": _jsonable(diagnostics)}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return value


def equalise_representation(arms: dict[str, np.ndarray], zeros: np.ndarray, *, source_max: int = 0,
                            source_bits: int = 12) -> tuple[dict[str, np.ndarray], int]:
    """Round every arm to stored integers with one rule: zero exactly where ``zeros``, at least 1
    elsewhere; one BitsStored for all: what the largest value of any arm (or the source) needs,
    and at least the source series' own BitsStored, so that the imported source arm and the
    new arms are written alike whenever the values allow it."""
    out = {}
    for name, vol in arms.items():
        v = np.rint(np.clip(np.asarray(vol, np.float64), 0, 65535))
        v = np.where(zeros, 0.0, np.maximum(v, 1.0))
        out[name] = v
    top = max([source_max] + [int(v.max(initial=0)) for v in out.values()])
    return out, max(bits_stored_for(top), min(16, int(source_bits)))


def write_output(out: Path, result: ReconResult, *, kind: str, source: str) -> list[dict]:
    """Write the arms, ``manifest.csv`` and ``recon.json`` under ``out`` atomically.

    ``out`` must not exist or be empty. Everything is written in a hidden sibling folder that is
    renamed to ``out`` at the end, so a failure leaves nothing (and never a manifest).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReconInputError(f"{out} exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    zeros = result.info.pop("_zeros", None)
    if zeros is None:
        zeros = np.zeros(next(iter(result.arms.values())).shape, bool)
    source_bits = int(result.info.pop("_source_bits", 12))
    arms, bits = equalise_representation(result.arms, zeros, source_max=int(result.info.pop("_source_max", 0)),
                                         source_bits=source_bits)
    if bits != source_bits and kind != "kspace":
        result.info["bits_note"] = (f"the source series has BitsStored {source_bits}, the new arms need {bits}: "
                                    "re-import the source so that all arms share one representation")
    rows = []
    try:
        for name, vol in arms.items():
            write_series_like(vol, result.datasets, tmp / name, bits_stored=bits)
            rows.append({"case": result.case, "sequence": result.sequence, "arm": name, "path": name, "slices": vol.shape[0]})
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["case", "sequence", "arm", "path", "slices"])
            writer.writeheader()
            writer.writerows(rows)
        info = {"kind": kind, "source": source, "case": result.case, "sequence": result.sequence,
                "arms": list(arms), "bits_stored": bits, **_jsonable(result.info)}
        (tmp / "recon.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        os.chmod(tmp, 0o755)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def recon_series(
    source: Path | str, out: Path | str, *, kind: str, sequence: str | None = None,
    protocol_set_name: str = DEFAULT_PROTOCOL_SET, noise_sd: float | None = None, case: str | None = None,
    seed: int = 0, fast_dl: bool = True, background_mask: np.ndarray | None = None,
    progress: ProgressFn | None = None, arms: list[str] | None = None,
) -> list[dict]:
    """One source series -> ``out/<arm>/`` DICOM folders, ``out/manifest.csv``, ``out/recon.json``.

    ``arms`` restricts what is written (default: every arm the kind makes). Returns the manifest
    rows. Raises :class:`ReconInputError` (or another ``ValueError``) with a
    message naming the problem; nothing is written then.
    """
    if kind not in KINDS:
        raise ReconInputError(f"--from must be one of {KINDS}, not {kind!r}")
    if noise_sd is not None:
        noise_sd = check_noise_sd(noise_sd)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReconInputError(f"{out} exists and is not empty")
    report = progress or (lambda p, m: None)
    if arms is not None:
        fast_dl = fast_dl and any(a in FAST_DL_ARMS for a in arms)
    if kind == "kspace":
        from .rawdata import recon_raw

        raw = recon_raw(source, sequence=sequence, protocol_set_name=protocol_set_name, noise_sd=noise_sd, fast_dl=fast_dl,
                        seed=seed, progress=report)
        result = ReconResult(case=case or raw.case, sequence=raw.sequence, arms=raw.arms, datasets=raw.datasets, info=raw.info)
    else:
        report(2, "reading the series")
        src = read_source_series(source)
        info_extra = {"_zeros": src.volume == 0, "_source_max": src.max_stored,
                      "_source_bits": int(src.datasets[0].get("BitsStored", 12))}
        if kind == "standard":
            protocol = pick_protocol(sequence, protocol_set_name, src.datasets)
            arms, info = recon_from_standard(src, protocol, noise_sd=noise_sd, background_mask=background_mask,
                                             seed=seed, fast_dl=fast_dl, progress=report)
            info.update(protocol_set=protocol.protocol_set, sequence=protocol.name)
            seq_name = protocol.name
        else:
            seq_name = sequence or str(src.datasets[0].get("SeriesDescription", "")).strip()
            if not seq_name:
                raise ReconInputError("the series has no SeriesDescription; give --sequence NAME")
            arms, info = recon_from_fast(src, noise_sd=noise_sd, fast_dl=fast_dl, progress=report)
        info.update(info_extra)
        result = ReconResult(case=case or case_label_for(src.datasets), sequence=seq_name, arms=arms, datasets=src.datasets, info=info)
    if arms is not None:
        unknown = [a for a in arms if a not in result.arms]
        if unknown:
            raise ReconInputError(f"a {kind} recon does not make arms {unknown}; it makes {list(result.arms)}")
        result.arms = {a: v for a, v in result.arms.items() if a in arms}
    if not result.arms:
        raise ReconInputError("nothing to write (no arm was made)")
    report(90, "writing DICOM")
    rows = write_output(out, result, kind=kind, source=str(source))
    report(100, f"wrote {len(rows)} series")
    return rows
