"""Statistics computed exactly as R computes them, where no Python library does.

* :func:`signed_rank_test` — R's ``wilcox.test(x, y, paired=TRUE, mu=, alternative=, exact=FALSE,
  correct=TRUE, conf.int=TRUE)`` for the one-sample / paired case: the normal-approximation p value
  with tie and continuity correction, and the Hodges–Lehmann (pseudo)median and confidence bound that
  R finds by root-finding on the standardized signed-rank statistic.
* :func:`zeroin` — Brent's root finder as R's ``uniroot`` runs it, so that the pseudomedian agrees
  with R's to its printed digits (R stops at ``tol = 1e-4``, so the exact stopping point matters).

Written for this project from the published algorithms (Brent 1973; Bauer 1972) and R's documented
behaviour; scipy's ``wilcoxon`` gives the same p value but neither the estimate nor the bound.

References
----------
Bauer DF. Constructing confidence sets using rank statistics. J Am Stat Assoc. 1972;67:687–690.
Brent RP. Algorithms for Minimization without Derivatives. Prentice-Hall; 1973. Chapter 4.
Hollander M, Wolfe DA, Chicken E. Nonparametric Statistical Methods. 3rd ed. Wiley; 2013.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable

import numpy as np
from scipy import special, stats

_EPS = np.finfo(float).eps
_N01 = NormalDist()


def qnorm(p: float) -> float:
    """Lower-tail standard normal quantile by Wichura's AS 241, the algorithm of R's ``qnorm``.

    scipy's ``ndtri`` differs from R in the last bits, which moves R's root finder; this does not.
    """
    return _N01.inv_cdf(p)


def qnorm_upper(p: float) -> float:
    """Upper-tail quantile, as R's ``qnorm(p, lower.tail = FALSE)``."""
    return -_N01.inv_cdf(p)


def zeroin(f: Callable[[float], float], lower: float, upper: float, f_lower: float, f_upper: float,
           tol: float = 1e-4, maxiter: int = 1000) -> float:
    """Brent's zero finder with R's stopping rule (``uniroot``): returns the last iterate ``b``.

    ``f_lower`` and ``f_upper`` must have opposite signs (or one be zero).
    """
    a, b, fa, fb = lower, upper, f_lower, f_upper
    c, fc = a, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b = b + new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _rank_abs(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Average ranks of |x| (R's ``rank``, ties averaged) and the tie term Σ(t³ − t)."""
    _, inverse, counts = np.unique(np.abs(x), return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]
    c = counts.astype(float)
    return ranks, float(np.sum(c * c * c - c))


@dataclass(frozen=True)
class SignedRankResult:
    """Result of :func:`signed_rank_test` (names follow R's ``htest`` fields)."""

    n: int               #: pairs with a non-missing difference
    n_nonzero: int       #: differences left after dropping d − mu == 0
    statistic: float     #: V, the sum of ranks of positive d − mu
    z: float             #: standardized statistic (continuity-corrected if ``correct``)
    p_value: float
    estimate: float      #: Hodges–Lehmann (pseudo)median of d
    conf_low: float
    conf_high: float
    conf_level: float    #: the confidence level achieved (R lowers it when it must)
    note: str = ""


def signed_rank_test(d, mu: float = 0.0, alternative: str = "two-sided", correct: bool = True,
                     conf_level: float = 0.95, tol_root: float = 1e-4, conf_int: bool = True) -> SignedRankResult:
    """Wilcoxon signed-rank test of the differences ``d`` against ``mu``, as R's ``wilcox.test``.

    Parameters
    ----------
    d : array_like
        Paired differences ``x − y`` (NaN are dropped, as R drops incomplete pairs).
    mu : float
        The location under H0 (the noninferiority margin).
    alternative : {"two-sided", "greater", "less"}
    correct : bool
        Continuity correction of the normal approximation (R's default ``TRUE``).
    conf_level : float
        Confidence level of the interval (one-sided for one-sided alternatives).
    conf_int : bool
        Compute the estimate and interval (R's ``conf.int=TRUE``); without it they are NaN.

    Returns
    -------
    SignedRankResult
        ``p_value`` equals R's with ``exact=FALSE``; ``estimate`` is the (pseudo)median R prints
        with ``conf.int=TRUE`` (root of the uncorrected standardized statistic, ``tol=1e-4``);
        ``conf_low``/``conf_high`` the interval R prints (±inf on the open side).

    Notes
    -----
    Degenerate data follow R: with no non-zero ``d − mu`` the statistic is 0 and the p value is
    NaN (R prints ``NaN``) — ``note`` says so. When every difference is the same value, R cannot
    compute the interval; the estimate is that value (R's "midrange") and ``note`` says so.
    """
    alt = {"two-sided": "two.sided", "two.sided": "two.sided", "greater": "greater", "less": "less"}.get(alternative)
    if alt is None:
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    n_all = int(d.size)
    if n_all == 0:
        raise ValueError("signed-rank test: no non-missing differences")
    x = d - mu
    x = x[x != 0]
    n = int(x.size)
    notes = []
    if n == 0:
        statistic, z, p = 0.0, math.nan, math.nan
        notes.append("every difference equals the margin: the test is undefined (R: NaN)")
    else:
        ranks, ties = _rank_abs(x)
        statistic = float(ranks[x > 0].sum())
        zc = statistic - n * (n + 1) / 4
        sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - ties / 48)
        corr = 0.0
        if correct:
            corr = {"two.sided": math.copysign(0.5, zc) if zc != 0 else 0.0, "greater": 0.5, "less": -0.5}[alt]
        z = (zc - corr) / sigma if sigma > 0 else math.nan
        if alt == "less":
            p = special.ndtr(z)
        elif alt == "greater":
            p = special.ndtr(-z)
        else:
            p = 2 * min(special.ndtr(z), special.ndtr(-z))
        p = float(p)

    # Confidence interval and estimate: R works on (d - mu) + mu, bit for bit.
    xc = (d - mu)
    xc = xc[xc != 0] + mu
    estimate, lo, hi, achieved = math.nan, math.nan, math.nan, conf_level
    if not conf_int:
        pass
    elif n > 0:
        mumin, mumax = float(xc.min()), float(xc.max())

        def w(delta: float, use_correct: bool) -> float:
            xd = xc - delta
            xd = xd[xd != 0]
            nx = xd.size
            if nx == 0:
                return math.nan
            dr, t = _rank_abs(xd)
            zd = float(dr[xd > 0].sum()) - nx * (nx + 1) / 4
            sig = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - t / 48)
            cc = 0.0
            if use_correct:
                cc = {"two.sided": (math.copysign(0.5, zd) if zd != 0 else 0.0), "greater": 0.5, "less": -0.5}[alt]
            if sig == 0:
                return math.copysign(math.inf, zd - cc) if zd - cc != 0 else math.nan
            return (zd - cc) / sig

        wmin = w(mumin, correct)
        wmax = w(mumax, correct) if math.isfinite(wmin) else math.nan
        if not math.isfinite(wmax):
            estimate = (mumin + mumax) / 2
            lo = -math.inf if alt == "less" else math.nan
            hi = math.inf if alt == "greater" else math.nan
            achieved = 0.0
            notes.append("all differences are equal: R cannot compute a confidence interval; "
                         "the estimate is that common difference")
        else:
            def root(zq: float) -> float:
                return zeroin(lambda v: w(v, correct) - zq, mumin, mumax, wmin - zq, wmax - zq, tol=tol_root)

            alpha = 1 - conf_level
            if alt == "two.sided":
                while wmin - qnorm_upper(alpha / 2) < 0 or wmax - qnorm(alpha / 2) > 0:
                    alpha *= 2
                if alpha < 1:
                    lo, hi = root(qnorm_upper(alpha / 2)), root(qnorm(alpha / 2))
                else:
                    lo = hi = float(np.median(xc))
            elif alt == "greater":
                while wmin - qnorm_upper(alpha) < 0:
                    alpha *= 2
                lo = root(qnorm_upper(alpha)) if alpha < 1 else float(np.median(xc))
                hi = math.inf
            else:
                # R tests Wmumax against qnorm(alpha/2) here but roots at qnorm(alpha); kept as R has it.
                while wmax - qnorm(alpha / 2) > 0:
                    alpha *= 2
                hi = root(qnorm(alpha)) if alpha < 1 else float(np.median(xc))
                lo = -math.inf
            if alpha >= 1 or 1 - conf_level < alpha * 0.75:
                achieved = 1 - min(1.0, alpha)
                notes.append(f"requested confidence level not achievable; achieved {achieved:.4g} (as R)")
            w0min, w0max = w(mumin, False), w(mumax, False)
            estimate = zeroin(lambda v: w(v, False), mumin, mumax, w0min, w0max, tol=tol_root)
    elif n_all > 0:
        # Every d equals mu: R drops them all and reports NaN estimate; the HL estimate is mu itself.
        estimate = float(np.median(d))
        notes.append("Hodges–Lehmann estimate is the common difference (R prints NaN here)")
    return SignedRankResult(n=n_all, n_nonzero=n, statistic=statistic, z=float(z), p_value=p,
                            estimate=float(estimate), conf_low=float(lo), conf_high=float(hi),
                            conf_level=float(achieved), note="; ".join(notes))


def mcnemar_test(b: int, c: int) -> dict[str, float]:
    """McNemar's test on the discordant counts ``b`` (reference only) and ``c`` (arm only).

    Returns the exact two-sided binomial p (``binom.test(b, b + c)``, which for p = 0.5 is
    ``min(1, 2·P(X ≤ min(b, c)))`` — statsmodels' ``mcnemar(exact=True)``) and R's
    ``mcnemar.test`` χ² with continuity correction, (|b − c| − 1)²/(b + c), which R applies only
    when b ≠ c. With b + c = 0 both are undefined in R (NaN); we return p_exact = 1 and a note.
    """
    b, c = int(b), int(c)
    out = {"p_exact": math.nan, "statistic": math.nan, "p_asymptotic": math.nan, "note": ""}
    m = b + c
    if m == 0:
        out["p_exact"] = 1.0
        out["note"] = "no discordant pairs: exact p = 1; the chi-squared statistic is undefined (R: NaN)"
        return out
    out["p_exact"] = float(min(1.0, 2 * stats.binom.cdf(min(b, c), m, 0.5)))
    y = abs(b - c) - 1 if b != c else 0
    out["statistic"] = float(y * y / m)
    out["p_asymptotic"] = float(stats.chi2.sf(out["statistic"], 1))
    return out


def mcnemar_tests(b: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised :func:`mcnemar_test` over arrays of discordant counts (same results and notes)."""
    b = np.asarray(b, dtype=int)
    c = np.asarray(c, dtype=int)
    m = b + c
    none = m == 0
    safe_m = np.where(none, 1, m)
    p_exact = np.where(none, 1.0, np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), safe_m, 0.5)))
    y = np.where(b != c, np.abs(b - c) - 1, 0).astype(float)
    statistic = np.where(none, np.nan, y * y / safe_m)
    p_asym = np.where(none, np.nan, stats.chi2.sf(np.where(none, 0.0, statistic), 1))
    note = np.where(none, "no discordant pairs: exact p = 1; the chi-squared statistic is undefined (R: NaN)", "")
    return {"p_exact": p_exact, "statistic": statistic, "p_asymptotic": p_asym, "note": note}


def p_adjust(p, method: str) -> np.ndarray:
    """R's ``p.adjust``: ``"bh"`` (Benjamini–Hochberg), ``"bonferroni"`` or ``"none"``; NaN kept in place.

    R drops NaN and adjusts over the rest (``n = length(p[!is.na(p)])``); so do we, through
    statsmodels' ``multipletests`` (``fdr_bh`` / ``bonferroni``), which gives R's numbers.
    """
    from statsmodels.stats.multitest import multipletests

    methods = {"bh": "fdr_bh", "bonferroni": "bonferroni"}
    if method not in methods and method != "none":
        raise ValueError(f"p_adjust: unknown method {method!r}")
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    out[ok] = p[ok] if method == "none" else multipletests(p[ok], method=methods[method])[1]
    return out
