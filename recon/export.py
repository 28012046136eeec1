"""Phantom cases to a folder of DICOM series plus ``manifest.csv`` and ``reference_standard.csv``.

Layout (what ``recon_phantom`` writes and what the study import reads)::

    DIR/<case>/<sequence>/<arm>/IM0001.dcm ...     (sequence with spaces as underscores)
    DIR/manifest.csv              case,sequence,arm,path,slices
    DIR/reference_standard.csv    case,level,finding,present
    DIR/phantom.json              coordinator-only: case seeds, finding details, parameters

``manifest.csv`` is directly usable as the import mapping of
:func:`readerstudy.imports.services.import_dicom` (``path`` is relative to DIR).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from . import reconstruction as rec
from .dicom_out import SeriesMeta, today, write_series
from .phantom import make_phantom
from .pipeline import TRUTH_ARM, arm_image, available_arms, simulate_case
from .protocols import DEFAULT_PROTOCOL_SET, protocol_set as load_protocol_set

MANIFEST_COLUMNS = ["case", "sequence", "arm", "path", "slices"]
REFERENCE_COLUMNS = ["case", "level", "finding", "present"]


def case_label(index: int) -> str:
    return f"C{index + 1:03d}"


def case_seed(study_seed: int, index: int) -> int:
    """Seed of case ``index`` of a run: independent streams per case, reproducible per run."""
    return int(np.random.SeedSequence([int(study_seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def folder_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text)


@dataclass(frozen=True)
class ManifestRow:
    case: str
    sequence: str
    arm: str
    path: str
    slices: int


def export_case(
    out_dir: Path,
    label: str,
    seed: int,
    *,
    protocol_set: str = DEFAULT_PROTOCOL_SET,
    sequences: Iterable[str] | None = None,
    arms: Iterable[str] | None = None,
    recon_matrix: int | None = None,
    slices: dict[str, int] | int | None = None,
    spacing_mm: float = 0.8,
    prevalence: dict[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ManifestRow], list[tuple[str, str, str, bool]], dict]:
    """Simulate and write every sequence x arm of one case. Returns the manifest rows, the
    reference-standard rows (case, level, finding, present) and coordinator-only details."""
    out_dir = Path(out_dir)
    phantom = make_phantom(seed, spacing_mm=spacing_mm, prevalence=prevalence)
    protocols = load_protocol_set(protocol_set)
    if sequences is not None:
        wanted = list(sequences)
        protocols = [p for p in protocols if p.name in wanted]
        missing = set(wanted) - {p.name for p in protocols}
        if missing:
            raise ValueError(f"unknown sequences for set {protocol_set!r}: {sorted(missing)}")
    study_uid, frame_uid = generate_uid(), generate_uid()
    date, time = today()
    rows: list[ManifestRow] = []
    for number, protocol in enumerate(protocols, start=1):
        n_slices = slices.get(protocol.name) if isinstance(slices, dict) else slices
        sim = simulate_case(seed, protocol.name, protocol=protocol, phantom=phantom, recon_matrix=recon_matrix, slices=n_slices)
        names = list(arms) if arms is not None else available_arms(sim.protocol)
        # One window per case x sequence, from the noise-free image: identical for every arm.
        truth_u12 = rec.to_uint12(sim.truth, sim.scale_12bit)
        lo, hi = np.percentile(truth_u12[truth_u12 > 0], [1, 99.5]) if np.any(truth_u12) else (0, 4095)
        for arm_number, arm in enumerate(names):
            image = arm_image(sim, arm)
            rel = Path(label) / folder_name(protocol.name) / folder_name(arm)
            meta = SeriesMeta(
                patient_id=f"PHANTOM-{seed}", patient_name=f"PHANTOM^{seed}",
                study_instance_uid=study_uid, frame_of_reference_uid=frame_uid,
                series_number=100 * number + arm_number + 1, series_description=protocol.name,
                window_center=float((lo + hi) / 2), window_width=float(max(hi - lo, 1.0)),
                tr_ms=protocol.tr_ms, te_ms=protocol.te_ms, echo_train_length=protocol.echo_train_length,
                fat_suppression=protocol.fat_suppression, bandwidth_hz_total=protocol.bandwidth_hz_total,
                matrix_frequency=sim.protocol.matrix_frequency, matrix_phase=sim.protocol.matrix_phase,
                study_date=date, study_time=time,
            )
            write_series(rec.to_uint12(image, sim.scale_12bit), sim.geometry, out_dir / rel, meta)
            rows.append(ManifestRow(label, protocol.name, arm, rel.as_posix(), sim.geometry.slices))
            if progress:
                progress(f"{label} {protocol.name} {arm}")
        del sim
    reference = [(label, level, finding, present) for level, finding, present in phantom.reference_standard()]
    details = {
        "case": label, "seed": seed, "protocol_set": protocol_set,
        "findings": [{"level": f.level, "finding": f.finding, **f.details} for f in phantom.findings if f.present],
        "anatomy": {k: v for k, v in vars(phantom.anatomy).items()},
    }
    return rows, reference, details


def write_manifest(out_dir: Path, rows: list[ManifestRow]) -> Path:
    path = Path(out_dir) / "manifest.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            w.writerow([r.case, r.sequence, r.arm, r.path, r.slices])
    return path


def write_reference(out_dir: Path, rows: list[tuple[str, str, str, bool]]) -> Path:
    path = Path(out_dir) / "reference_standard.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REFERENCE_COLUMNS)
        for case, level, finding, present in rows:
            w.writerow([case, level, finding, int(bool(present))])
    return path


def export_phantom_cases(
    out_dir: Path | str,
    *,
    cases: int,
    seed: int,
    first_case: int = 0,
    progress: Callable[[int, str], None] | None = None,
    **kwargs,
) -> tuple[list[ManifestRow], list[tuple[str, str, str, bool]]]:
    """Cases ``first_case .. first_case + cases - 1`` of run ``seed`` into ``out_dir``."""
    if cases < 1:
        raise ValueError("cases must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, reference, details = [], [], []
    for i in range(first_case, first_case + cases):
        label = case_label(i)
        rows, ref, det = export_case(out_dir, label, case_seed(seed, i), **kwargs)
        manifest += rows
        reference += ref
        details.append(det)
        if progress:
            progress(int(100 * (i - first_case + 1) / cases), f"case {label} done")
    write_manifest(out_dir, manifest)
    write_reference(out_dir, reference)
    (out_dir / "phantom.json").write_text(json.dumps({"seed": seed, "cases": details}, indent=1, default=float))
    return manifest, reference
