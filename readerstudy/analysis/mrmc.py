"""Multi-reader multi-case analysis: Obuchowski–Rockette with Hillis denominator degrees of freedom.

Random readers and random cases. The figure of merit (FOM) of each reader in each arm —
empirical AUC from confidence ratings, mean score, sensitivity or specificity — and its
leave-one-case-out (jackknife) values give the error covariances Var, Cov1 (same reader, other
arm), Cov2 (other reader, same arm), Cov3 (other reader and arm). Then, with t arms and r readers:

* MS(T) = r Σ_i (θ̄_i· − θ̄)² / (t − 1), MS(T:R) = Σ_ij (θ_ij − θ̄_i· − θ̄_·j + θ̄)² / ((t − 1)(r − 1));
* Den = MS(T:R) + r·max(Cov2 − Cov3, 0); F = MS(T)/Den on (t − 1, df_H) with
  df_H = Den² / (MS(T:R)² / ((t − 1)(r − 1)));
* for two arms, SE of the difference sqrt(2·Den/r), CI on df_H, and a one-sided noninferiority
  test of the difference against a margin.

Each arm is compared with the reference in its own two-arm analysis; a global test over all arms
is reported in a row with ``arm = "all"``. Written for this project (no Python package does it);
it reproduces the published Van Dyke (1993) result (see ``tests/analysis``).

References
----------
Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and
multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput.
1995;24:285–308.
Hillis SL. A comparison of denominator degrees of freedom methods for multiple observer ROC
analysis. Stat Med. 2007;26:596–619.
Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS. A comparison of the Dorfman–Berbaum–Metz and
Obuchowski–Rockette methods for receiver operating characteristic (ROC) data. Stat Med.
2005;24:1579–1607.
Van Dyke CW, et al. Cine MRI in the diagnosis of thoracic aortic dissection. 79th RSNA; 1993.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .common import ALL, frame, truncate_interval

COLUMNS = ["analysis", "item", "fom", "sequence", "level", "arm", "reference", "readers", "cases", "fom_arm",
           "fom_reference", "difference", "se", "df", "ci_low", "ci_high", "f", "p_value", "margin", "direction",
           "p_noninferiority", "noninferior", "var", "cov1", "cov2", "cov3", "ms_t", "ms_tr", "note"]
READER_COLUMNS = ["analysis", "item", "fom", "sequence", "level", "arm", "reader", "fom_value", "cases"]


@dataclass(frozen=True)
class ORResult:
    """Obuchowski–Rockette quantities for one set of arms (first index of ``theta`` = arm)."""

    theta: np.ndarray      # (t, r) figure of merit per arm × reader
    var: float
    cov1: float
    cov2: float
    cov3: float
    ms_t: float
    ms_tr: float
    den: float
    f: float
    df: float
    p_value: float


def jackknife_covariances(pseudo: np.ndarray) -> tuple[float, float, float, float]:
    """Var, Cov1, Cov2, Cov3 from leave-one-case-out FOMs ``pseudo`` of shape (t, r, c).

    cov((i,j),(i',j')) = (c − 1)/c Σ_k (θ_(k)ij − θ̄_(·)ij)(θ_(k)i'j' − θ̄_(·)i'j').
    """
    t, r, c = pseudo.shape
    flat = pseudo.reshape(t * r, c)
    dev = flat - flat.mean(1, keepdims=True)
    cov = (c - 1) / c * (dev @ dev.T)
    arm = np.repeat(np.arange(t), r)
    reader = np.tile(np.arange(r), t)
    same_arm = arm[:, None] == arm[None, :]
    same_reader = reader[:, None] == reader[None, :]

    def mean(mask):
        return float(cov[mask].mean()) if mask.any() else math.nan

    return (mean(same_arm & same_reader), mean(~same_arm & same_reader), mean(same_arm & ~same_reader),
            mean(~same_arm & ~same_reader))


def obuchowski_rockette(theta: np.ndarray, pseudo: np.ndarray) -> ORResult:
    """OR analysis (random readers, random cases) with Hillis df from FOMs and jackknife FOMs.

    Parameters
    ----------
    theta : ndarray, shape (t, r)
        FOM per arm × reader on all cases.
    pseudo : ndarray, shape (t, r, c)
        FOM with case k left out.
    """
    t, r = theta.shape
    var, cov1, cov2, cov3 = jackknife_covariances(pseudo)
    arm_means = theta.mean(1)
    reader_means = theta.mean(0)
    grand = theta.mean()
    ms_t = r * float(((arm_means - grand) ** 2).sum()) / (t - 1) if t > 1 else math.nan
    if t > 1 and r > 1:
        resid = theta - arm_means[:, None] - reader_means[None, :] + grand
        ms_tr = float((resid ** 2).sum()) / ((t - 1) * (r - 1))
    else:
        ms_tr = math.nan
    cov23 = max(cov2 - cov3, 0.0) if r > 1 else 0.0
    if r > 1 and ms_tr < 1e-12 * max(1.0, float(np.abs(theta).max()) ** 2):
        ms_tr = 0.0  # rounding noise of an exact zero (every reader shows the same arm difference)
    den = ms_tr + r * cov23
    if r > 1 and den > 0 and ms_tr > 0:
        f = ms_t / den
        df = den ** 2 / (ms_tr ** 2 / ((t - 1) * (r - 1)))
        p = float(stats.f.sf(f, t - 1, df))
    elif r > 1 and den > 0:
        # MS(T:R) = 0: Hillis' df is infinite and F(t-1, inf) is chi-squared(t-1)/(t-1).
        f = ms_t / den
        df = math.inf
        p = float(stats.chi2.sf(f * (t - 1), t - 1))
    else:
        f = df = p = math.nan
    return ORResult(theta=theta, var=var, cov1=cov1, cov2=cov2, cov3=cov3, ms_t=ms_t, ms_tr=ms_tr, den=den,
                    f=f, df=df, p_value=p)


# ---------------------------------------------------------------------------------------------
# Figures of merit and their case jackknife, vectorised over arms × readers.


def _cube(units: pd.DataFrame, arms: list[str], readers: list[str]):
    """Arrange unit values as (t, r, u) with the unit order shared by every arm × reader."""
    wide = units.set_index(["case", "level", "arm", "reader"])["value"].unstack(["arm", "reader"])
    cols = pd.MultiIndex.from_product([arms, readers], names=["arm", "reader"])
    wide = wide.reindex(columns=cols)
    return wide


def fom_and_jackknife(units: pd.DataFrame, fom: str, arms: list[str], readers: list[str]):
    """FOM (t, r) and leave-one-case-out FOMs (t, r, c) for complete data.

    ``units`` has ``arm, reader, case, level, value`` and, for AUC/sensitivity/specificity,
    ``present`` (truth per case × level). Units (case × level) not read by every reader in every
    arm are dropped beforehand by the caller.
    """
    wide = _cube(units, arms, readers)
    cases = wide.index.get_level_values("case").to_numpy()
    case_ids, case_idx = np.unique(cases, return_inverse=True)
    c = case_ids.size
    t, r = len(arms), len(readers)
    vals = wide.to_numpy(dtype=float).T.reshape(t, r, -1)          # (t, r, u)
    member = np.zeros((c, vals.shape[2]))
    member[case_idx, np.arange(vals.shape[2])] = 1.0
    if fom in ("mean", "sensitivity", "specificity"):
        if fom == "mean":
            use = np.ones(vals.shape[2], dtype=bool)
            y = vals
        else:
            truth = units.drop_duplicates(["case", "level"]).set_index(["case", "level"])["present"]
            truth = truth.reindex(wide.index).to_numpy(dtype=float)
            use = truth == (1.0 if fom == "sensitivity" else 0.0)
            y = (vals == truth[None, None, :]).astype(float)
        y = y[:, :, use]
        m = member[:, use]
        count = m.sum(1)                                          # (c,)
        total = y.sum(2)                                          # (t, r)
        n = use.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = total / n
        per_case = y @ m.T                                        # (t, r, c)
        denom = n - count
        with np.errstate(invalid="ignore", divide="ignore"):
            pseudo = (total[:, :, None] - per_case) / denom[None, None, :]
        return theta, pseudo, c
    if fom == "auc":
        truth = units.drop_duplicates(["case", "level"]).set_index(["case", "level"])["present"]
        truth = truth.reindex(wide.index).to_numpy(dtype=float)
        pos, neg = truth == 1.0, truth == 0.0
        xp, xn = vals[:, :, pos], vals[:, :, neg]                  # (t, r, n1), (t, r, n0)
        psi = (xp[:, :, :, None] > xn[:, :, None, :]).astype(float) + 0.5 * (xp[:, :, :, None] == xn[:, :, None, :])
        n1, n0 = pos.sum(), neg.sum()
        mp, mn = member[:, pos], member[:, neg]                   # (c, n1), (c, n0)
        total = psi.sum((2, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = total / (n1 * n0)
        rows = psi.sum(3) @ mp.T                                  # (t, r, c): positives of case k vs all negatives
        cols = psi.sum(2) @ mn.T                                  # negatives of case k vs all positives
        both = np.zeros((t, r, c))
        pos_case, neg_case = case_idx[pos], case_idx[neg]
        shared = np.intersect1d(pos_case, neg_case)
        for k in shared:                                          # only cases with units of both truths
            both[:, :, k] = psi[:, :, pos_case == k][:, :, :, neg_case == k].sum((2, 3))
        k1, k0 = mp.sum(1), mn.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pseudo = (total[:, :, None] - rows - cols + both) / ((n1 - k1) * (n0 - k0))[None, None, :]
        return theta, pseudo, c
    raise ValueError(f"unknown figure of merit {fom!r}")


def mrmc_analysis(units: pd.DataFrame, fom: str, reference: str, margin: float = 0.0, direction: str = "greater",
                  confidence: float = 0.95, label: dict | None = None, alpha: float = 0.05,
                  difference_bounds: tuple[float, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run OR–Hillis for one item: each arm vs the reference, plus a global test over all arms.

    Parameters
    ----------
    units : DataFrame
        ``arm, reader, case, level, value`` (+ ``present`` for AUC/sensitivity/specificity).
    fom : {"auc", "mean", "sensitivity", "specificity"}
    reference : str
    margin : float
        Noninferiority margin of the difference arm − reference (e.g. −0.05 for AUC).
    direction : {"greater", "less"}
        H1: difference > margin ("greater") or < margin ("less", for scores where lower is better).
    confidence, alpha : float
        Level of the interval of the difference; significance level of the noninferiority test.
    difference_bounds : (float, float), optional
        The range a difference of ``mean`` FOMs can take (e.g. ±4 on a 1–5 scale, ±1 for a 0/1
        item); the interval is truncated to it with a note. AUC, sensitivity and specificity
        differences are always truncated to [−1, 1].

    Returns
    -------
    (DataFrame, DataFrame)
        The comparison rows (columns :data:`COLUMNS`) and the FOM per arm × reader.

    Notes
    -----
    Units (case × level) not read by every reader in every arm are dropped (OR needs a complete
    design) and counted in ``note``. A single reader makes MS(T:R) undefined: F, df, p and the
    interval are NaN with a note (use a fixed-reader analysis). Jackknife FOMs that are undefined
    (a case holding every positive unit, say) make the covariances NaN, also with a note.
    """
    label = label or {}
    arms = sorted(units["arm"].unique())
    if reference not in arms:
        raise ValueError(f"MRMC: the reference arm {reference!r} has no answers for this item")
    arms = [reference] + [a for a in arms if a != reference]
    readers = sorted(units["reader"].unique())
    wide = _cube(units, arms, readers)
    complete = wide.notna().all(1)
    dropped = int((~complete).sum())
    keep = set(wide.index[complete])
    units = units[[k in keep for k in zip(units["case"], units["level"])]]
    notes = []
    if dropped:
        notes.append(f"{dropped} unit(s) not read by every reader in every arm dropped")
    if len(readers) < 2:
        notes.append("a single reader: reader variance cannot be estimated; F, df, p and CI undefined")
    rows, reader_rows = [], []
    base = {**label, "fom": fom, "reference": reference, "readers": len(readers), "margin": margin,
            "direction": direction}
    if units.empty:
        rows.append({**base, "arm": ALL, "cases": 0, "note": "; ".join(notes + ["no complete unit"])})
        return frame(rows, COLUMNS), frame(reader_rows, READER_COLUMNS)
    theta, pseudo, c = fom_and_jackknife(units, fom, arms, readers)
    for i, arm in enumerate(arms):
        for j, reader in enumerate(readers):
            reader_rows.append({**label, "fom": fom, "arm": arm, "reader": reader, "fom_value": theta[i, j],
                                "cases": c})
    jack_bad = not np.all(np.isfinite(pseudo))
    if jack_bad:
        notes.append("some leave-one-case-out FOMs are undefined (a case holds all units of one truth)")
    if np.isnan(theta).any():
        notes.append("FOM undefined (no unit of the needed truth)")
    for i, arm in enumerate(arms[1:], start=1):
        idx = [i, 0]
        res = obuchowski_rockette(theta[idx], pseudo[idx])
        diff = float(theta[i].mean() - theta[0].mean())
        row = {**base, "arm": arm, "cases": c, "fom_arm": float(theta[i].mean()),
               "fom_reference": float(theta[0].mean()), "difference": diff, "var": res.var, "cov1": res.cov1,
               "cov2": res.cov2, "cov3": res.cov3, "ms_t": res.ms_t, "ms_tr": res.ms_tr, "f": res.f,
               "df": res.df, "p_value": res.p_value}
        row_notes = list(notes)
        if not math.isnan(res.df) and res.den > 0:
            se = math.sqrt(2 * res.den / len(readers))
            dist = stats.t(res.df) if math.isfinite(res.df) else stats.norm()
            crit = dist.isf((1 - confidence) / 2)
            tstat = (diff - margin) / se
            p_ni = float(dist.sf(tstat) if direction == "greater" else dist.cdf(tstat))
            lo, hi = diff - crit * se, diff + crit * se
            bounds = difference_bounds if fom == "mean" else (-1.0, 1.0)  # AUC, sensitivity, specificity
            if bounds is not None:
                lo, hi, cut = truncate_interval(lo, hi, *bounds)
                if cut:
                    row_notes.append(cut)
            row.update(se=se, ci_low=lo, ci_high=hi, p_noninferiority=p_ni, noninferior=bool(p_ni < alpha))
            if not math.isfinite(res.df):
                row_notes.append("MS(T:R) = 0: Hillis df infinite (normal reference distribution)")
        else:
            row.update(se=math.nan, ci_low=math.nan, ci_high=math.nan, p_noninferiority=math.nan, noninferior=False)
            if len(readers) >= 2:
                row_notes.append("MS(T:R) or the denominator is zero (readers agree exactly): F undefined")
        row["note"] = "; ".join(row_notes)
        rows.append(row)
    if len(arms) > 2:
        res = obuchowski_rockette(theta, pseudo)
        rows.append({**base, "arm": ALL, "cases": c, "fom_reference": float(theta[0].mean()), "var": res.var,
                     "cov1": res.cov1, "cov2": res.cov2, "cov3": res.cov3, "ms_t": res.ms_t, "ms_tr": res.ms_tr,
                     "f": res.f, "df": res.df, "p_value": res.p_value, "noninferior": False,
                     "note": "; ".join(notes + [f"global test over {len(arms)} arms"])})
    return frame(rows, COLUMNS), frame(reader_rows, READER_COLUMNS)
