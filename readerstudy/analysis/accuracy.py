"""Diagnostic accuracy against the reference standard, and the comparison of arms by GEE (seed 002).

Sensitivity and specificity of each reader in each arm with exact Clopper–Pearson intervals (R's
``binom.test``), pooled over levels; the comparison of each arm with the reference across readers
(and per reader) by a generalized estimating equation — binomial family, logit link, exchangeable
working correlation, clustered by case, robust (sandwich) standard errors. The two-parameter model
is solved in closed-form vectorised steps here (:func:`_exchangeable_logit_gee`) for speed; the
tests check it against statsmodels' ``GEE`` and R's ``geepack::geeglm``.

References
----------
Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika.
1986;73:13–22.
Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the
binomial. Biometrika. 1934;26:404–413.
Halekoh U, Højsgaard S, Yan J. The R package geepack for generalized estimating equations.
J Stat Softw. 2006;15(2):1–11.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from .common import ALL, frame, truncate_interval
from .rcompat import qnorm_upper

COLUMNS = ["finding", "sequence", "reader", "arm", "measure", "n", "correct", "estimate", "ci_low", "ci_high", "note"]
GEE_COLUMNS = ["finding", "sequence", "reader", "measure", "arm", "reference", "n", "clusters", "estimate_arm",
               "estimate_reference", "difference", "ci_low", "ci_high", "ci_low_arm", "ci_high_arm",
               "ci_low_reference", "ci_high_reference", "odds_ratio", "log_odds_ratio", "se",
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
    df = units.assign(correct=(units["value"] == units["present"]).astype(int))
    keys = ["finding", "sequence", "reader", "arm", "present"]
    per = df.groupby(keys, sort=True)["correct"].agg(["size", "sum"])
    pooled = df.assign(reader=ALL).groupby(keys, sort=True)["correct"].agg(["size", "sum"])
    counts = pd.concat([per, pooled])
    groups = counts.reset_index()[["finding", "sequence", "reader", "arm"]].drop_duplicates()
    lookup = counts.to_dict("index")
    for finding, seq, reader, arm in groups.itertuples(index=False):
        for measure, truth in (("sensitivity", 1.0), ("specificity", 0.0)):
            hit = lookup.get((finding, seq, reader, arm, truth))
            n = int(hit["size"]) if hit else 0
            row = {"finding": finding, "sequence": seq, "reader": reader, "arm": arm, "measure": measure, "n": n}
            if n == 0:
                row.update(correct=0, estimate=math.nan, ci_low=math.nan, ci_high=math.nan,
                           note=f"no unit with the finding {'present' if truth else 'absent'}: {measure} undefined")
            else:
                x = int(hit["sum"])
                lo, hi = clopper_pearson(x, n, confidence)
                row.update(correct=x, estimate=x / n, ci_low=lo, ci_high=hi, note="")
            rows.append(row)
    return frame(rows, COLUMNS)


def _exchangeable_logit_gee(y: np.ndarray, x: np.ndarray, groups: np.ndarray, tol: float = 1e-12,
                            maxiter: int = 200) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Logistic GEE of ``y`` on (1, x) with exchangeable working correlation, vectorised over clusters.

    Returns ``(beta, robust_cov, alpha, converged)``. Scale and correlation are the moment estimators
    without degrees-of-freedom correction — φ = Σe²/N, α = Σ_i Σ_{j<k} e_ij e_ik / (φ·n_pairs) with
    Pearson residuals e — which is what ``geepack::geeglm`` solves (statsmodels' ``GEE`` gives the same
    with ``fit(ddof_scale=0)``; both are checked in the tests). The exchangeable inverse is closed
    form, R⁻¹ = (I − c·J)/(1 − α) with c = α/(1 + (n_i − 1)α), so one iteration is a few bincounts:
    statsmodels loops over clusters in Python and was 50× slower on a paper-sized study.
    """
    g = np.asarray(groups)
    if g.dtype.kind not in "iu" or (g.size and g.min() < 0):
        g = np.unique(g, return_inverse=True)[1]
    order = np.argsort(g, kind="stable")
    y, x, g = y[order], x[order], g[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    n_i = np.diff(np.r_[starts, g.size]).astype(float)
    n_pairs = float((n_i * (n_i - 1) / 2).sum())
    N = y.size

    def cluster_sums(beta):
        """Per-cluster sums of z0, z1, e, z0², z0z1, z1², z0e, z1e, e² (z = √v·(1, x), e Pearson residual)."""
        mu = 1 / (1 + np.exp(-(beta[0] + beta[1] * x)))
        sv = np.sqrt(mu * (1 - mu))
        e = (y - mu) / sv
        z1 = sv * x
        cols = np.stack([sv, z1, e, sv * sv, sv * z1, z1 * z1, sv * e, z1 * e, e * e], axis=1)
        return np.add.reduceat(cols, starts, axis=0)

    def system(sums, alpha):
        s0, s1, se_ = sums[:, 0], sums[:, 1], sums[:, 2]
        c = alpha / (1 + (n_i - 1) * alpha)
        b00 = (sums[:, 3] - c * s0 * s0).sum()
        b01 = (sums[:, 4] - c * s0 * s1).sum()
        b11 = (sums[:, 5] - c * s1 * s1).sum()
        u = np.stack([sums[:, 6] - c * s0 * se_, sums[:, 7] - c * s1 * se_], axis=1) / (1 - alpha)
        return np.array([[b00, b01], [b01, b11]]) / (1 - alpha), u

    beta = np.zeros(2)
    alpha = 0.0
    converged = False
    for it in range(maxiter):
        sums = cluster_sums(beta)
        if it > 0 and n_pairs > 0:
            phi = float(sums[:, 8].sum()) / N
            alpha = float(((sums[:, 2] ** 2 - sums[:, 8]) / 2).sum()) / (phi * n_pairs)
        bmat, u = system(sums, alpha)
        step = np.linalg.solve(bmat, u.sum(0))
        beta = beta + step
        if it > 0 and np.max(np.abs(step)) < tol:
            converged = True
            break
    # sandwich at the solution
    bmat, u = system(cluster_sums(beta), alpha)
    binv = np.linalg.inv(bmat)
    cov = binv @ (u.T @ u) @ binv
    return beta, cov, alpha, converged


def gee_compare(y: np.ndarray, arm: np.ndarray, cluster: np.ndarray, confidence: float = 0.95) -> dict:
    """Logistic GEE of ``y`` on an arm indicator, exchangeable correlation within ``cluster``.

    Returns the fitted proportions of both arms (expit of the linear predictor), their difference
    with a delta-method interval, the odds ratio, and the robust Wald z and p of the arm term
    (geepack's ``summary(geeglm(...))``). Perfect separation (all 0 or all 1 in an arm) makes the
    logit infinite: then NaN with a note (the raw proportions are in the accuracy table).
    """
    out = {k: math.nan for k in ("estimate_arm", "estimate_reference", "difference", "ci_low", "ci_high",
                                  "ci_low_arm", "ci_high_arm", "ci_low_reference", "ci_high_reference",
                                  "odds_ratio", "log_odds_ratio", "se", "z", "p_value", "correlation")}
    out.update(n=int(y.size), clusters=int(len(set(cluster.tolist()))), note="")
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
    with np.errstate(all="ignore"):
        try:
            (b0, b1), cov, alpha, converged = _exchangeable_logit_gee(y.astype(float), arm.astype(float), cluster)
        except np.linalg.LinAlgError:
            # e.g. a handful of cases whose units all agree within each case (working correlation 1)
            out["note"] = "GEE could not be fitted: singular information matrix (too few cases or discordant units)"
            return out
    if not converged or not np.all(np.isfinite([b0, b1])):
        out["note"] = "GEE did not converge"
        return out
    p0 = 1 / (1 + math.exp(-b0))
    p1 = 1 / (1 + math.exp(-(b0 + b1)))
    # delta method for p1 - p0 in (b0, b1)
    g = np.array([p1 * (1 - p1) - p0 * (1 - p0), p1 * (1 - p1)])
    var_diff = float(g @ cov @ g)
    if not (np.all(np.isfinite(cov)) and cov[1, 1] > 0 and var_diff > 0):
        out.update(estimate_arm=p1, estimate_reference=p0, difference=p1 - p0, odds_ratio=math.exp(b1),
                   log_odds_ratio=float(b1), correlation=alpha,
                   note="robust covariance of the GEE is degenerate (e.g. one case holds every discordant "
                        "unit): no standard error")
        return out
    se_diff = math.sqrt(var_diff)
    zc = qnorm_upper((1 - confidence) / 2)
    se = math.sqrt(cov[1, 1])
    lo, hi, cut = truncate_interval(p1 - p0 - zc * se_diff, p1 - p0 + zc * se_diff, -1.0, 1.0)
    # Each arm's proportion: a Wald interval of the linear predictor, mapped through expit (in (0, 1)).
    se_ref = math.sqrt(cov[0, 0])
    se_arm = math.sqrt(max(cov[0, 0] + cov[1, 1] + 2 * cov[0, 1], 0.0))
    expit = special.expit
    out.update(estimate_arm=p1, estimate_reference=p0, difference=p1 - p0, ci_low=lo, ci_high=hi,
               ci_low_arm=float(expit(b0 + b1 - zc * se_arm)), ci_high_arm=float(expit(b0 + b1 + zc * se_arm)),
               ci_low_reference=float(expit(b0 - zc * se_ref)), ci_high_reference=float(expit(b0 + zc * se_ref)),
               odds_ratio=math.exp(b1), log_odds_ratio=float(b1), se=se,
               z=float(b1 / se), p_value=float(2 * special.ndtr(-abs(b1 / se))), correlation=alpha, note=cut)
    return out


def gee_table(units: pd.DataFrame, reference: str, confidence: float = 0.95) -> pd.DataFrame:
    """Arm vs reference for sensitivity and specificity, across readers and per reader, by GEE.

    Returns ``finding, sequence, reader, measure, arm, reference, n, clusters, estimate_arm,
    estimate_reference, difference, ci_low, ci_high, ci_low_arm, ci_high_arm, ci_low_reference,
    ci_high_reference, odds_ratio, log_odds_ratio, se, z, p_value, correlation, note``: the outcome is a correct call on a unit (reader × case × level) with the
    finding present (sensitivity) or absent (specificity); the cluster is the case, so a case's
    levels and readers are correlated. ``se``/``z``/``p_value`` are the robust Wald test of the log
    odds ratio (geepack's ``summary``); ``difference`` has a delta-method interval (truncated to
    [−1, 1] with a note); ``ci_*_arm`` / ``ci_*_reference`` are each proportion's interval on the
    logit scale (robust Wald interval of the linear predictor through expit, so within (0, 1)).
    """
    df = units.sort_values(["case", "reader", "level", "arm"], kind="stable")
    rows = []
    arms = sorted(a for a in df["arm"].unique() if a != reference)
    for (finding, seq), grp in df.groupby(["finding", "sequence"], sort=True):
        correct = (grp["value"].to_numpy() == grp["present"].to_numpy()).astype(float)
        present = grp["present"].to_numpy()
        arm_col = grp["arm"].to_numpy()
        reader_col = grp["reader"].to_numpy()
        case_col = pd.factorize(grp["case"])[0]
        readers = [ALL] + sorted(set(reader_col))
        for arm in arms:
            in_pair = (arm_col == arm) | (arm_col == reference)
            for reader in readers:
                sel = in_pair if reader == ALL else in_pair & (reader_col == reader)
                for measure, truth in (("sensitivity", 1.0), ("specificity", 0.0)):
                    m = sel & (present == truth)
                    base = {"finding": finding, "sequence": seq, "reader": reader, "measure": measure, "arm": arm,
                            "reference": reference}
                    if not m.any():
                        rows.append({**base, "n": 0, "clusters": 0,
                                     "note": f"no unit with the finding {'present' if truth else 'absent'}"})
                        continue
                    res = gee_compare(correct[m], (arm_col[m] == arm).astype(int), case_col[m], confidence)
                    rows.append({**base, **res})
    return frame(rows, GEE_COLUMNS)
