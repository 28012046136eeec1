"""Two-sided paired comparisons of each arm with the reference, per reader (seed 001 Table 2).

Shapiro–Wilk on the paired differences chooses between the paired t test (normal) and the
Wilcoxon signed-rank test; both are reported. p values are Bonferroni-adjusted over the readers of
one sequence × item × arm (seed 001: α = 0.05/2 for two readers). scipy's ``ttest_rel`` and
``shapiro`` compute what R's ``t.test(paired=TRUE)`` and ``shapiro.test`` print (Royston's
algorithm); the Wilcoxon p is R's ``wilcox.test(paired=TRUE, exact=FALSE, correct=TRUE)``.

References
----------
Shapiro SS, Wilk MB. An analysis of variance test for normality. Biometrika. 1965;52:591–611.
Royston P. Algorithm AS R94. Appl Stat. 1995;44:547–551.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from .common import frame
from .noninferiority import paired_units
from .rcompat import p_adjust, signed_rank_test

COLUMNS = ["sequence", "item", "arm", "reference", "reader", "n", "mean_arm", "sd_arm", "mean_reference",
           "sd_reference", "mean_difference", "shapiro_w", "shapiro_p", "test", "t_statistic", "t_df",
           "t_p", "wilcoxon_v", "wilcoxon_p", "p_value", "p_adjusted", "note"]


def paired_comparisons(answers: pd.DataFrame, reference: str, items: list[str], alpha: float = 0.05,
                       adjust: str = "bonferroni") -> pd.DataFrame:
    """Per reader, arm vs reference: paired t and Wilcoxon, chosen by Shapiro–Wilk.

    Returns
    -------
    DataFrame
        ``sequence, item, arm, reference, reader, n, mean_arm, sd_arm, mean_reference,
        sd_reference, mean_difference, shapiro_w, shapiro_p, test, t_statistic, t_df, t_p,
        wilcoxon_v, wilcoxon_p, p_value, p_adjusted, note``. ``test`` is ``"t"`` when Shapiro–Wilk
        does not reject normality of the differences at ``alpha``, else ``"wilcoxon"``; ``p_value``
        is that test's two-sided p; ``p_adjusted`` the Bonferroni adjustment over the readers.

    Notes
    -----
    Shapiro–Wilk needs 3–5000 non-identical differences; otherwise the Wilcoxon test is chosen and
    ``note`` says why. When all differences are zero both tests are undefined (R stops or prints
    NaN): the p values are NaN and ``note`` says so.
    """
    pairs = paired_units(answers[answers["item"].isin(items)], reference, "reader")
    keys = ["sequence", "item", "arm", "reader"]
    pairs = pairs.sort_values(keys, kind="stable")
    xs, ys = pairs["x"].to_numpy(dtype=float), pairs["y"].to_numpy(dtype=float)
    starts = pairs.groupby(keys, sort=True).indices
    rows = []
    for (seq, item, arm, reader), idx in starts.items():
        x, y = xs[idx], ys[idx]
        d = x - y
        n = d.size
        notes = []
        row = {"sequence": seq, "item": item, "arm": arm, "reference": reference, "reader": reader, "n": n,
               "mean_arm": x.mean(), "sd_arm": x.std(ddof=1) if n > 1 else math.nan,
               "mean_reference": y.mean(), "sd_reference": y.std(ddof=1) if n > 1 else math.nan,
               "mean_difference": d.mean(), "shapiro_w": math.nan, "shapiro_p": math.nan,
               "t_statistic": math.nan, "t_df": n - 1, "t_p": math.nan, "wilcoxon_v": math.nan,
               "wilcoxon_p": math.nan}
        constant = bool(np.all(d == d[0]))
        if constant:
            notes.append("all differences are equal: t test undefined (R: 'data are essentially constant')")
        elif n >= 2:
            # the paired t test (scipy's ttest_rel / R's t.test(paired=TRUE)), inlined for speed
            t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
            row["t_statistic"], row["t_p"] = float(t), float(2 * special.stdtr(n - 1, -abs(t)))
        w = signed_rank_test(d, 0.0, "two-sided", conf_int=False)
        row["wilcoxon_v"], row["wilcoxon_p"] = w.statistic, w.p_value
        if w.note and np.all(d == 0):
            notes.append("all differences are zero: Wilcoxon p undefined (R: NaN)")
        if 3 <= n <= 5000 and not constant:
            sw = stats.shapiro(d)
            row["shapiro_w"], row["shapiro_p"] = float(sw.statistic), float(sw.pvalue)
            row["test"] = "t" if sw.pvalue >= alpha else "wilcoxon"
        else:
            row["test"] = "wilcoxon"
            if not constant:
                notes.append(f"Shapiro–Wilk needs 3 to 5000 differences (n = {n}): Wilcoxon chosen")
        row["p_value"] = row["t_p"] if row["test"] == "t" else row["wilcoxon_p"]
        row["note"] = "; ".join(notes)
        rows.append(row)
    out = frame(rows, COLUMNS)
    if len(out):
        out["p_adjusted"] = np.nan
        for _, idx in out.groupby(["sequence", "item", "arm"]).groups.items():
            out.loc[idx, "p_adjusted"] = p_adjust(out.loc[idx, "p_value"].to_numpy(dtype=float), adjust)
    return out
