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

from .common import frame
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
