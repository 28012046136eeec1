"""Assemble the statistics report of a study from its tidy answers (pure: no Django).

:func:`build_report` runs the analysis engine once (:func:`readerstudy.analysis.runner.run_analysis`,
which validates the answers) and assembles the report from its result: the display tables
(:mod:`.tables`), the figures (:mod:`.figures`), the Methods paragraph with its references
(:mod:`.methods`), and a stamp that makes the result traceable (software version, study seed,
answer count, SHA-256 of the tidy answers CSV, generation time). Rendering to HTML, PDF, XLSX and a
zip lives in :mod:`.render`.

Every display table is a DataFrame of strings (numbers already rounded the same way for every
format); wide tables shaped like the seeds' have two-level column labels ``(group, column)``.
The analysis tables themselves (full precision) travel with the report as ``result.tables``.
A section whose data the study does not have carries a ``note`` saying why it is absent.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pandas as pd

from readerstudy import __version__
from readerstudy.analysis import noninferiority as ni_mod
from readerstudy.analysis.config import AnalysisConfig, parse_config
from readerstudy.analysis.runner import run_analysis

from . import tables
from .verdict import verdict_section
from .document import Context, Figure, Labels, Order, Report, Section, Table  # noqa: F401  (the report's types)
from .formatting import DASH, fmt, fmt_p, mean_sd, with_ci  # noqa: F401
from .methods import methods_text

#: Columns of an image-integrity table (recon ``fastdl_integrity``): required, then optional.
INTEGRITY_REQUIRED = ("reference", "test", "ssim", "l1")
INTEGRITY_OPTIONAL = ("case", "sequence", "l1_rel", "psnr", "nmse", "data_range")

#: Section builders in report order.
BUILDERS = (
    ("descriptives", tables.descriptives), ("noninferiority", tables.noninferiority), ("conger", tables.conger),
    ("per_reader", tables.per_reader), ("agreement", tables.agreement), ("quantitative", tables.quantitative),
    ("detection", tables.detection), ("accuracy", tables.accuracy), ("preference", tables.preference),
    ("integrity", tables.integrity), ("mrmc", tables.mrmc),
)
#: Section keys in report order.
SECTIONS = tuple(key for key, _ in BUILDERS)


# --- hashing --------------------------------------------------------------------------------------

def answers_csv_bytes(answers: pd.DataFrame) -> bytes:
    """The tidy answers as CSV bytes, serialised as ``reading.export.answers_csv`` does; hashed by the stamp."""
    return answers.to_csv(index=False, float_format="%.10g").encode("utf-8")


def answers_sha256(answers: pd.DataFrame) -> str:
    return hashlib.sha256(answers_csv_bytes(answers)).hexdigest()



def check_integrity(integrity: pd.DataFrame | None) -> pd.DataFrame | None:
    if integrity is None:
        return None
    if not isinstance(integrity, pd.DataFrame):
        raise ValueError("integrity: expected a pandas DataFrame")
    missing = [c for c in INTEGRITY_REQUIRED if c not in integrity.columns]
    unknown = [c for c in integrity.columns if c not in INTEGRITY_REQUIRED + INTEGRITY_OPTIONAL]
    if missing or unknown:
        raise ValueError(f"integrity: expected columns {', '.join(INTEGRITY_REQUIRED)} (optionally "
                         f"{', '.join(INTEGRITY_OPTIONAL)}); missing: {missing or 'none'}, "
                         f"unknown: {unknown or 'none'}")
    out = integrity.copy()
    for c in ("ssim", "l1", "l1_rel", "psnr", "nmse", "data_range"):
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce")
            if out[c].isna().any():
                raise ValueError(f"integrity: column {c!r} has missing or non-numeric values")
    return out



def build_sections(ctx: Context) -> list[Section]:
    """Every section in report order, rows sorted in the study's order of sequences."""
    sections = [build(ctx) for _, build in BUILDERS]
    for section in sections:
        for table in section.tables:
            ctx.order.sort_rows(table)
    return sections


def build_report(answers: pd.DataFrame, config: dict | AnalysisConfig, reference_standard: pd.DataFrame | None = None,
                 integrity: pd.DataFrame | None = None, meta: dict[str, Any] | None = None,
                 progress=None, invalid_reference: str = "raise") -> Report:
    """Analyse the tidy answers and assemble the report.

    Parameters
    ----------
    answers : DataFrame
        Tidy answers (DESIGN.md; ``reading.export.answers_tidy``).
    config : dict or AnalysisConfig
        Analysis configuration (``docs/analysis.md``).
    reference_standard : DataFrame, optional
        ``case, level, finding, present``; without it the accuracy section is absent.
    integrity : DataFrame, optional
        Image-integrity figures per volume: ``reference, test, ssim, l1`` and optionally
        ``case, sequence, l1_rel, psnr, nmse, data_range`` (recon ``fastdl_integrity``).
    meta : dict, optional
        ``study`` (name), ``seed``, ``title``, ``generated_at`` (datetime or ISO text; default now, UTC),
        ``notes`` (list of text shown with the analysis notes), ``sequences`` and ``arms`` (names in
        the study's order; tables and figures follow it), ``reads`` (``{reader: {"scheduled": n,
        "submitted": m}}`` from the schedule, for the verdict's population lines).
    progress : callable, optional
        Called with a percentage (0–100) and a short message as the build advances.
    invalid_reference : {"raise", "drop"}
        A reference standard that does not fit the answers raises, or is left out with a note
        (:func:`~readerstudy.analysis.runner.run_analysis`).

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        Invalid answers, configuration, reference standard or integrity table (nothing built).
    """
    meta = dict(meta or {})
    tick = progress or (lambda pct, msg: None)
    cfg = parse_config(config)
    integrity = check_integrity(integrity)
    tick(5, "analysis")
    result = run_analysis(answers, cfg, reference_standard, invalid_reference=invalid_reference)
    tick(50, "tables and figures")
    prefs = [it.name for it in cfg.items_of("preference")]
    single = result.answers[~result.answers["item"].isin(prefs)]
    units = ni_mod.paired_units(single, cfg.reference, "case-mean")

    csv_bytes = answers_csv_bytes(answers)
    generated = meta.get("generated_at") or dt.datetime.now(dt.timezone.utc)
    if isinstance(generated, dt.datetime):
        generated = generated.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()
    stamp = {
        "software": "readerstudy", "version": __version__, "study": meta.get("study", ""),
        "seed": meta.get("seed"), "answers": int(len(answers)), "answers_sha256": hashlib.sha256(csv_bytes).hexdigest(),
        "generated_at": generated, "readers": len(result.meta["readers"]), "cases": result.meta["cases"],
    }
    order = Order.of(list(meta.get("sequences") or []) + list(meta.get("arms") or []))
    ctx = Context(result=result, cfg=cfg, label=Labels(cfg), order=order, single=single, units=units,
                  has_reference=result.meta["reference_standard"], integrity=integrity, meta=meta)
    sections = build_sections(ctx)
    verdict = verdict_section(ctx)
    tick(85, "methods")
    methods, refs = methods_text(ctx, sections, stamp)
    title = meta.get("title") or (
        f"Reader study report: {meta['study']}" if meta.get("study") else "Reader study report")
    return Report(title=title, stamp=stamp, verdict=verdict, sections=sections, methods=methods, references=refs, result=result,
                  answers_csv=csv_bytes, integrity=integrity,
                  notes=list(result.notes) + [str(n) for n in meta.get("notes", [])], meta=meta)
