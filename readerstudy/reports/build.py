"""Assemble the statistics report of a study from its tidy answers (pure: no Django).

:func:`build_report` runs the analysis engine (:func:`readerstudy.analysis.runner.run_analysis`)
and turns its tables into the tables the seed papers print, adds figures, a Methods paragraph
with citations, and a stamp that makes the result traceable (software version, study seed,
answer count, SHA-256 of the tidy answers CSV, generation time). Rendering to HTML, PDF, XLSX and
a zip lives in :mod:`.render`.

Every display table is a DataFrame of strings (numbers already rounded the same way for every
format); wide tables shaped like the seeds' have two-level column labels ``(group, column)``.
The analysis tables themselves (full precision) travel with the report as ``result.tables``.
A section whose data the study does not have carries a ``note`` saying why it is absent.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from readerstudy import __version__
from readerstudy.analysis import noninferiority as ni_mod
from readerstudy.analysis import quantitative
from readerstudy.analysis.common import ALL, unit_means
from readerstudy.analysis.config import AnalysisConfig, parse_config
from readerstudy.analysis.runner import AnalysisResult, run_analysis
from readerstudy.analysis.tidy import validate_answers

DASH = "—"

#: Columns of an image-integrity table (recon ``fastdl_integrity``): required, then optional.
INTEGRITY_REQUIRED = ("reference", "test", "ssim", "l1")
INTEGRITY_OPTIONAL = ("case", "sequence", "l1_rel", "psnr", "nmse", "data_range")

#: Section keys in report order.
SECTIONS = ("descriptives", "noninferiority", "conger", "per_reader", "agreement", "quantitative", "detection",
            "accuracy", "preference", "integrity", "mrmc")

REFERENCES = {
    "wilcoxon": "Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin. 1945;1:80–83.",
    "hl": "Hodges JL, Lehmann EL. Estimates of location based on rank tests. Ann Math Stat. 1963;34:598–611.",
    "ahn": "Ahn S, Park SH, Lee KH. How to demonstrate similarity by using noninferiority and equivalence "
           "statistical testing in radiology research. Radiology. 2013;267(2):328–338.",
    "bh": "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful approach to "
          "multiple testing. J R Stat Soc B. 1995;57:289–300.",
    "shapiro": "Shapiro SS, Wilk MB. An analysis of variance test for normality. Biometrika. 1965;52:591–611.",
    "cohen": "Cohen J. Weighted kappa: nominal scale agreement with provision for scaled disagreement or partial "
             "credit. Psychol Bull. 1968;70:213–220.",
    "conger": "Conger AJ. Integration and generalization of kappas for multiple raters. Psychol Bull. "
              "1980;88:322–328.",
    "fleiss": "Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull. 1971;76:378–382.",
    "icc": "McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol Methods. "
           "1996;1:30–46.",
    "mcnemar": "McNemar Q. Note on the sampling error of the difference between correlated proportions or "
               "percentages. Psychometrika. 1947;12:153–157.",
    "clopper": "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the "
               "binomial. Biometrika. 1934;26:404–413.",
    "gee": "Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika. "
           "1986;73:13–22.",
    "bland": "Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical "
             "measurement. Lancet. 1986;327:307–310.",
    "or": "Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and multiple "
          "tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput. 1995;24:285–308.",
    "hillis": "Hillis SL. A comparison of denominator degrees of freedom methods for multiple observer ROC "
              "analysis. Stat Med. 2007;26:596–619.",
    "ssim": "Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error visibility to "
            "structural similarity. IEEE Trans Image Process. 2004;13(4):600–612.",
    "spearman": "Spearman C. The proof and measurement of association between two things. Am J Psychol. "
                "1904;15:72–101.",
}


@dataclass
class Table:
    """One display table: ``frame`` holds strings; ``columns`` may be 2-level ``(group, column)``."""

    key: str
    title: str
    frame: pd.DataFrame
    footnotes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class Figure:
    """One figure as PNG and SVG bytes."""

    key: str
    title: str
    caption: str
    png: bytes
    svg: bytes


@dataclass
class Section:
    """A part of the report shaped like one of the seed papers' tables (``seed`` names which)."""

    key: str
    title: str
    seed: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    note: str = ""

    @property
    def present(self) -> bool:
        return bool(self.tables)


@dataclass
class Report:
    """Everything the renderers need; nothing here depends on Django."""

    title: str
    stamp: dict[str, Any]
    sections: list[Section]
    methods: str
    references: list[str]
    result: AnalysisResult
    answers_csv: bytes
    integrity: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def data_tables(self) -> dict[str, pd.DataFrame]:
        """The analysis tables at full precision (plus ``integrity`` when given): the CSVs."""
        tables = dict(self.result.tables)
        if self.integrity is not None:
            tables["integrity"] = self.integrity
        return tables


# --- hashing --------------------------------------------------------------------------------------

def answers_csv_bytes(answers: pd.DataFrame) -> bytes:
    """The tidy answers as CSV bytes, serialised as ``reading.export.answers_csv`` does; hashed by the stamp."""
    return answers.to_csv(index=False, float_format="%.10g").encode("utf-8")


def answers_sha256(answers: pd.DataFrame) -> str:
    return hashlib.sha256(answers_csv_bytes(answers)).hexdigest()


# --- formatting -----------------------------------------------------------------------------------

def _isnan(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt(v: Any, digits: int = 3) -> str:
    """A number as the report prints it everywhere (ASCII minus, fixed decimals, ``—`` when missing)."""
    if _isnan(v):
        return DASH
    if isinstance(v, str):
        return v
    f = float(v)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    out = f"{f:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out


def fmt_p(p: Any) -> str:
    """A p value: three decimals, ``<0.001`` below."""
    if _isnan(p):
        return DASH
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def mean_sd(mean: Any, sd: Any, digits: int = 2) -> str:
    if _isnan(mean):
        return DASH
    return f"{fmt(mean, digits)} ± {fmt(sd, digits)}" if not _isnan(sd) else fmt(mean, digits)


def with_ci(est: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    if _isnan(est):
        return DASH
    if _isnan(lo) or _isnan(hi):
        return fmt(est, digits)
    return f"{fmt(est, digits)} ({fmt(lo, digits)}, {fmt(hi, digits)})"


def _count_pct(x: Any, total: Any) -> str:
    x = int(x)
    return f"{x} ({100.0 * x / total:.1f})" if total else f"{x}"


class _Labels:
    def __init__(self, cfg: AnalysisConfig):
        self.cfg = cfg

    def __call__(self, item: str) -> str:
        it = self.cfg.items.get(item)
        if it is not None and it.label:
            return it.label
        d = self.cfg.derived.get(item)
        if d is not None and d.label:
            return d.label
        return item


#: The study's own order of sequences and arms (``meta["sequences"]``, ``meta["arms"]``) while a report is built.
_PREFERRED: contextvars.ContextVar[dict[str, int]] = contextvars.ContextVar("report_order", default={})


def _rank(value) -> tuple[int, int]:
    preferred = _PREFERRED.get()
    return (0, preferred[value]) if value in preferred else (1, 0)


def _order(values, first: str | None = None) -> list:
    """Distinct values in the study's order (then as they come), ``first`` (the reference) first."""
    vals = sorted(dict.fromkeys(values), key=_rank)
    return ([first] if first in vals else []) + [v for v in vals if v != first]


def _sort_rows(table: Table) -> None:
    """Rows in the study's sequence order (a stable sort: the order within a sequence stays)."""
    frame = table.frame
    col = next((c for c in frame.columns if c in ("Sequence", ("", "Sequence"))), None)
    if col is None or frame.empty:
        return
    ranks = [_rank(v) for v in frame[col]]
    order = sorted(range(len(frame)), key=lambda i: ranks[i])
    table.frame = frame.iloc[order].reset_index(drop=True)


# --- sections -------------------------------------------------------------------------------------

def _descriptives(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels, single: pd.DataFrame) -> Section:
    sec = Section("descriptives", "Scores per sequence and arm", "seed 000 Table 3")
    items = [it.name for it in cfg.items_of("likert", "binary")]
    d = res["descriptives"]
    d = d[d["item"].isin(items)]
    if d.empty:
        sec.note = "No Likert or binary items were answered: no descriptive table."
        return sec
    arms = _order(d["arm"], cfg.reference)
    rows = []
    for seq in _order(d["sequence"]):
        for arm in arms:
            sub = d[(d["sequence"] == seq) & (d["arm"] == arm)].set_index("item")
            if sub.empty:
                continue
            row = {"Sequence": seq, "Arm": arm}
            for item in items:
                row[label(item)] = mean_sd(sub.at[item, "mean"], sub.at[item, "sd"]) if item in sub.index else DASH
            rows.append(row)
    unit = "readers' mean score per case" if cfg.unit == "case-mean" else "scores"
    n_cases = int(d["n"].max())
    sec.tables.append(Table("descriptives", "Mean ± SD of the scores", pd.DataFrame(rows),
                            [f"Mean ± SD over {n_cases} cases of the {unit}, per sequence and arm."],
                            ["descriptives", "descriptives_by_reader"]))
    likert = [it.name for it in cfg.items_of("likert")]
    if likert:
        sec.figures.append(_boxplots(single, likert, cfg, label))
    return sec


def _noninferiority(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("noninferiority", "Noninferiority of each arm against the reference", "seed 000 Table 4")
    t = res["noninferiority"]
    if t.empty:
        sec.note = ("No item has a noninferiority margin, or no arm other than the reference was read: "
                    "no noninferiority table.")
        return sec
    items = [name for name in cfg.items if name in set(t["item"])]
    per_reader = cfg.unit == "reader"
    cols = [("", "Sequence"), ("", "Comparison")] + ([("", "Reader")] if per_reader else [])
    for item in items:
        cols += [(label(item), "Pseudomedian"), (label(item), "p"), (label(item), "p adj.")]
    rows = []
    keys = ["sequence", "arm"] + (["reader"] if per_reader else [])
    t = t.assign(_arm_order=t["arm"].map({a: i for i, a in enumerate(_order(t["arm"]))}))
    for key, grp in t.sort_values(["sequence", "_arm_order"] + (["reader"] if per_reader else [])).groupby(
            keys, sort=False):
        g = grp.set_index("item")
        row = [key[0], f"{key[1]} vs {cfg.reference}"] + ([key[2]] if per_reader else [])
        for item in items:
            if item not in g.index:
                row += [DASH, DASH, DASH]
                continue
            r = g.loc[item]
            mark = "*" if bool(r["noninferior"]) else ""
            row += [fmt(r["pseudomedian"]), fmt_p(r["p_value"]), fmt_p(r["p_adjusted"]) + mark]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(cols))
    conf = int(round(100 * cfg.confidence))
    margins = "; ".join(f"{label(it.name)}: {it.margin:g} ({_direction_words(it.direction)})"
                        for it in cfg.items.values() if it.noninferiority and it.name in items)
    adj = {"bh": "Benjamini–Hochberg false discovery rate", "bonferroni": "Bonferroni",
           "none": "no"}[cfg.fdr]
    notes = [
        "Pseudomedian: Hodges–Lehmann estimate of arm − reference "
        f"({'readers’ mean per case' if cfg.unit == 'case-mean' else 'per reader and case'}).",
        f"p: one-sided Wilcoxon signed-rank test against the margin; margins {margins}.",
        f"p adj.: {adj} adjustment over all {len(t)} rows. * noninferior (p adj. < {cfg.alpha:g}).",
        f"The forest plot shows each pseudomedian with its one-sided {conf}% confidence bound.",
    ]
    sec.tables.append(Table("noninferiority", "Noninferiority tests", frame, notes, ["noninferiority"]))
    sec.figures.append(_forest(t, cfg, label))
    return sec


def _direction_words(direction: str | None) -> str:
    return "arm − reference must exceed it" if direction == "greater" else "arm − reference must stay below it"


def _conger(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("conger", "Interobserver agreement: Conger's κ", "seed 000 Table 5")
    k = res["kappa"]
    k = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    items = [it.name for it in cfg.items_of("likert", "binary")]
    k = k[k["item"].isin(items)]
    if k.empty:
        sec.note = "Conger's κ needs at least two readers on Likert or binary items: not available."
        return sec
    items = [i for i in items if i in set(k["item"])]
    rows = []
    for seq in _order(k["sequence"]):
        for arm in _order(k["arm"], cfg.reference):
            sub = k[(k["sequence"] == seq) & (k["arm"] == arm)].set_index("item")
            if sub.empty:
                continue
            rows.append({"Sequence": seq, "Arm": arm,
                         **{label(i): fmt(sub.at[i, "kappa"]) if i in sub.index else DASH for i in items}})
    raters = int(k["raters"].max())
    sec.tables.append(Table("conger", "Conger's κ over readers", pd.DataFrame(rows), [
        f"Conger's κ over {raters} readers, {cfg.conger_weights} weights for Likert items, unweighted for binary "
        "items. κ < 0 no, 0–0.2 slight, 0.2–0.4 fair, 0.4–0.6 moderate, 0.6–0.8 substantial, 0.8–1 almost "
        "perfect agreement."], ["kappa"]))
    sec.figures.append(_kappa_heatmap(k, items, cfg, label))
    return sec


def _per_reader(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("per_reader", "Per-reader comparison with the reference", "seed 001 Table 2")
    items = [it.name for it in cfg.items_of("likert", "binary")]
    p = res["paired"]
    p = p[p["item"].isin(items)]
    if p.empty:
        sec.note = "No Likert or binary item has paired reads of an arm and the reference: no per-reader table."
        return sec
    k = res["kappa"]
    k = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    rows = []
    for (seq, item, arm), grp in p.groupby(["sequence", "item", "arm"], sort=True):
        kap = k[(k["sequence"] == seq) & (k["item"] == item) & (k["arm"] == arm)]
        kap_s = with_ci(*kap.iloc[0][["kappa", "ci_low", "ci_high"]]) if len(kap) else DASH
        for i, (_, r) in enumerate(grp.sort_values("reader").iterrows()):
            rows.append({"Sequence": seq, "Item": label(item), "Comparison": f"{arm} vs {cfg.reference}",
                         "Reader": r["reader"], cfg.reference: mean_sd(r["mean_reference"], r["sd_reference"]),
                         "Arm": mean_sd(r["mean_arm"], r["sd_arm"]), "Test": r["test"] or DASH,
                         "p": fmt_p(r["p_value"]), "p adj.": fmt_p(r["p_adjusted"]),
                         "Inter-reader κ (arm)": kap_s if i == 0 else ""})
    adjust = "Bonferroni over the readers" if cfg.paired_adjust == "bonferroni" else "none"
    sec.tables.append(Table("per_reader", "Per-reader scores and paired tests", pd.DataFrame(rows), [
        "Mean ± SD per reader over cases. Test: two-sided paired t test when Shapiro–Wilk does not reject "
        "normality of the differences, else Wilcoxon signed-rank test.",
        f"p adj.: {adjust}. κ: Conger's κ of the arm over readers with 95% CI."], ["paired", "kappa"]))
    return sec


def _agreement(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("agreement", "Intraprotocol inter-reader and interprotocol intra-reader agreement",
                  "seed 001 Table 4")
    k = res["kappa"]
    cats = [it.name for it in cfg.items_of("finding", "likert", "binary")]
    k = k[k["item"].isin(cats)]
    if k.empty:
        sec.note = "No categorical item was read by two readers or in two arms: no agreement table."
        return sec

    def weight_of(item: str) -> str:
        return cfg.conger_weights if cfg.items[item].kind == "likert" else "none"

    inter = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    intra = k[(k["scope"] == "interprotocol") & (k["method"] == "cohen")]
    arms = _order(inter["arm"], cfg.reference)
    readers = sorted(set(intra["reader"]))
    other_arms = _order(intra["arm"])
    rows = []
    for (seq, item), _ in k.groupby(["sequence", "item"], sort=True):
        row = {("", "Sequence"): seq, ("", "Item"): label(item)}
        for arm in arms:
            sub = inter[(inter["sequence"] == seq) & (inter["item"] == item) & (inter["arm"] == arm)]
            row[("Inter-reader (Conger κ)", arm)] = with_ci(*sub.iloc[0][["kappa", "ci_low", "ci_high"]]) \
                if len(sub) else DASH
        for arm in other_arms:
            for reader in readers:
                sub = intra[(intra["sequence"] == seq) & (intra["item"] == item) & (intra["arm"] == arm)
                            & (intra["reader"] == reader) & (intra["weights"] == weight_of(item))]
                row[(f"Interprotocol {arm} vs {cfg.reference} (Cohen κ)", reader)] = \
                    with_ci(*sub.iloc[0][["kappa", "ci_low", "ci_high"]]) if len(sub) else DASH
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    sec.tables.append(Table("agreement", "Agreement (κ with 95% CI)", frame, [
        f"Unit: case × level. Weights: {cfg.conger_weights} for Likert items, none for binary items and findings. "
        "Cohen's κ for each reader's answers in the arm against the same reader's in the reference."], ["kappa"]))
    return sec


def _quantitative(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels, paired_units: pd.DataFrame) -> Section:
    sec = Section("quantitative", "ROI measurements: SNR/CNR with ICC", "seed 001 Table 3; seed 002 Table 1")
    numeric = [it.name for it in cfg.items_of("numeric")] + list(cfg.derived)
    dr = res["descriptives_by_reader"]
    dr = dr[dr["item"].isin(numeric)]
    if dr.empty:
        sec.note = "No ROI or numeric measurement was answered: no SNR/CNR table."
        return sec
    p = res["paired"]
    icc = res["icc"]
    arms = _order(dr["arm"], cfg.reference)
    others = [a for a in arms if a != cfg.reference]
    order = {name: i for i, name in enumerate(list(cfg.derived) + [it.name for it in cfg.items_of("numeric")])}
    rows = []
    for seq in _order(dr["sequence"]):
        for item in sorted(set(dr[dr["sequence"] == seq]["item"]), key=order.get):
            sub = dr[(dr["sequence"] == seq) & (dr["item"] == item)]
            for i, reader in enumerate(sorted(set(sub["reader"]))):
                row = {"Sequence": seq, "Measure": label(item), "Reader": reader}
                for arm in arms:
                    r = sub[(sub["reader"] == reader) & (sub["arm"] == arm)]
                    row[arm] = mean_sd(r.iloc[0]["mean"], r.iloc[0]["sd"]) if len(r) else DASH
                for arm in others:
                    r = p[(p["sequence"] == seq) & (p["item"] == item) & (p["arm"] == arm) & (p["reader"] == reader)]
                    row[f"p {arm} vs {cfg.reference}"] = fmt_p(r.iloc[0]["p_adjusted"]) if len(r) else DASH
                for arm in arms:
                    r = icc[(icc["sequence"] == seq) & (icc["item"] == item) & (icc["arm"] == arm)]
                    row[f"ICC {arm}"] = (with_ci(*r.iloc[0][["icc", "ci_low", "ci_high"]]) if len(r) else DASH) \
                        if i == 0 else ""
                rows.append(row)
    adjusted = "Bonferroni-adjusted" if cfg.paired_adjust == "bonferroni" else "unadjusted"
    sec.tables.append(Table("quantitative", "Measurements per reader, paired tests and ICC", pd.DataFrame(rows), [
        "Mean ± SD per reader over cases. SNR = signal / background SD; CNR = |signal − reference signal| / "
        "background SD, per reader and case.",
        f"p: two-sided paired test of each reader ({adjusted}). "
        "ICC(A,1): two-way random, absolute agreement, single rater, with 95% CI, over readers."],
        ["descriptives_by_reader", "paired", "icc"]))
    ba = res["bland_altman"]
    ba = ba[ba["reader"] == ALL] if "reader" in ba else ba
    if not ba.empty:
        brow = [{"Sequence": r["sequence"], "Measure": label(r["item"]), "Comparison": f"{r['arm']} vs {cfg.reference}",
                 "n": str(int(r["n"])), "Bias": fmt(r["bias"]), "95% limits of agreement":
                 f"{fmt(r['loa_low'])} to {fmt(r['loa_high'])}", "Pearson r": fmt(r["pearson_r"]),
                 "p (r)": fmt_p(r["pearson_p"])} for _, r in ba.iterrows()]
        sec.tables.append(Table("bland_altman", "Agreement of measurements between arms (Bland–Altman)",
                                pd.DataFrame(brow), ["Bias = mean of arm − reference over cases (readers' mean)."],
                                ["bland_altman"]))
        sec.figures.append(_bland_altman(paired_units[paired_units["item"].isin(numeric)], cfg, label))
    return sec


def _detection(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("detection", "Detection of findings: reference against each arm (McNemar)", "seed 001 Table 5")
    m = res["mcnemar"]
    m = m[m["level"] == ALL] if not m.empty else m
    if m.empty:
        sec.note = "No per-level finding (checklist) item was answered in two arms: no detection table."
        return sec
    rows = []
    for _, r in m.iterrows():
        total = int(r["both"] + r["reference_only"] + r["arm_only"])
        rows.append({"Finding": label(r["finding"]), "Sequence": r["sequence"], "Reader": r["reader"],
                     "Comparison": f"{r['arm']} vs {r['reference']}", "Reported": str(total),
                     "Both": _count_pct(r["both"], total),
                     f"{r['reference']} only": _count_pct(r["reference_only"], total),
                     "Arm only": _count_pct(r["arm_only"], total), "p (exact)": fmt_p(r["p_exact"])})
    frame = pd.DataFrame(rows).fillna(DASH)
    sec.tables.append(Table("detection", "Findings reported", frame, [
        "Counts of case × level units reported as abnormal, pooled over levels (percent of those reported in either "
        "arm). p: exact McNemar test; per-level rows are in mcnemar.csv."], ["mcnemar"]))
    return sec


def _accuracy(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels, has_reference: bool) -> Section:
    sec = Section("accuracy", "Sensitivity and specificity against the reference standard (GEE)", "seed 002")
    g = res["accuracy_gee"]
    a = res["accuracy"]
    if a.empty:
        sec.note = ("No reference standard was given: sensitivity and specificity are not reported."
                    if not has_reference else "No finding item was answered: no accuracy table.")
        return sec
    if not g.empty:
        gg = g[g["reader"] == ALL]
        rows = [{"Finding": label(r["finding"]), "Sequence": r["sequence"], "Measure": r["measure"],
                 cfg.reference: fmt(r["estimate_reference"]), "Arm": f"{r['arm']}: {fmt(r['estimate_arm'])}",
                 "Difference (95% CI)": with_ci(r["difference"], r["ci_low"], r["ci_high"], 3),
                 "p (GEE)": fmt_p(r["p_value"])} for _, r in gg.iterrows()]
        sec.tables.append(Table("accuracy_gee", "Arms compared with the reference across readers", pd.DataFrame(rows), [
            "Generalized estimating equations (binomial, logit link, exchangeable correlation, clustered by case, "
            "robust SE) over all readers; estimates are model-based."], ["accuracy_gee"]))
    rows = []
    for (finding, seq, reader, arm), grp in a.groupby(["finding", "sequence", "reader", "arm"], sort=True):
        row = {"Finding": label(finding), "Sequence": seq, "Reader": reader, "Arm": arm}
        for _, r in grp.iterrows():
            row[r["measure"].capitalize()] = (f"{int(r['correct'])}/{int(r['n'])} "
                                              f"{with_ci(r['estimate'], r['ci_low'], r['ci_high'], 3)}")
        rows.append(row)
    sec.tables.append(Table("accuracy", "Sensitivity and specificity per reader", pd.DataFrame(rows).fillna(DASH),
                            ["Correct/total with exact (Clopper–Pearson) 95% CI, pooled over levels."], ["accuracy"]))
    return sec


def _preference(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("preference", "Side-by-side preference and inter-reader correlation", "seed 003 Tables 2 and 3")
    p = res["preference"]
    s = res["spearman"]
    if not p.empty:
        pp = p[p["reader"] == ALL]
        rows = [{"Sequence": r["sequence"], "Item": label(r["item"]), "Pair (A vs B)": f"{r['arm_a']} vs {r['arm_b']}",
                 "n": str(int(r["n"])), "Mean ± SD": mean_sd(r["mean"], r["sd"]), "Median": fmt(r["median"], 1),
                 "p": fmt_p(r["p_value"]), "Favours": r["favours"]} for _, r in pp.iterrows()]
        sec.tables.append(Table("preference", "Preference scores", pd.DataFrame(rows), [
            "Scores from arm A's point of view after undoing the left/right randomization (low: A better, scale "
            "midpoint: no difference). p: two-sided Wilcoxon signed-rank test against the midpoint."], ["preference"]))
    if not s.empty:
        s = s.assign(pair=s["reader_a"] + " vs " + s["reader_b"])
        pairs = sorted(set(s["pair"]))
        rows, pooled = [], []
        for (seq, item, arm), grp in s.groupby(["sequence", "item", "arm"], sort=True):
            g = grp.set_index("pair")
            whole = seq == ALL and item == ALL and arm == ALL
            (pooled if whole else rows).append({
                "Sequence": seq, "Item": "all (pooled)" if whole else label(item), "Arm": arm,
                **{pr: fmt(g.at[pr, "rho"]) if pr in g.index else DASH for pr in pairs}})
        sec.tables.append(Table("spearman", "Inter-reader Spearman ρ", pd.DataFrame(rows + pooled), [
            "Spearman rank correlation between readers' scores over cases"
            + ("; last row: pooled over all sequences, items and arms (seed 003 Table 3)." if pooled else ".")],
            ["spearman"]))
    if not sec.tables:
        sec.note = "No preference item and no two readers on an ordinal item: no preference table."
    return sec


def _integrity(integrity: pd.DataFrame | None) -> Section:
    sec = Section("integrity", "Image integrity against the reference reconstruction (SSIM, L1)", "seed 003 Table 4")
    if integrity is None or integrity.empty:
        sec.note = "No image-integrity figures (SSIM, L1) were supplied for this study."
        return sec
    by = [c for c in ("sequence",) if c in integrity] + ["reference", "test"]
    rows = []
    for key, grp in integrity.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip([c.capitalize() for c in by[:-2]], key[:-2]))
        row["Comparison"] = f"{key[-2]} vs {key[-1]}"
        row["n"] = str(len(grp))
        for col, name, d in (("ssim", "SSIM", 3), ("l1", "L1", 2), ("psnr", "PSNR (dB)", 2)):
            if col in grp:
                row[name] = mean_sd(grp[col].mean(), grp[col].std(ddof=1), d)
        rows.append(row)
    sec.tables.append(Table("integrity", "Structural similarity and per-pixel L1 difference", pd.DataFrame(rows),
                            ["Mean ± SD over volumes; SSIM and PSNR at the reference volume's data range."],
                            ["integrity"]))
    return sec


def _mrmc(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels) -> Section:
    sec = Section("mrmc", "Multi-reader multi-case analysis (Obuchowski–Rockette, Hillis df)", "MRMC")
    m = res["mrmc"]
    if m.empty:
        sec.note = "No [[mrmc]] analysis is configured for this study."
        return sec
    rows = []
    for _, r in m.iterrows():
        glob = r["arm"] == ALL
        rows.append({
            "Analysis": r["analysis"], "Sequence": r["sequence"], "Level": r["level"],
            "Comparison": f"all arms (F test)" if glob else f"{r['arm']} vs {r['reference']}",
            "Readers × cases": f"{int(r['readers'])} × {int(r['cases'])}",
            f"FOM {cfg.reference}": fmt(r["fom_reference"]), "FOM arm": DASH if glob else fmt(r["fom_arm"]),
            "Difference (95% CI)": DASH if glob else with_ci(r["difference"], r["ci_low"], r["ci_high"], 3),
            "df": fmt(r["df"], 1), "p": fmt_p(r["p_value"]),
            "Margin": DASH if glob else f"{r['margin']:g}",
            "p (noninf.)": DASH if glob else fmt_p(r["p_noninferiority"]) + ("*" if bool(r["noninferior"]) else ""),
        })
    sec.tables.append(Table("mrmc", "Figures of merit with random readers and random cases", pd.DataFrame(rows), [
        "FOM: figure of merit (AUC from confidence ratings, mean score, sensitivity or specificity). p: two-sided "
        "test of equal FOM; p (noninf.): one-sided test of the difference against the margin, * noninferior."],
        ["mrmc", "mrmc_readers"]))
    return sec


# --- figures --------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "svg.fonttype": "none", "svg.hashsalt": "readerstudy",
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig, key: str, title: str, caption: str) -> Figure:
    plt = _plt()
    png, svg = io.BytesIO(), io.BytesIO()
    # Constrained layout, no bbox_inches="tight": each save draws the figure once.
    fig.savefig(png, format="png", dpi=120)
    fig.set_layout_engine("none")  # keep the layout the PNG got; the SVG need not compute it again
    fig.savefig(svg, format="svg", metadata={"Date": None})
    plt.close(fig)
    return Figure(key, title, caption, png.getvalue(), svg.getvalue())


def _boxplots(single: pd.DataFrame, items: list[str], cfg: AnalysisConfig, label: _Labels) -> Figure:
    plt = _plt()
    data = unit_means(single[single["item"].isin(items)], ["sequence", "item", "arm", "case"])
    seqs = _order(data["sequence"])
    arms = _order(data["arm"], cfg.reference)
    fig, axes = plt.subplots(len(seqs), len(items), figsize=(2.3 * len(items) + 0.6, 2.1 * len(seqs) + 0.4),
                             squeeze=False, sharey=True, layout="constrained")
    for i, seq in enumerate(seqs):
        for j, item in enumerate(items):
            ax = axes[i][j]
            sub = data[(data["sequence"] == seq) & (data["item"] == item)]
            groups = [sub[sub["arm"] == a]["value"].to_numpy() for a in arms]
            ax.boxplot(groups, tick_labels=arms, whis=1.5, flierprops={"marker": "+", "markeredgecolor": "red"},
                       medianprops={"color": "black"})
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            scale = cfg.items[item].scale
            if scale:
                ax.set_ylim(scale[0] - 0.3, scale[1] + 0.3)
            ax.set_title(f"{seq}: {label(item)}", fontsize=8)
    return _save(fig, "boxplots", "Scores per sequence, item and arm",
                 "Readers' mean score per case; box: quartiles and median, whiskers 1.5 IQR, red crosses outliers.")


def _forest(t: pd.DataFrame, cfg: AnalysisConfig, label: _Labels) -> Figure:
    plt = _plt()
    items = [name for name in cfg.items if name in set(t["item"])]
    t = t[t["reader"] == ALL] if (t["reader"] == ALL).any() else t
    n_rows = max(len(t[t["item"] == i]) for i in items)
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items) + 1.2, 0.28 * n_rows + 1.2), squeeze=False,
                             layout="constrained")
    for j, item in enumerate(items):
        ax = axes[0][j]
        sub = t[t["item"] == item]
        sub = sub.iloc[sorted(range(len(sub)), key=lambda i: (_rank(sub["sequence"].iloc[i]),
                                                               _rank(sub["arm"].iloc[i])))].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        margin = float(sub["margin"].iloc[0])
        direction = sub["direction"].iloc[0]
        est = sub["pseudomedian"].astype(float).to_numpy()
        bound = sub["conf_bound"].astype(float).to_numpy()
        ok = sub["noninferior"].astype(bool).to_numpy()
        span = np.nanmax(np.abs(np.concatenate([est, bound, [margin]]))) * 1.3 + 0.1
        for yi, e, b, good in zip(y, est, bound, ok):
            colour = "tab:green" if good else "tab:gray"
            far = span if direction == "greater" else -span
            if np.isfinite(b):
                ax.plot([b, far], [yi, yi], color=colour, lw=1.2)
                ax.plot([b], [yi], marker="|", color=colour, ms=8)
            ax.plot([e], [yi], marker="o", color=colour, ms=4)
        ax.axvline(0, color="black", lw=0.6)
        ax.axvline(margin, color="red", ls="--", lw=0.9)
        ax.set_xlim(-span, span)
        ax.set_yticks(y)
        names = [f"{s} {a}" + (f" {r}" if r != ALL else "")
                 for s, a, r in zip(sub["sequence"], sub["arm"], sub["reader"])]
        ax.set_yticklabels(names if j == 0 else [], fontsize=7)
        ax.set_title(f"{label(item)} (margin {margin:g})", fontsize=8)
        ax.set_xlabel(f"arm − {cfg.reference}")
    conf = int(round(100 * cfg.confidence))
    return _save(fig, "forest", "Difference of each arm from the reference",
                 f"Hodges–Lehmann pseudomedian (dot) and one-sided {conf}% confidence bound (bar, open towards the "
                 "noninferior side); red dashed line: the noninferiority margin; green: noninferior after adjustment.")


def _kappa_heatmap(k: pd.DataFrame, items: list[str], cfg: AnalysisConfig, label: _Labels) -> Figure:
    plt = _plt()
    seqs = _order(k["sequence"])
    arms = _order(k["arm"], cfg.reference)
    fig, axes = plt.subplots(1, len(seqs), figsize=(1.0 * len(arms) * len(seqs) + 2.5, 0.45 * len(items) + 1.4),
                             squeeze=False, layout="constrained")
    im = None
    for j, seq in enumerate(seqs):
        ax = axes[0][j]
        mat = np.full((len(items), len(arms)), np.nan)
        sub = k[k["sequence"] == seq]
        for _, r in sub.iterrows():
            if r["item"] in items and r["arm"] in arms:
                mat[items.index(r["item"]), arms.index(r["arm"])] = r["kappa"]
        im = ax.imshow(mat, vmin=-0.2, vmax=1.0, cmap="viridis", aspect="auto")
        for (a, b), v in np.ndenumerate(mat):
            if np.isfinite(v):
                ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(items)))
        ax.set_yticklabels([label(i) for i in items] if j == 0 else [], fontsize=7)
        ax.set_title(seq, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="Conger's κ")
    return _save(fig, "kappa_heatmap", "Conger's κ per sequence, item and arm",
                 "Interobserver agreement over all readers; darker is lower agreement.")


def _bland_altman(units: pd.DataFrame, cfg: AnalysisConfig, label: _Labels) -> Figure:
    plt = _plt()
    panels = list(units.groupby(["sequence", "item"], sort=True))
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.5 * nrow), squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for idx, ((seq, item), grp) in enumerate(panels):
        ax = axes[idx // ncol][idx % ncol]
        for c, (arm, g) in enumerate(grp.groupby("arm", sort=True)):
            mean = (g["x"] + g["y"]) / 2
            diff = g["x"] - g["y"]
            bias, sd = diff.mean(), diff.std(ddof=1)
            col = colours[c % len(colours)]
            ax.scatter(mean, diff, s=10, color=col, label=f"{arm}")
            ax.axhline(bias, color=col, lw=1)
            if np.isfinite(sd):
                for lim in (bias - 1.96 * sd, bias + 1.96 * sd):
                    ax.axhline(lim, color=col, lw=0.7, ls="--")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{seq}: {label(item)}", fontsize=8)
        ax.set_xlabel("mean of arm and reference")
        ax.set_ylabel(f"arm − {cfg.reference}")
        ax.legend(fontsize=6, frameon=False, loc="upper right")  # "best" searches the data: slow
    for idx in range(len(panels), nrow * ncol):
        axes[idx // ncol][idx % ncol].axis("off")
    return _save(fig, "bland_altman", "Bland–Altman plots of the measurements",
                 "Per case (readers' mean): difference against mean; solid line: bias, dashed: 95% limits of "
                 "agreement.")


# --- methods --------------------------------------------------------------------------------------

def _methods(res: AnalysisResult, cfg: AnalysisConfig, label: _Labels, sections: list[Section],
             integrity: pd.DataFrame | None, stamp: dict[str, Any]) -> tuple[str, list[str]]:
    refs: list[str] = []

    def cite(*keys: str) -> str:
        nums = []
        for key in keys:
            text = REFERENCES[key]
            if text not in refs:
                refs.append(text)
            nums.append(refs.index(text) + 1)
        return "[" + ", ".join(map(str, nums)) + "]"

    present = {s.key for s in sections if s.present}
    meta = res.meta
    readers, cases = len(meta["readers"]), meta["cases"]
    arms = [a for a in _order(meta["arms"], cfg.reference)]
    arms_text = (f" and {len(arms)} arms ({', '.join(arms)}); {cfg.reference} was the reference arm" if arms
                 else "")
    parts = [
        f"{readers} readers scored {cases} cases in {len(meta['sequences'])} sequence(s) "
        f"({', '.join(meta['sequences'])}){arms_text} ({meta['answers']} answers)."
    ]
    unit = ("the readers' mean score per case" if cfg.unit == "case-mean" else "each reader's score per case")
    if "noninferiority" in present:
        ni = [it for it in cfg.items.values() if it.noninferiority]
        by_margin: dict[tuple[float, str], list[str]] = {}
        for it in ni:
            by_margin.setdefault((it.margin, it.direction), []).append(label(it.name))
        margins = "; ".join(f"a margin of {m:g} for {', '.join(names)} (noninferior when arm − reference "
                            f"{'>' if d == 'greater' else '<'} {m:g})" for (m, d), names in by_margin.items())
        head = (f"Noninferiority of each arm against {cfg.reference} was tested per sequence and item on {unit} "
                f"with one-sided Wilcoxon signed-rank tests {cite('wilcoxon', 'ahn')} with {margins}; the difference "
                f"is summarised by the Hodges–Lehmann pseudomedian {cite('hl')} with its one-sided ")
        adj = {"bh": f"Benjamini–Hochberg false discovery rate {cite('bh')}", "bonferroni": "Bonferroni",
               "none": "no"}[cfg.fdr]
        parts.append(
            head +
            f"{int(round(100 * cfg.confidence))}% confidence bound, and p values received {adj} adjustment over all "
            f"comparisons, at α = {cfg.alpha:g}.")
    if "per_reader" in present or "quantitative" in present:
        correction = "Bonferroni correction over readers" if cfg.paired_adjust == "bonferroni" else "no correction"
        parts.append(
            "Per reader, each arm was compared with the reference by the two-sided paired t test when the "
            f"Shapiro–Wilk test {cite('shapiro')} did not reject normality of the differences, otherwise by the "
            f"Wilcoxon signed-rank test, with {correction}.")
    if "conger" in present or "agreement" in present:
        text = (f"Inter-reader agreement was measured by Conger's κ {cite('conger')} ({cfg.conger_weights} weights "
                f"for Likert items), with Cohen's κ {cite('cohen')} for reader pairs and for each reader's "
                "arm-versus-reference (interprotocol) agreement")
        if not res["kappa"].empty and (res["kappa"]["method"] == "fleiss").any():
            text += f", and Fleiss' κ {cite('fleiss')} over all readers"
        parts.append(text + "; κ was interpreted as slight (0–0.2), fair (0.2–0.4), moderate (0.4–0.6), "
                     "substantial (0.6–0.8) or almost perfect (>0.8).")
    if "quantitative" in present:
        parts.append(
            "SNR was computed as the ROI signal divided by the background SD and CNR as the absolute signal "
            "difference divided by the background SD, per reader and case; inter-reader reliability of "
            f"measurements by ICC(A,1) (two-way random, absolute agreement) {cite('icc')}, and agreement between "
            f"arms by Bland–Altman analysis {cite('bland')}.")
    if "detection" in present:
        parts.append(f"Detection of findings per case and level in each arm and in the reference was compared by "
                     f"the exact McNemar test {cite('mcnemar')}.")
    if "accuracy" in present:
        parts.append(
            "Sensitivity and specificity against the reference standard are given per reader with exact "
            f"Clopper–Pearson intervals {cite('clopper')}, and arms were compared across readers by generalized "
            f"estimating equations {cite('gee')} (binomial family, logit link, exchangeable working correlation, "
            "clustered by case, robust standard errors).")
    if "preference" in present:
        parts.append(
            "Side-by-side preference scores were tested against the scale midpoint (no difference) by two-sided "
            f"Wilcoxon signed-rank tests {cite('wilcoxon')}, and inter-reader correlation by Spearman's ρ "
            f"{cite('spearman')}.")
    if "integrity" in present and integrity is not None:
        parts.append(f"Image integrity was measured against the reference reconstruction by SSIM {cite('ssim')} "
                     "and the per-pixel L1 difference (scikit-image).")
    if "mrmc" in present:
        specs = "; ".join(f"{m.name} ({m.fom}, margin {m.margin:g})" for m in cfg.mrmc)
        parts.append(
            "Multi-reader multi-case analyses treating readers and cases as random used the Obuchowski–Rockette "
            f"method {cite('or')} with Hillis denominator degrees of freedom {cite('hillis')}: {specs}.")
    v = meta.get("versions", {})
    parts.append(
        f"Analyses used readerstudy {stamp['version']} with Python {meta.get('python', '?')}, NumPy "
        f"{v.get('numpy', '?')}, pandas {v.get('pandas', '?')}, SciPy {v.get('scipy', '?')} and statsmodels "
        f"{v.get('statsmodels', '?')} (figures: matplotlib {_matplotlib_version()}); two-sided p < {cfg.alpha:g} "
        "was considered significant unless stated.")
    return " ".join(parts), refs


def _matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__


# --- entry point ----------------------------------------------------------------------------------

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


def _sections(result, cfg, label, single, units, has_reference, integrity) -> list[Section]:
    sections = [
        _descriptives(result, cfg, label, single),
        _noninferiority(result, cfg, label),
        _conger(result, cfg, label),
        _per_reader(result, cfg, label),
        _agreement(result, cfg, label),
        _quantitative(result, cfg, label, units),
        _detection(result, cfg, label),
        _accuracy(result, cfg, label, has_reference),
        _preference(result, cfg, label),
        _integrity(integrity),
        _mrmc(result, cfg, label),
    ]
    for section in sections:
        for table in section.tables:
            _sort_rows(table)
    return sections


def build_report(answers: pd.DataFrame, config: dict | AnalysisConfig, reference_standard: pd.DataFrame | None = None,
                 integrity: pd.DataFrame | None = None, meta: dict[str, Any] | None = None,
                 progress=None) -> Report:
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
        the study's order; tables and figures follow it).
    progress : callable, optional
        Called with a percentage (0–100) and a short message as the build advances.

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
    result = run_analysis(answers, cfg, reference_standard)
    tick(50, "tables and figures")
    label = _Labels(cfg)
    clean = validate_answers(answers, cfg)
    clean, _ = quantitative.derive(clean, cfg.derived)
    prefs = [it.name for it in cfg.items_of("preference")]
    single = clean[~clean["item"].isin(prefs)]
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
    names = [str(v) for v in list(meta.get("sequences") or []) + list(meta.get("arms") or [])]
    token = _PREFERRED.set({name: i for i, name in enumerate(dict.fromkeys(names))})
    try:
        sections = _sections(result, cfg, label, single, units, reference_standard is not None, integrity)
        tick(85, "methods")
        methods, refs = _methods(result, cfg, label, sections, integrity, stamp)
    finally:
        _PREFERRED.reset(token)
    title = meta.get("title") or (
        f"Reader study report: {meta['study']}" if meta.get("study") else "Reader study report")
    return Report(title=title, stamp=stamp, sections=sections, methods=methods, references=refs, result=result,
                  answers_csv=csv_bytes, integrity=integrity,
                  notes=list(result.notes) + [str(n) for n in meta.get("notes", [])], meta=meta)
