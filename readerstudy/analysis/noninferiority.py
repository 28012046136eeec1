"""Noninferiority of each arm against the reference arm (seed 000 Table 4).

One-sided paired Wilcoxon signed-rank test of arm − reference against a margin, with the
Hodges–Lehmann (pseudo)median and its one-sided confidence bound, exactly as R's
``wilcox.test(x, y, paired=TRUE, mu=margin, alternative=direction, exact=FALSE, correct=TRUE,
conf.int=TRUE)`` prints them (see :mod:`.rcompat`), then Benjamini–Hochberg (or Bonferroni)
adjustment across all rows of the table (R's ``p.adjust``).

References
----------
Ahn S, Park SH, Lee KH. How to demonstrate similarity by using noninferiority and equivalence
statistical testing in radiology research. Radiology. 2013;267(2):328–338.
Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B. 1995;57:289–300.
"""
from __future__ import annotations

import pandas as pd

from .common import ALL, frame, unit_means
from .rcompat import p_adjust, signed_rank_test

COLUMNS = ["sequence", "item", "arm", "reference", "reader", "unit", "n", "n_nonzero", "pseudomedian",
           "conf_bound", "conf_level", "margin", "direction", "statistic", "z", "p_value", "p_adjusted",
           "adjustment", "noninferior", "p_inferior", "p_inferior_adjusted", "inferior", "mean_arm",
           "mean_reference", "note"]


def paired_units(answers: pd.DataFrame, reference: str, unit: str) -> pd.DataFrame:
    """Pair every arm's unit with the reference arm's.

    Returns ``sequence, item, arm, reader, case, level, x, y`` where ``x`` is the arm's value and
    ``y`` the reference's: with ``unit="case-mean"`` both are averages over readers per case
    (``reader`` is ``"all"``); with ``unit="reader"`` each reader's own pair. Units lacking either
    side (missing answers) are dropped, as R drops incomplete pairs.
    """
    if unit == "case-mean":
        vals = unit_means(answers, ["sequence", "item", "arm", "case", "level"]).drop(columns="readers")
        vals["reader"] = ALL
    elif unit == "reader":
        vals = answers[["sequence", "item", "arm", "reader", "case", "level", "value"]]
    else:
        raise ValueError(f"unit must be 'case-mean' or 'reader', got {unit!r}")
    keys = ["sequence", "item", "reader", "case", "level"]
    ref = vals[vals["arm"] == reference][keys + ["value"]].rename(columns={"value": "y"})
    arms = vals[vals["arm"] != reference].rename(columns={"value": "x"})
    out = arms.merge(ref, on=keys, how="inner")
    return out[["sequence", "item", "arm", "reader", "case", "level", "x", "y"]]


def noninferiority(answers: pd.DataFrame, reference: str, margins: dict[str, tuple[float, str]],
                   unit: str = "case-mean", adjust: str = "bh", alpha: float = 0.05,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Noninferiority table: one row per sequence × item × arm (× reader with ``unit="reader"``).

    Parameters
    ----------
    answers : DataFrame
        Validated tidy answers.
    reference : str
        The reference arm.
    margins : dict
        ``item -> (margin, direction)``; direction ``"greater"`` tests H1: arm − reference > margin
        (Likert, margin −0.5), ``"less"`` tests H1: arm − reference < margin (artifact presence, +0.2).
    unit : {"case-mean", "reader"}
        Average readers per case first (seed 000) or test each reader's pairs.
    adjust : {"bh", "bonferroni", "none"}
        Multiplicity adjustment across all rows of the table.

    Returns
    -------
    DataFrame
        Columns ``sequence, item, arm, reference, reader, unit, n, n_nonzero, pseudomedian,
        conf_bound, conf_level, margin, direction, statistic, z, p_value, p_adjusted, adjustment,
        noninferior, p_inferior, p_inferior_adjusted, inferior, mean_arm, mean_reference, note``.
        ``statistic`` is R's V; ``pseudomedian`` the Hodges–Lehmann estimate of arm − reference;
        ``conf_bound`` its one-sided bound (lower for "greater", upper for "less"); ``noninferior``
        is ``p_adjusted < alpha``. ``p_inferior`` is the one-sided test in the opposite direction
        (H1: the arm is worse than the margin allows), adjusted the same way into
        ``p_inferior_adjusted``; ``inferior`` is ``p_inferior_adjusted < alpha``. A row neither
        noninferior nor inferior is inconclusive.

    Notes
    -----
    When every difference equals the margin the p value is undefined (R: NaN): the row says so in
    ``note`` and ``noninferior`` is False. When all differences are equal R cannot compute the
    interval; the pseudomedian is that difference and the bound is NaN, with a note.
    """
    pairs = paired_units(answers[answers["item"].isin(list(margins))], reference, unit)
    rows = []
    for (seq, item, arm, reader), grp in pairs.groupby(["sequence", "item", "arm", "reader"], sort=True):
        margin, direction = margins[item]
        d = grp["x"].to_numpy() - grp["y"].to_numpy()
        res = signed_rank_test(d, mu=margin, alternative=direction, conf_level=confidence)
        worse = signed_rank_test(d, mu=margin, alternative="less" if direction == "greater" else "greater",
                                 conf_int=False)
        rows.append({"sequence": seq, "item": item, "arm": arm, "reference": reference, "reader": reader,
                     "unit": unit, "n": res.n, "n_nonzero": res.n_nonzero, "pseudomedian": res.estimate,
                     "conf_bound": res.conf_low if direction == "greater" else res.conf_high,
                     "conf_level": res.conf_level, "margin": margin, "direction": direction,
                     "statistic": res.statistic, "z": res.z, "p_value": res.p_value,
                     "p_inferior": worse.p_value,
                     "mean_arm": float(grp["x"].mean()), "mean_reference": float(grp["y"].mean()),
                     "note": res.note})
    out = frame(rows, COLUMNS)
    if len(out):
        out["p_adjusted"] = p_adjust(out["p_value"].to_numpy(dtype=float), adjust)
        out["adjustment"] = adjust
        out["noninferior"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
        out["p_inferior_adjusted"] = p_adjust(out["p_inferior"].to_numpy(dtype=float), adjust)
        out["inferior"] = (out["p_inferior_adjusted"] < alpha).fillna(False).astype(bool)
    return out
