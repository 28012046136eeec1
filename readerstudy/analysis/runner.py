"""Run every analysis of a study from its tidy answers and a configuration.

:func:`run_analysis` validates everything first (answers, configuration, reference standard),
then computes all tables in memory; :func:`write_results` writes them. So bad input ends with a
``ValueError`` before any file is written. This is what ``manage.py analyze`` and the report call.
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import accuracy, agreement, descriptives, detection, mrmc, noninferiority, paired, population, preference, \
    quantitative
from .common import ALL
from .config import AnalysisConfig, parse_config
from .tidy import validate_answers, validate_reference

#: Tables in the order they are written; each becomes ``<name>.csv``.
TABLES = ("descriptives", "descriptives_by_reader", "noninferiority", "paired", "kappa", "icc", "spearman",
          "mcnemar", "accuracy", "accuracy_gee", "preference", "bland_altman", "measurements", "mrmc",
          "mrmc_readers", "population")


@dataclass
class AnalysisResult:
    """All tables of one analysis (``tables[name]`` is a DataFrame) and what was noted on the way."""

    tables: dict[str, pd.DataFrame]
    config: AnalysisConfig
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: The validated answers the tables were computed from (derived quantities added); not written out.
    answers: pd.DataFrame | None = None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable view: config echo, notes, metadata and every table as records."""
        return {"config": self.config.as_dict(), "notes": list(self.notes), "meta": self.meta,
                "tables": {name: _records(df) for name, df in self.tables.items()}}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else (str(f) if math.isinf(f) else f)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in rec.items()} for rec in df.to_dict(orient="records")]


def run_analysis(answers: pd.DataFrame, config: dict | AnalysisConfig,
                 reference_standard: pd.DataFrame | None = None, *,
                 invalid_reference: str = "raise") -> AnalysisResult:
    """Validate the input and compute every table.

    Parameters
    ----------
    answers : DataFrame
        Tidy answers (``reader, case, sequence, arm, item, level, value`` and optional columns).
    config : dict or AnalysisConfig
        The parsed TOML configuration (see ``docs/analysis.md``).
    reference_standard : DataFrame, optional
        ``case, level, finding, present``; needed for accuracy tables and for MRMC AUC,
        sensitivity and specificity.
    invalid_reference : {"raise", "drop"}
        What a reference standard that does not fit the answers (e.g. lacks a case or level) does:
        raise, or be left out with a note (the accuracy tables are then empty), so that the rest of
        a study's report is still built.

    Returns
    -------
    AnalysisResult
        ``tables`` holds every table of :data:`TABLES` (empty tables keep their columns).

    Raises
    ------
    ValueError
        On any invalid input, naming the rows or keys at fault; nothing has been written then.
    """
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 4)
        clock[0] = now

    cfg = parse_config(config)
    df = validate_answers(answers, cfg)
    df, population_table = population.select_population(df, cfg.population_readers)
    notes: list[str] = []
    ref = None
    if reference_standard is not None:
        try:
            ref = validate_reference(reference_standard, df, cfg)
        except ValueError as exc:
            if invalid_reference != "drop" or not str(exc).startswith("reference standard"):
                raise
            notes.append(f"the reference standard was left out: {exc}")
    needs_truth = [m.name for m in cfg.mrmc if m.fom in ("auc", "sensitivity", "specificity")]
    if ref is None and needs_truth:
        raise ValueError(f"config [[mrmc]] {', '.join(needs_truth)}: needs --reference-standard (truth per case)")
    if ref is None and cfg.items_of("finding"):
        notes.append("no reference standard given: accuracy tables are empty")

    df, derive_notes = quantitative.derive(df, cfg.derived)
    notes.extend(derive_notes)
    kind = {name: it.kind for name, it in cfg.items.items()}
    kind.update({name: "numeric" for name in cfg.derived})

    def of(*kinds: str) -> list[str]:
        return [name for name, k in kind.items() if k in kinds]

    lap("validate")
    pref_items = of("preference")
    single = df[~df["item"].isin(pref_items)]
    t: dict[str, pd.DataFrame] = {"population": population_table}
    excluded = population_table[~population_table["included"].astype(bool)]
    if len(excluded):
        notes.append(f"readers left out of the analysis population ({cfg.population_readers} readers): "
                     + "; ".join(f"{r.reader} ({r.reason})" for r in excluded.itertuples()))
    scored = of("likert", "binary", "numeric", "rating")
    t["descriptives"] = descriptives.describe(single, scored)
    t["descriptives_by_reader"] = descriptives.describe_by_reader(single, scored)
    lap("descriptives")
    margins = {it.name: (it.margin, it.direction) for it in cfg.items.values() if it.noninferiority}
    t["noninferiority"] = noninferiority.noninferiority(single, cfg.reference, margins, cfg.unit, cfg.fdr,
                                                        cfg.alpha, cfg.confidence)
    lap("noninferiority")
    t["paired"] = paired.paired_comparisons(single, cfg.reference, of("likert", "binary", "numeric"), cfg.alpha,
                                            cfg.paired_adjust)
    lap("paired")
    cats = {it.name: it.categories for it in cfg.items.values() if it.kind in ("likert", "binary", "finding", "rating")}
    weights = {name: (list(cfg.kappa_weights) if kind[name] in ("likert", "rating") else ["none"]) for name in cats}
    t["kappa"] = agreement.kappa_table(single[single["item"].isin(list(cats))], cfg.reference, cats, weights,
                                       cfg.conger_weights, cfg.confidence)
    lap("kappa")
    t["icc"] = agreement.icc_table(single, of("numeric"), cfg.confidence)
    lap("icc")
    t["spearman"] = agreement.spearman_table(df, of("likert", "preference", "rating"))
    lap("spearman")
    t["mcnemar"] = detection.mcnemar_table(single, cfg.reference, of("finding"))
    lap("mcnemar")
    if ref is not None and of("finding"):
        units = accuracy.scored_units(single, ref, of("finding"))
        t["accuracy"] = accuracy.accuracy_table(units, cfg.confidence)
        lap("accuracy")
        t["accuracy_gee"] = accuracy.gee_table(units, cfg.reference, cfg.confidence)
        lap("accuracy_gee")
    else:
        t["accuracy"] = pd.DataFrame(columns=accuracy.COLUMNS)
        t["accuracy_gee"] = pd.DataFrame(columns=accuracy.GEE_COLUMNS)
    scales = {it.name: it.scale for it in cfg.items_of("preference")}
    t["preference"] = preference.preference_table(df[df["item"].isin(pref_items)], scales, cfg.preference_unit,
                                                  cfg.alpha)
    lap("preference")
    t["bland_altman"] = quantitative.bland_altman_table(single, cfg.reference, of("numeric"), cfg.unit,
                                                        cfg.confidence)
    lap("bland_altman")
    t["measurements"] = quantitative.measurement_table(single, cfg.reference, of("numeric"), cfg.confidence)
    lap("measurements")
    t["mrmc"], t["mrmc_readers"] = _mrmc(single, cfg, ref)
    lap("mrmc")
    meta = {"answers": int(len(answers)), "readers": sorted(df["reader"].unique().tolist()),
            "cases": int(df["case"].nunique()), "arms": sorted(single["arm"].unique().tolist()),
            "sequences": sorted(df["sequence"].unique().tolist()), "python": platform.python_version(),
            "versions": _versions(), "timings_s": timings, "population": cfg.population_readers,
            "reference_standard": ref is not None}
    return AnalysisResult(tables={name: t[name] for name in TABLES}, config=cfg, notes=notes, meta=meta, answers=df)


def _mrmc(df: pd.DataFrame, cfg: AnalysisConfig, ref: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    parts, reader_parts = [], []
    for spec in cfg.mrmc:
        item = cfg.items[spec.item]
        sub = df[df["item"] == spec.item]
        if spec.level is not None:
            sub = sub[sub["level"] == spec.level]
            if sub.empty:
                raise ValueError(f"config [[mrmc]] {spec.name}: item {spec.item!r} has no answers at level {spec.level!r}")
        if spec.fom != "mean":
            finding = item.finding or item.name
            truth = ref[ref["finding"] == finding][["case", "level", "present"]]
            sub = sub.merge(truth, on=["case", "level"], how="inner")
        direction = item.direction if spec.fom == "mean" and item.direction else "greater"
        span = (item.scale[1] - item.scale[0]) if item.scale else (1.0 if item.kind == "binary" else None)
        bounds = (-span, span) if span is not None else None
        for seq, grp in sub.groupby("sequence", sort=True):
            label = {"analysis": spec.name, "item": spec.item, "sequence": seq,
                     "level": spec.level if spec.level is not None else ALL}
            table, readers = mrmc.mrmc_analysis(grp, spec.fom, cfg.reference, spec.margin, direction,
                                                cfg.confidence, label, cfg.alpha, difference_bounds=bounds)
            parts.append(table)
            reader_parts.append(readers)
    if not parts:
        return pd.DataFrame(columns=mrmc.COLUMNS), pd.DataFrame(columns=mrmc.READER_COLUMNS)
    return pd.concat(parts, ignore_index=True), pd.concat(reader_parts, ignore_index=True)


def _versions() -> dict[str, str]:
    import scipy
    import statsmodels

    return {"numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__}


def write_results(result: AnalysisResult, out_dir: str | Path) -> list[Path]:
    """Write ``<table>.csv`` for every table and ``results.json``; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in result.tables.items():
        path = out / f"{name}.csv"
        table.to_csv(path, index=False, float_format="%.10g")
        written.append(path)
    path = out / "results.json"
    # pandas serialises the tables (NaN and ±inf → null) far faster than a per-value Python loop
    head = json.dumps({"config": result.config.as_dict(), "notes": list(result.notes), "meta": result.meta},
                      indent=1, allow_nan=False)
    tables = ",\n".join(f"  {json.dumps(name)}: {table.to_json(orient='records', double_precision=15)}"
                         for name, table in result.tables.items())
    path.write_text(head[:-2] + ',\n "tables": {\n' + tables + "\n }\n}\n", encoding="utf-8")
    written.append(path)
    return written
