"""Side-by-side preference (seed 003 Table 2).

A preference answer carries ``arm = "A|B"`` (the pair, reference first, after undoing the
left/right randomization) and a score on the seed 003 scale (1: A clearly better, 3: no
difference, 5: B clearly better). Per feature (item) and pair: mean ± SD of the scores, and the
two-sided Wilcoxon signed-rank test of the scores against "no difference" (the scale midpoint),
R's ``wilcox.test(x, mu = 3, exact = FALSE, correct = TRUE)``.

References
----------
Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin. 1945;1:80–83.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .common import ALL, frame, unit_means
from .rcompat import signed_rank_test

COLUMNS = ["sequence", "item", "pair", "arm_a", "arm_b", "reader", "unit", "n", "mean", "sd", "median",
           "null_value", "statistic", "p_value", "favours", "note"]


def preference_table(answers: pd.DataFrame, scales: dict[str, tuple[float, float]], unit: str = "answers",
                     alpha: float = 0.05) -> pd.DataFrame:
    """Preference per sequence × item × pair, pooled over readers and per reader.

    Parameters
    ----------
    answers : DataFrame
        Validated preference answers (``arm`` is ``"A|B"``).
    scales : dict
        ``item -> (low, high)``; the null value is the midpoint.
    unit : {"answers", "case-mean"}
        Pooled rows use every reader's answer as a unit (seed 003: "all readers combined"), or the
        readers' mean per case.

    Returns
    -------
    DataFrame
        ``sequence, item, pair, arm_a, arm_b, reader, unit, n, mean, sd, median, null_value,
        statistic, p_value, favours, note``; ``reader = "all"`` for pooled rows.
        ``favours`` is ``arm_b`` when the mean lies above the midpoint and the test rejects at
        ``alpha``, ``arm_a`` when below, ``"none"`` otherwise. All answers at the midpoint give
        p = NaN (R: NaN) with a note, and ``favours = "none"``.
    """
    rows = []
    if answers.empty:
        return frame(rows, COLUMNS)
    pooled = unit_means(answers, ["sequence", "item", "arm", "case", "level"]).drop(columns="readers") \
        if unit == "case-mean" else answers
    sets = [(ALL, unit, pooled.assign(reader=ALL))]
    sets.append(("", "answers", answers))
    for _, unit_name, df in sets:
        for (seq, item, pair, reader), grp in df.groupby(["sequence", "item", "arm", "reader"], sort=True):
            lo, hi = scales[item]
            null = (lo + hi) / 2
            v = grp["value"].to_numpy(dtype=float)
            a, b = pair.split("|", 1)
            res = signed_rank_test(v, mu=null, alternative="two-sided", conf_int=False)
            mean = float(v.mean())
            favours = "none"
            if not math.isnan(res.p_value) and res.p_value < alpha:
                favours = b if mean > null else a if mean < null else "none"
            rows.append({"sequence": seq, "item": item, "pair": pair, "arm_a": a, "arm_b": b, "reader": reader,
                         "unit": unit_name, "n": v.size, "mean": mean,
                         "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan, "median": float(np.median(v)),
                         "null_value": null, "statistic": res.statistic,
                         "p_value": res.p_value, "favours": favours, "note": res.note})
    return frame(rows, COLUMNS)
