"""Quantitative measurements: SNR/CNR from ROI answers, correlation and Bland–Altman between arms.

SNR = mean signal / SD of the background; CNR = |signal − signal_reference| / SD of the
background (seed 001, seed 002), computed per reader × case × sequence × arm × level from the ROI
answers named in the configuration. The derived values are then analysed like any numeric item
(descriptives, paired tests, ICC) and compared between arms here.

References
----------
Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
measurement. Lancet. 1986;327:307–310.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .common import frame, unit_means
from .config import DerivedConfig
from .noninferiority import paired_units

BLAND_ALTMAN_COLUMNS = ["sequence", "item", "arm", "reference", "reader", "n", "mean_arm", "mean_reference",
                        "bias", "sd_difference", "loa_low", "loa_high", "pearson_r", "pearson_p", "spearman_rho",
                        "spearman_p", "note"]


def derive(answers: pd.DataFrame, derived: dict[str, DerivedConfig]) -> tuple[pd.DataFrame, list[str]]:
    """Compute SNR/CNR rows and append them to the answers (``item`` = the derived name).

    A unit lacking one of its ROI answers, or with background SD ≤ 0, gets no derived value; the
    returned notes count them.
    """
    notes = []
    keys = ["reader", "case", "sequence", "arm", "level"]
    new = []
    for name, spec in derived.items():
        need = [spec.signal, spec.noise] + ([spec.signal_reference] if spec.signal_reference else [])
        wide = answers[answers["item"].isin(need)].pivot_table(index=keys, columns="item", values="value",
                                                              aggfunc="first")
        for col in need:
            if col not in wide.columns:
                wide[col] = np.nan
        complete = wide[need].notna().all(1) & (wide[spec.noise] > 0)
        dropped = int((~complete).sum())
        if dropped:
            notes.append(f"{name}: {dropped} unit(s) lack an ROI answer or have background SD <= 0; no {spec.kind}")
        w = wide[complete]
        if spec.kind == "snr":
            val = w[spec.signal] / w[spec.noise]
        else:
            val = (w[spec.signal] - w[spec.signal_reference]).abs() / w[spec.noise]
        part = val.rename("value").reset_index()
        part["item"] = name
        new.append(part)
    if not new:
        return answers, notes
    out = pd.concat([answers] + [p[answers.columns] for p in new], ignore_index=True)
    return out, notes


def bland_altman_table(answers: pd.DataFrame, reference: str, items: list[str], unit: str = "case-mean",
                       confidence: float = 0.95) -> pd.DataFrame:
    """Agreement of a measurement between each arm and the reference.

    Returns ``sequence, item, arm, reference, reader, n, mean_arm, mean_reference, bias,
    sd_difference, loa_low, loa_high, pearson_r, pearson_p, spearman_rho, spearman_p, note``:
    bias = mean(arm − reference); limits of agreement bias ± z·SD (z = 1.96 for 95%); Pearson's r
    with R's ``cor.test`` p; Spearman's rho with the t-approximation p (``exact=FALSE``).
    """
    pairs = paired_units(answers[answers["item"].isin(items)], reference, unit)
    z = stats.norm.isf((1 - confidence) / 2)
    rows = []
    for (seq, item, arm, reader), grp in pairs.groupby(["sequence", "item", "arm", "reader"], sort=True):
        x, y = grp["x"].to_numpy(dtype=float), grp["y"].to_numpy(dtype=float)
        d = x - y
        n = d.size
        row = {"sequence": seq, "item": item, "arm": arm, "reference": reference, "reader": reader, "n": n,
               "mean_arm": x.mean(), "mean_reference": y.mean(), "bias": d.mean(), "note": ""}
        sd = d.std(ddof=1) if n > 1 else math.nan
        row.update(sd_difference=sd, loa_low=d.mean() - z * sd, loa_high=d.mean() + z * sd)
        if n >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            pr = stats.pearsonr(x, y)
            sr = stats.spearmanr(x, y)
            row.update(pearson_r=float(pr.statistic), pearson_p=float(pr.pvalue), spearman_rho=float(sr.statistic),
                       spearman_p=float(sr.pvalue))
        else:
            row.update(pearson_r=math.nan, pearson_p=math.nan, spearman_rho=math.nan, spearman_p=math.nan,
                       note="fewer than 3 pairs or a constant arm: correlations undefined")
        rows.append(row)
    return frame(rows, BLAND_ALTMAN_COLUMNS)


MEASUREMENT_COLUMNS = ["sequence", "item", "arm", "reference", "n", "mean", "sd", "mean_reference", "sd_reference",
                       "percent_difference", "r_squared", "slope", "intercept", "bias", "loa_low", "loa_high", "icc",
                       "icc_ci_low", "icc_ci_high", "note"]


def measurement_table(answers: pd.DataFrame, reference: str, items: list[str],
                      confidence: float = 0.95) -> pd.DataFrame:
    """Quantitative biomarkers per arm against the reference (seed 000 Table 6 and Figure 6).

    The unit is a case (× level) with the readers' mean measurement, as an automatic segmentation
    gives one value per structure. One row per sequence × item × arm; the reference arm's own row
    has only ``n, mean, sd``.

    Returns
    -------
    DataFrame
        ``sequence, item, arm, reference, n, mean, sd, mean_reference, sd_reference,
        percent_difference, r_squared, slope, intercept, bias, loa_low, loa_high, icc, icc_ci_low,
        icc_ci_high, note``: mean ± SD over units (SD n − 1); ``percent_difference`` =
        100·(mean − mean_reference)/mean_reference; ``r_squared``, ``slope`` and ``intercept`` of the
        least-squares line arm = intercept + slope·reference (R ``lm``); Bland–Altman ``bias`` and
        limits ``bias ± z·SD``; ``icc`` ICC(A,1) between the arm and the reference over units
        (absolute agreement, McGraw & Wong interval, truncated to [−1, 1]), i.e. how
        interchangeable the two arms' measurements are.
    """
    from .agreement import icc_a1

    df = answers[answers["item"].isin(items)]
    if df.empty:
        return frame([], MEASUREMENT_COLUMNS)
    pairs = paired_units(df, reference, "case-mean")
    z = stats.norm.isf((1 - confidence) / 2)
    rows = []
    ref_units = unit_means(df[df["arm"] == reference], ["sequence", "item", "case", "level"])
    for (seq, item), grp in ref_units.groupby(["sequence", "item"], sort=True):
        v = grp["value"].to_numpy(dtype=float)
        rows.append({"sequence": seq, "item": item, "arm": reference, "reference": reference, "n": v.size,
                     "mean": v.mean(), "sd": v.std(ddof=1) if v.size > 1 else math.nan,
                     "note": "reference arm" + ("" if v.size > 1 else "; one unit: SD undefined")})
    for (seq, item, arm), grp in pairs.groupby(["sequence", "item", "arm"], sort=True):
        x, y = grp["x"].to_numpy(dtype=float), grp["y"].to_numpy(dtype=float)
        n = x.size
        notes = []
        row = {"sequence": seq, "item": item, "arm": arm, "reference": reference, "n": n, "mean": x.mean(),
               "sd": x.std(ddof=1) if n > 1 else math.nan, "mean_reference": y.mean(),
               "sd_reference": y.std(ddof=1) if n > 1 else math.nan}
        if y.mean() != 0:
            row["percent_difference"] = 100.0 * (x.mean() - y.mean()) / y.mean()
        else:
            notes.append("reference mean 0: percent difference undefined")
        d = x - y
        sd = d.std(ddof=1) if n > 1 else math.nan
        row.update(bias=d.mean(), loa_low=d.mean() - z * sd, loa_high=d.mean() + z * sd)
        if n >= 3 and np.ptp(y) > 0 and np.ptp(x) > 0:
            fit = stats.linregress(y, x)
            row.update(r_squared=float(fit.rvalue ** 2), slope=float(fit.slope), intercept=float(fit.intercept))
        else:
            notes.append("fewer than 3 units or a constant arm: regression undefined")
        icc = icc_a1(np.c_[x, y], confidence)
        row.update(icc=icc["icc"], icc_ci_low=icc["ci_low"], icc_ci_high=icc["ci_high"])
        if icc["note"]:
            notes.append(f"ICC: {icc['note']}")
        if n < 2:
            notes.append("one unit: SD and limits of agreement undefined")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return frame(rows, MEASUREMENT_COLUMNS)
