"""Agreement: Cohen's, Conger's and Fleiss' kappa, ICC(A,1) and Spearman correlations.

Written here rather than taken from a library because the libraries differ from what the seeds
report: scikit-learn's weighted kappa weights by the index of the *observed* labels (not the full
scale) and gives no standard error; statsmodels has no Conger's kappa; pingouin rounds the ICC
confidence interval to two decimals. Every function uses the full category set of the scale.

References
----------
Cohen J. Weighted kappa. Psychol Bull. 1968;70:213–220.
Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa.
Psychol Bull. 1969;72:323–327.
Conger AJ. Integration and generalization of kappas for multiple raters. Psychol Bull. 1980;88:322–328.
Gwet KL. Handbook of Inter-Rater Reliability. 4th ed. Advanced Analytics; 2014 (variance of
Conger's kappa by linearization, with missing ratings).
Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull. 1971;76:378–382;
Fleiss JL, Nee JCM, Landis JR. Psychol Bull. 1979;86:974–977 (SE under H0, as R's irr).
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients.
Psychol Methods. 1996;1:30–46. Shrout PE, Fleiss JL. Psychol Bull. 1979;86:420–428.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import special, stats

from .common import ALL, frame, join_notes, truncate_interval
from .rcompat import qnorm_upper

KAPPA_COLUMNS = ["scope", "sequence", "item", "arm", "reference", "reader", "method", "weights", "raters", "n",
                 "kappa", "se", "ci_low", "ci_high", "z", "p_value", "agreement", "chance", "note"]
ICC_COLUMNS = ["sequence", "item", "arm", "type", "icc", "ci_low", "ci_high", "n", "raters", "f", "df1", "df2",
               "p_value", "note"]
SPEARMAN_COLUMNS = ["sequence", "item", "arm", "reader_a", "reader_b", "n", "rho", "p_value", "note"]


def weight_matrix(categories, weights: str) -> np.ndarray:
    """Agreement weights over the full, ordered category set.

    ``"none"``: identity; ``"linear"``: 1 − |i − j|/(q − 1); ``"quadratic"``: 1 − (i − j)²/(q − 1)²,
    with i, j the category values (equally spaced scales give Cicchetti–Allison / Fleiss–Cohen weights).
    """
    c = np.asarray(categories, dtype=float)
    q = c.size
    if weights == "none" or q < 2:
        return np.eye(q)
    span = c.max() - c.min()
    diff = np.abs(c[:, None] - c[None, :]) / span
    if weights == "linear":
        return 1 - diff
    if weights == "quadratic":
        return 1 - diff ** 2
    raise ValueError(f"weights must be 'none', 'linear' or 'quadratic', got {weights!r}")


def _codes(values: np.ndarray, categories) -> np.ndarray:
    cats = np.asarray(categories, dtype=float)
    idx = np.searchsorted(cats, values)
    ok = (idx < cats.size) & (cats[np.minimum(idx, cats.size - 1)] == values)
    if not np.all(ok):
        bad = sorted(set(values[~ok].tolist()))
        raise ValueError(f"kappa: value(s) {bad} are not categories of the scale {list(cats)}")
    return idx


def cohen_kappa(a, b, categories, weights: str = "none", confidence: float = 0.95) -> dict:
    """Cohen's (weighted) kappa of two raters with its large-sample SE and CI.

    Parameters
    ----------
    a, b : array_like
        Ratings of the same units by two raters (pairs with a NaN are dropped).
    categories : sequence
        The full, ordered category set of the scale (e.g. 1..5), used even if some are unused.
    weights : {"none", "linear", "quadratic"}

    Returns
    -------
    dict
        ``kappa, se`` (Fleiss–Cohen–Everitt ASE, as SAS ``PROC FREQ`` prints), ``ci_low, ci_high``
        (kappa ± z·se, truncated to [−1, 1] with a note), ``z, p_value`` (test of kappa = 0 with the SE
        under H0), ``agreement``
        (weighted observed agreement), ``chance``, ``n`` and ``note``.

    Notes
    -----
    When chance agreement is 1 (both raters used a single, identical category) kappa is undefined:
    NaN with a note that gives the observed agreement.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    q = len(categories)
    ca, cb = _codes(a[ok], categories), _codes(b[ok], categories)
    table = np.bincount(ca * q + cb, minlength=q * q).reshape(q, q).astype(float)
    return kappa_from_table(table, weight_matrix(categories, weights), confidence)


def kappa_from_table(table: np.ndarray, w: np.ndarray, confidence: float = 0.95) -> dict:
    """Cohen's kappa from a q × q contingency table (rows: rater A) and agreement weights ``w``.

    See :func:`cohen_kappa` for the returned keys.
    """
    return kappa_from_tables(table[None], w, confidence)[0]


def kappa_from_tables(tables: np.ndarray, w: np.ndarray, confidence: float = 0.95) -> list[dict]:
    """Vectorised :func:`kappa_from_table` over a stack of tables of shape (P, q, q)."""
    tables = np.asarray(tables, dtype=float)
    n = tables.sum((1, 2))
    safe_n = np.where(n > 0, n, 1.0)
    p = tables / safe_n[:, None, None]
    pr, pc = p.sum(2), p.sum(1)                                   # (P, q)
    po = (w[None] * p).sum((1, 2))
    outer = pr[:, :, None] * pc[:, None, :]
    pe = (w[None] * outer).sum((1, 2))
    undefined = (n == 0) | np.isclose(pe, 1.0)
    one_minus = np.where(undefined, 1.0, 1 - pe)
    k = (po - pe) / one_minus
    wsum = (pc @ w.T)[:, :, None] + (pr @ w)[:, None, :]          # w̄_i. + w̄_.j
    term = (p * (w[None] - wsum * (1 - k)[:, None, None]) ** 2).sum((1, 2))
    var = (term - (k - pe * (1 - k)) ** 2) / (safe_n * one_minus ** 2)
    var0 = ((outer * (w[None] - wsum) ** 2).sum((1, 2)) - pe ** 2) / (safe_n * one_minus ** 2)
    se = np.sqrt(np.maximum(var, 0.0))
    zc = qnorm_upper((1 - confidence) / 2)
    testable = var0 > 1e-15
    z = np.where(testable, k / np.sqrt(np.where(testable, var0, 1.0)), np.nan)
    pval = 2 * special.ndtr(-np.abs(z))  # = stats.norm.sf, without its per-call overhead
    out = []
    for i in range(tables.shape[0]):
        if n[i] == 0:
            out.append({"kappa": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "z": math.nan,
                        "p_value": math.nan, "agreement": math.nan, "chance": math.nan, "n": 0,
                        "note": "no unit rated by both raters"})
            continue
        row = {"kappa": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "z": math.nan,
               "p_value": math.nan, "agreement": float(po[i]), "chance": float(pe[i]), "n": int(n[i]), "note": ""}
        if undefined[i]:
            row["note"] = ("both raters used one and the same category only: kappa undefined "
                           f"(agreement {po[i]:.4g})")
            out.append(row)
            continue
        lo, hi, cut = truncate_interval(float(k[i] - zc * se[i]), float(k[i] + zc * se[i]), -1.0, 1.0)
        notes = [cut] if cut else []
        row.update(kappa=float(k[i]), se=float(se[i]), ci_low=lo, ci_high=hi)
        if testable[i]:
            row.update(z=float(z[i]), p_value=float(pval[i]))
        else:
            notes.append("a rater used one category only: the test of kappa = 0 is undefined")
        if n[i] < 2:
            notes.append("one unit only: SE undefined")
        row["note"] = "; ".join(notes)
        out.append(row)
    return out


def _pair_table(ca: np.ndarray, cb: np.ndarray, q: int) -> np.ndarray:
    """Contingency table of two code vectors (−1 = missing)."""
    ok = (ca >= 0) & (cb >= 0)
    return np.bincount(ca[ok] * q + cb[ok], minlength=q * q).reshape(q, q).astype(float)


def _code_matrix(m: np.ndarray, categories) -> np.ndarray:
    out = np.full(m.shape, -1, dtype=np.int64)
    ok = ~np.isnan(m)
    out[ok] = _codes(m[ok], categories)
    return out


def conger_kappa(ratings: np.ndarray, categories, weights: str = "quadratic", confidence: float = 0.95) -> dict:
    """Conger's (weighted) kappa of r ≥ 2 raters, with Gwet's linearization SE (missing ratings allowed).

    Parameters
    ----------
    ratings : ndarray, shape (n_units, n_raters)
        NaN for a missing rating. Units rated by fewer than two raters count in the chance term only.
    categories : sequence
        Full category set of the scale.
    weights : {"none", "linear", "quadratic"}

    Returns
    -------
    dict
        ``kappa, se, ci_low, ci_high`` (kappa ± t_{n−1}·se, cut at 1 as irrCAC does and at −1, note),
        ``z`` (kappa/se), ``p_value`` (two-sided, t with n − 1 df), ``agreement`` (pa), ``chance``
        (pe), ``n``, ``note``. Reproduces irrCAC's ``conger.kappa.raw``.
    """
    x = np.asarray(ratings, dtype=float)
    n, r = x.shape
    out = {"kappa": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "z": math.nan,
           "p_value": math.nan, "agreement": math.nan, "chance": math.nan, "n": n, "note": ""}
    if r < 2 or n == 0:
        out["note"] = "needs at least two raters and one unit"
        return out
    cats = np.asarray(categories, dtype=float)
    q = cats.size
    w = weight_matrix(cats, weights)
    present = ~np.isnan(x)
    codes = np.where(present, np.searchsorted(cats, np.where(present, x, cats[0])), -1)
    if np.any(present & ((codes >= q) | (cats[np.clip(codes, 0, q - 1)] != np.where(present, x, 0)))):
        raise ValueError(f"kappa: ratings outside the categories {list(cats)}")
    onehot = np.zeros((n, r, q))
    ii, gg = np.nonzero(present)
    onehot[ii, gg, codes[ii, gg]] = 1.0
    agree = onehot.sum(1)                                  # n × q: raters per category
    ri = agree.sum(1)
    agree_w = agree @ w.T
    sum_q = (agree * (agree_w - 1)).sum(1)
    two = ri >= 2
    n2 = int(two.sum())
    if n2 == 0:
        out["note"] = "no unit rated by two or more raters"
        return out
    pa = float((sum_q[two] / (ri[two] * (ri[two] - 1))).sum() / n2)
    classif = onehot.sum(0)                                # r × q
    ng = classif.sum(1)
    if np.any(ng == 0):
        out["note"] = "a rater rated no unit"
        return out
    pgk = classif / ng[:, None]
    pmean = pgk.mean(0)
    s2 = (pgk.T @ pgk - r * np.outer(pmean, pmean)) / (r - 1)
    pe = float((w * (np.outer(pmean, pmean) - s2 / r)).sum())
    out["agreement"], out["chance"] = pa, pe
    if math.isclose(pe, 1.0):
        out["note"] = f"every rater used one and the same category only: kappa undefined (agreement {pa:.4g})"
        return out
    k = (pa - pe) / (1 - pe)
    # Linearization (Gwet 2014): per-unit contributions to pa and pe.
    eps = present.astype(float)
    # λ_ig = (n/n_g) Σ_k [Σ_l w_kl (δ_igl − (ε_ig − n_g/n) p_gl)] (r·p̄_k − p_gk), vectorised over k, l
    inner = onehot @ w.T - (eps - (ng / n)[None, :])[:, :, None] * (pgk @ w.T)[None, :, :]   # (n, r, q)
    inner *= (n / ng)[None, :, None]
    lam = (inner * (r * pgk.mean(0)[None, :] - pgk)[None, :, :]).sum(2)
    pe_i = lam.sum(1) / (r * (r - 1))
    den = ri * (ri - 1)
    den = np.where(den == 0, -1, den)
    pa_i = sum_q / den
    k_i = (n / n2) * (pa_i - pe * two) / (1 - pe)
    k_ix = k_i - 2 * (1 - k) * (pe_i - pe) / (1 - pe)
    out["kappa"] = k
    if n >= 2:
        var = ((k_ix - k) ** 2).sum() / (n * (n - 1))
        se = math.sqrt(var)
        tc = stats.t.isf((1 - confidence) / 2, n - 1)
        lo, hi, cut = truncate_interval(k - se * tc, k + se * tc, -1.0, 1.0)
        out.update(se=se, ci_low=lo, ci_high=hi, note=cut)
        if se > 0:
            out["z"] = k / se
            out["p_value"] = float(2 * stats.t.sf(abs(k / se), n - 1))
        else:
            out["note"] = join_notes(out["note"], "every unit rated identically by all raters: SE 0, test undefined")
    else:
        out["note"] = "one unit only: SE undefined"
    return out


def fleiss_kappa(ratings: np.ndarray, categories, confidence: float = 0.95) -> dict:
    """Fleiss' kappa of r ≥ 2 raters with the SE under H0, as R's ``irr::kappam.fleiss``.

    Units with a missing rating are dropped (Fleiss' kappa needs the same number of ratings per
    unit); ``note`` gives how many. ``ci_low``/``ci_high`` use that SE (a test SE, so the interval
    is approximate); ``z`` and ``p_value`` are irr's.
    """
    x = np.asarray(ratings, dtype=float)
    complete = ~np.isnan(x).any(1)
    dropped = int((~complete).sum())
    x = x[complete]
    n, r = x.shape
    out = {"kappa": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "z": math.nan,
           "p_value": math.nan, "agreement": math.nan, "chance": math.nan, "n": n,
           "note": f"{dropped} unit(s) with a missing rating dropped" if dropped else ""}
    if n == 0 or r < 2:
        out["note"] = (out["note"] + "; " if out["note"] else "") + "no complete unit with two or more raters"
        return out
    cats = np.asarray(categories, dtype=float)
    counts = np.stack([(x == c).sum(1) for c in cats], axis=1).astype(float)
    if not np.all(counts.sum(1) == r):
        raise ValueError(f"kappa: ratings outside the categories {list(cats)}")
    po = float(((counts ** 2).sum(1) - r).sum() / (r * (r - 1) * n))
    pj = counts.sum(0) / (n * r)
    pe = float((pj ** 2).sum())
    out["agreement"], out["chance"] = po, pe
    if math.isclose(pe, 1.0):
        out["note"] = "; ".join(filter(None, [out["note"], "every rating in one category: kappa undefined"]))
        return out
    k = (po - pe) / (1 - pe)
    qj = 1 - pj
    spq = float((pj * qj).sum())
    var = 2 / (spq ** 2 * n * r * (r - 1)) * (spq ** 2 - float((pj * qj * (qj - pj)).sum()))
    se = math.sqrt(var)
    zc = qnorm_upper((1 - confidence) / 2)
    lo, hi, cut = truncate_interval(k - zc * se, k + zc * se, -1.0, 1.0)
    out.update(kappa=k, se=se, ci_low=lo, ci_high=hi, z=k / se, p_value=float(2 * stats.norm.sf(abs(k / se))),
               note=join_notes(out["note"], cut))
    return out


def icc_a1(matrix: np.ndarray, confidence: float = 0.95) -> dict:
    """ICC(A,1): two-way random effects, absolute agreement, single measures (McGraw & Wong 1996).

    Parameters
    ----------
    matrix : ndarray, shape (n_units, k_raters)
        Complete rows only (rows with a NaN are dropped; ``note`` counts them).

    Returns
    -------
    dict
        ``icc, ci_low, ci_high, n, raters, f, df1, df2, p_value, note``. The interval is McGraw &
        Wong's (as R's ``irr::icc(model="twoway", type="agreement", unit="single")``), truncated to
        [−1, 1] with a note when a small sample pushes it past; ``f`` is
        MSR/MSE on (n − 1, (n − 1)(k − 1)) df, testing ICC = 0.
    """
    m = np.asarray(matrix, dtype=float)
    complete = ~np.isnan(m).any(1)
    dropped = int((~complete).sum())
    m = m[complete]
    n, k = m.shape
    out = {"icc": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "raters": k, "f": math.nan,
           "df1": n - 1, "df2": (n - 1) * (k - 1), "p_value": math.nan,
           "note": f"{dropped} unit(s) with a missing measurement dropped" if dropped else ""}

    def note(msg: str) -> dict:
        out["note"] = "; ".join(filter(None, [out["note"], msg]))
        return out

    if n < 2 or k < 2:
        return note("needs at least two units and two raters")
    grand = m.mean()
    ssr = k * ((m.mean(1) - grand) ** 2).sum()
    ssc = n * ((m.mean(0) - grand) ** 2).sum()
    sst = ((m - grand) ** 2).sum()
    sse = sst - ssr - ssc
    msr, msc, mse = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    tiny = 1e-12 * sst / max(n * k - 1, 1)  # rounding residue of a sum of squares that is exactly zero
    msr, msc, mse = (0.0 if v < tiny else v for v in (msr, msc, mse))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    if denom <= 0 or sst == 0:
        return note("no variance between or within units: ICC undefined")
    icc = (msr - mse) / denom
    out["icc"] = icc
    if icc < -1:  # possible on a few units when raters' means differ more than units do; R's irr gives it too
        note("estimate below −1 (few units, rater differences larger than unit differences): not interpretable")
    if mse > 0:
        out["f"] = msr / mse
        out["p_value"] = float(stats.f.sf(out["f"], n - 1, (n - 1) * (k - 1)))
    alpha = 1 - confidence
    if icc >= 1:
        return note("perfect agreement: confidence interval undefined")
    if mse == 0:
        return note("no residual variance (readers differ by a constant only): confidence interval undefined")
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    fl = stats.f.isf(alpha / 2, n - 1, v)
    fu = stats.f.isf(alpha / 2, v, n - 1)
    lo = n * (msr - fl * mse) / (fl * (k * msc + (k * n - k - n) * mse) + n * msr)
    hi = n * (fu * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu * msr)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi + 1e-12:
        return note("McGraw–Wong interval undefined for these mean squares")
    lo, hi = min(lo, hi), max(lo, hi)  # equal up to rounding
    out["ci_low"], out["ci_high"], cut = truncate_interval(lo, hi, -1.0, 1.0)
    return note(cut.replace("Wald interval", "McGraw–Wong interval"))


def spearman(a, b) -> dict:
    """Spearman's rho with the t-approximation p value (R ``cor.test(method="spearman", exact=FALSE)``)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    n = a.size
    if n < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return {"n": n, "rho": math.nan, "p_value": math.nan,
                "note": "fewer than 3 pairs or a constant rater: correlation undefined"}
    res = stats.spearmanr(a, b)
    return {"n": n, "rho": float(res.statistic), "p_value": float(res.pvalue), "note": ""}


# ---------------------------------------------------------------------------------------------
# Tables


def _wide(df: pd.DataFrame, columns: str) -> pd.DataFrame:
    return df.set_index(["case", "level", columns])["value"].unstack(columns)


def kappa_table(answers: pd.DataFrame, reference: str, item_categories: dict[str, list[float]],
                item_weights: dict[str, list[str]], conger_weights: str = "quadratic",
                confidence: float = 0.95) -> pd.DataFrame:
    """Kappa table: inter-reader within each arm, and inter-protocol (arm vs reference) within each reader.

    Parameters
    ----------
    answers : DataFrame
        Validated tidy answers of categorical items (Likert, binary, finding).
    reference : str
        Reference arm (inter-protocol rows compare each other arm with it).
    item_categories : dict
        ``item -> full category set``.
    item_weights : dict
        ``item -> Cohen weights to report`` (binary/finding items: ``["none"]``).
    conger_weights : str
        Weights of Conger's kappa (seed 000: quadratic).

    Returns
    -------
    DataFrame
        ``scope, sequence, item, arm, reference, reader, method, weights, raters, n, kappa, se,
        ci_low, ci_high, z, p_value, agreement, chance, note``. ``scope`` is ``interreader`` (Cohen
        per reader pair ``"r1|r2"``; Conger and, for 3+ readers, Fleiss over all readers with
        ``reader = "all"``) or ``interprotocol`` (Cohen, each reader's arm vs reference; ``arm`` is
        the compared arm, ``reference`` the reference arm). The unit is a case (× level).
    """
    rows = []
    for (seq, item), grp in answers.groupby(["sequence", "item"], sort=True):
        cats = item_categories[item]
        wlist = item_weights[item]
        wmats = {wt: weight_matrix(cats, wt) for wt in wlist}
        q = len(cats)
        cube = grp.set_index(["case", "level", "arm", "reader"])["value"].unstack(["arm", "reader"]).sort_index(axis=1)
        arms = list(dict.fromkeys(cube.columns.get_level_values("arm")))
        for arm in arms:
            wide = cube[arm].dropna(how="all")
            readers = list(wide.columns)
            codes = _code_matrix(wide.to_numpy(dtype=float), cats)
            base = {"scope": "interreader", "sequence": seq, "item": item, "arm": arm, "reference": ""}
            pairs = list(itertools.combinations(list(enumerate(readers)), 2))
            if pairs:
                tables = np.stack([_pair_table(codes[:, ia], codes[:, ib], q) for (ia, _), (ib, _) in pairs])
                results = {wt: kappa_from_tables(tables, wmats[wt], confidence) for wt in wlist}
                for i, ((_, ra), (_, rb)) in enumerate(pairs):
                    for wt in wlist:
                        rows.append({**base, "reader": f"{ra}|{rb}", "method": "cohen", "weights": wt, "raters": 2,
                                     **results[wt][i]})
            if len(readers) >= 2:
                mat = wide.to_numpy(dtype=float)
                cw = conger_weights if len(cats) > 2 else "none"
                res = conger_kappa(mat, cats, cw, confidence)
                rows.append({**base, "reader": ALL, "method": "conger", "weights": cw, "raters": len(readers), **res})
                if len(readers) >= 3:
                    res = fleiss_kappa(mat, cats, confidence)
                    rows.append({**base, "reader": ALL, "method": "fleiss", "weights": "none",
                                 "raters": len(readers), **res})
        if reference not in arms:
            continue
        readers_all = sorted(set(cube.columns.get_level_values("reader")))
        all_codes = _code_matrix(cube.to_numpy(dtype=float), cats)
        col = {key: i for i, key in enumerate(cube.columns)}
        combos = [(reader, arm) for reader in readers_all for arm in arms
                  if arm != reference and (arm, reader) in col and (reference, reader) in col]
        if combos:
            tables = np.stack([_pair_table(all_codes[:, col[(arm, reader)]], all_codes[:, col[(reference, reader)]], q)
                               for reader, arm in combos])
            results = {wt: kappa_from_tables(tables, wmats[wt], confidence) for wt in wlist}
            for i, (reader, arm) in enumerate(combos):
                for wt in wlist:
                    rows.append({"scope": "interprotocol", "sequence": seq, "item": item, "arm": arm,
                                 "reference": reference, "reader": reader, "method": "cohen", "weights": wt,
                                 "raters": 2, **results[wt][i]})
    return frame(rows, KAPPA_COLUMNS)


def icc_table(answers: pd.DataFrame, items: list[str], confidence: float = 0.95) -> pd.DataFrame:
    """ICC(A,1) between readers per sequence × item × arm (seed 001 Table 3).

    Returns ``sequence, item, arm, type, icc, ci_low, ci_high, n, raters, f, df1, df2, p_value,
    note``; ``type`` is ``"ICC(A,1)"``. Units (case × level) lacking a reader are dropped.
    """
    rows = []
    df = answers[answers["item"].isin(items)]
    for (seq, item, arm), grp in df.groupby(["sequence", "item", "arm"], sort=True):
        wide = _wide(grp, "reader")
        res = icc_a1(wide.to_numpy(dtype=float), confidence)
        rows.append({"sequence": seq, "item": item, "arm": arm, "type": "ICC(A,1)", **res})
    return frame(rows, ICC_COLUMNS)


def _spearman_pairs(wide: pd.DataFrame) -> list[dict]:
    """Spearman for every reader pair of a wide (units × readers) table.

    Complete tables are ranked once and correlated as a matrix (the same numbers as
    ``scipy.stats.spearmanr``, whose p is the t approximation); tables with holes go pair by pair.
    """
    readers = list(wide.columns)
    m = wide.to_numpy(dtype=float)
    out = []
    if not np.isnan(m).any() and m.shape[0] >= 3:
        ranks = stats.rankdata(m, axis=0)
        const = np.ptp(m, axis=0) == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.corrcoef(ranks, rowvar=False)
        n = m.shape[0]
        for (i, ra), (j, rb) in itertools.combinations(list(enumerate(readers)), 2):
            if const[i] or const[j]:
                res = {"n": n, "rho": math.nan, "p_value": math.nan,
                       "note": "fewer than 3 pairs or a constant rater: correlation undefined"}
            else:
                r = float(np.clip(rho[i, j], -1.0, 1.0))
                if abs(r) >= 1.0:
                    pv = 0.0
                else:
                    t = r * math.sqrt((n - 2) / ((1.0 - r) * (1.0 + r)))
                    pv = float(2 * special.stdtr(n - 2, -abs(t)))  # = stats.t.sf
                res = {"n": n, "rho": r, "p_value": pv, "note": ""}
            out.append({"reader_a": ra, "reader_b": rb, **res})
        return out
    for ra, rb in itertools.combinations(readers, 2):
        out.append({"reader_a": ra, "reader_b": rb, **spearman(wide[ra].to_numpy(), wide[rb].to_numpy())})
    return out


def spearman_table(answers: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    """Spearman correlation between each pair of readers (seed 003 Table 3).

    One row per sequence × item × arm × reader pair, plus rows pooled over all the given items,
    sequences and arms (``sequence``, ``item`` and ``arm`` = ``"all"``), as seed 003 reports one rho
    per radiologist pair across all features.
    """
    rows = []
    df = answers[answers["item"].isin(items)]
    if df.empty:
        return frame(rows, SPEARMAN_COLUMNS)
    full = df.set_index(["sequence", "item", "arm", "case", "level", "reader"])["value"].unstack("reader")
    for (seq, item, arm), wide in full.groupby(level=["sequence", "item", "arm"], sort=True):
        wide = wide.dropna(how="all", axis=1)
        for res in _spearman_pairs(wide):
            rows.append({"sequence": seq, "item": item, "arm": arm, **res})
    for res in _spearman_pairs(full):
        rows.append({"sequence": ALL, "item": ALL, "arm": ALL, **res})
    return frame(rows, SPEARMAN_COLUMNS)
