"""Diagnostic accuracy against the reference standard, and the comparison of arms by GEE (seed 002).

Sensitivity and specificity of each reader in each arm with exact Clopper–Pearson intervals (R's
``binom.test``), pooled over levels; the comparison of each arm with the reference across readers
(and per reader) by a generalized estimating equation — binomial family, logit link, exchangeable
working correlation, clustered by case, robust (sandwich) standard errors — fitted with statsmodels
and checked against R's ``geepack::geeglm``.

References
----------
Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika.
1986;73:13–22.
Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the
binomial. Biometrika. 1934;26:404–413.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .common import ALL, frame
from .rcompat import qnorm_upper

COLUMNS = ["finding", "sequence", "reader", "arm", "measure", "n", "correct", "estimate", "ci_low", "ci_high", "note"]
GEE_COLUMNS = ["finding", "sequence", "reader", "measure", "arm", "reference", "n", "clusters", "estimate_arm",
               "estimate_reference", "difference", "ci_low", "ci_high", "odds_ratio", "log_odds_ratio", "se",
               "z", "p_value", "correlation", "note"]


def clopper_pearson(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval, as R's ``binom.test(x, n)$conf.int``."""
    alpha = 1 - confidence
    lo = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    hi = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lo, hi


def scored_units(answers: pd.DataFrame, reference_standard: pd.DataFrame, findings: list[str]) -> pd.DataFrame:
    """Join each finding answer with the truth: ``finding, sequence, reader, arm, case, level, value, present``."""
    df = answers[answers["item"].isin(findings)].rename(columns={"item": "finding"})
    truth = reference_standard[["case", "level", "finding", "present"]]
    return df.merge(truth, on=["case", "level", "finding"], how="inner")


def accuracy_table(units: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Sensitivity and specificity per finding × sequence × reader × arm (levels pooled).

    Returns ``finding, sequence, reader, arm, measure, n, correct, estimate, ci_low, ci_high,
    note``; ``measure`` is ``sensitivity`` (n = units with the finding present, correct = called
    present) or ``specificity`` (n = units without, correct = called absent); ``reader = "all"``
    pools the readers' units (interval then ignores the clustering — use the GEE table to compare).
    A measure with no eligible unit (a finding never present) is NaN with a note.
    """
    rows = []
    df = units.copy()
    df["correct"] = (df["value"] == df["present"]).astype(int)
    pooled = df.assign(reader=ALL)
    for (finding, seq, reader, arm), grp in pd.concat([df, pooled]).groupby(
            ["finding", "sequence", "reader", "arm"], sort=True):
        for measure, truth in (("sensitivity", 1.0), ("specificity", 0.0)):
            sub = grp[grp["present"] == truth]
            n = len(sub)
            row = {"finding": finding, "sequence": seq, "reader": reader, "arm": arm, "measure": measure, "n": n}
            if n == 0:
                row.update(correct=0, estimate=math.nan, ci_low=math.nan, ci_high=math.nan,
                           note=f"no unit with the finding {'present' if truth else 'absent'}: {measure} undefined")
            else:
                x = int(sub["correct"].sum())
                lo, hi = clopper_pearson(x, n, confidence)
                row.update(correct=x, estimate=x / n, ci_low=lo, ci_high=hi, note="")
            rows.append(row)
    return frame(rows, COLUMNS)


def gee_compare(y: np.ndarray, arm: np.ndarray, cluster: np.ndarray, confidence: float = 0.95) -> dict:
    """Logistic GEE of ``y`` on an arm indicator, exchangeable correlation within ``cluster``.

    Returns the fitted proportions of both arms (expit of the linear predictor), their difference
    with a delta-method interval, the odds ratio, and the robust Wald z and p of the arm term.
    Data must be sorted by cluster. Perfect separation (all 0 or all 1 in an arm) makes the logit
    infinite: then NaN with a note (the raw proportions are in the accuracy table).
    """
    import statsmodels.api as sm

    out = {k: math.nan for k in ("estimate_arm", "estimate_reference", "difference", "ci_low", "ci_high",
                                  "odds_ratio", "log_odds_ratio", "se", "z", "p_value", "correlation")}
    out.update(n=int(y.size), clusters=int(np.unique(cluster).size), note="")
    for g in (0, 1):
        yy = y[arm == g]
        if yy.size == 0:
            out["note"] = "an arm has no eligible unit"
            return out
        if yy.min() == yy.max():
            out["estimate_arm" if g else "estimate_reference"] = float(yy.mean())
            out["note"] = "all units of an arm have the same outcome: the logit is infinite, GEE not fitted"
    if out["note"]:
        out["difference"] = out["estimate_arm"] - out["estimate_reference"]
        return out
    exog = np.column_stack([np.ones_like(arm, dtype=float), arm.astype(float)])
    model = sm.GEE(y.astype(float), exog, groups=cluster, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Exchangeable())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ddof_scale=0: the moment estimates of scale and correlation that geepack uses (statsmodels'
        # default divides by N − p and n_pairs − p, which moves the correlation by ~1%).
        fit = model.fit(ddof_scale=0, ctol=1e-10, maxiter=200)
    b0, b1 = fit.params
    cov = fit.cov_params()
    p0 = 1 / (1 + math.exp(-b0))
    p1 = 1 / (1 + math.exp(-(b0 + b1)))
    # delta method for p1 - p0 in (b0, b1)
    g = np.array([p1 * (1 - p1) - p0 * (1 - p0), p1 * (1 - p1)])
    var_diff = float(g @ cov @ g)
    if not (np.all(np.isfinite(cov)) and cov[1, 1] > 0 and var_diff > 0):
        out.update(estimate_arm=p1, estimate_reference=p0, difference=p1 - p0, odds_ratio=math.exp(b1),
                   log_odds_ratio=float(b1), note="robust covariance of the GEE is degenerate (e.g. one case "
                   "holds every discordant unit): no standard error")
        return out
    se_diff = math.sqrt(var_diff)
    zc = qnorm_upper((1 - confidence) / 2)
    se = math.sqrt(cov[1, 1])
    out.update(estimate_arm=p1, estimate_reference=p0, difference=p1 - p0, ci_low=p1 - p0 - zc * se_diff,
               ci_high=p1 - p0 + zc * se_diff, odds_ratio=math.exp(b1), log_odds_ratio=float(b1), se=se,
               z=float(b1 / se), p_value=float(2 * stats.norm.sf(abs(b1 / se))),
               correlation=float(model.cov_struct.dep_params))
    return out


def gee_table(units: pd.DataFrame, reference: str, confidence: float = 0.95) -> pd.DataFrame:
    """Arm vs reference for sensitivity and specificity, across readers and per reader, by GEE.

    Returns ``finding, sequence, reader, measure, arm, reference, n, clusters, estimate_arm,
    estimate_reference, difference, ci_low, ci_high, odds_ratio, log_odds_ratio, se, z, p_value,
    correlation, note``: the outcome is a correct call on a unit (reader × case × level) with the
    finding present (sensitivity) or absent (specificity); the cluster is the case, so a case's
    levels and readers are correlated. ``se``/``z``/``p_value`` are the robust Wald test of the log
    odds ratio (geepack's ``summary``); ``difference`` has a delta-method interval.
    """
    df = units.copy()
    df["correct"] = (df["value"] == df["present"]).astype(int)
    rows = []
    arms = sorted(a for a in df["arm"].unique() if a != reference)
    for (finding, seq), grp in df.groupby(["finding", "sequence"], sort=True):
        readers = [ALL] + sorted(grp["reader"].unique())
        for arm in arms:
            pair = grp[grp["arm"].isin([arm, reference])]
            for reader in readers:
                sub = pair if reader == ALL else pair[pair["reader"] == reader]
                for measure, truth in (("sensitivity", 1.0), ("specificity", 0.0)):
                    s = sub[sub["present"] == truth].sort_values(["case", "reader", "level", "arm"], kind="stable")
                    base = {"finding": finding, "sequence": seq, "reader": reader, "measure": measure, "arm": arm,
                            "reference": reference}
                    if s.empty:
                        rows.append({**base, "n": 0, "clusters": 0,
                                     "note": f"no unit with the finding {'present' if truth else 'absent'}"})
                        continue
                    res = gee_compare(s["correct"].to_numpy(), (s["arm"] == arm).to_numpy().astype(int),
                                      s["case"].to_numpy(), confidence)
                    rows.append({**base, **res})
    return frame(rows, GEE_COLUMNS)
