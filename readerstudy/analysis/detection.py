"""Detection of findings: reference arm vs each arm, McNemar (seed 001 Table 5).

For every finding item, per level and pooled over levels, per reader and pooled over readers, the
2×2 counts of the reference arm's and the arm's answers on the same unit (reader × case × level),
the exact binomial McNemar p and R's continuity-corrected χ² (see :func:`.rcompat.mcnemar_test`).
statsmodels' ``mcnemar`` defaults to the exact test and R's ``mcnemar.test`` to the corrected χ²;
both are reported so that neither is mistaken for the other.

References
----------
McNemar Q. Note on the sampling error of the difference between correlated proportions or
percentages. Psychometrika. 1947;12:153–157.
"""
from __future__ import annotations

import pandas as pd

from .common import ALL, frame
from .rcompat import mcnemar_tests

COLUMNS = ["reader", "finding", "sequence", "level", "arm", "reference", "n", "both", "reference_only",
           "arm_only", "neither", "detected_reference", "detected_arm", "p_exact", "statistic",
           "p_asymptotic", "note"]


def mcnemar_table(answers: pd.DataFrame, reference: str, findings: list[str]) -> pd.DataFrame:
    """McNemar table of every finding item.

    Returns
    -------
    DataFrame
        ``reader, finding, sequence, level, arm, reference, n, both, reference_only, arm_only,
        neither, detected_reference, detected_arm, p_exact, statistic, p_asymptotic, note``;
        ``reader`` and ``level`` are ``"all"`` when pooled. Pooling over readers or levels adds the
        units up (each reader × case × level is one pair), as seed 001 does; the units are then not
        independent, which the McNemar test assumes — report the per-reader rows alongside.

    Notes
    -----
    A finding never called in either arm gives b = c = 0: p_exact = 1, χ² NaN, with a note.
    """
    df = answers[answers["item"].isin(findings)]
    keys = ["item", "sequence", "reader", "case", "level"]
    ref = df[df["arm"] == reference][keys + ["value"]].rename(columns={"value": "r"})
    arms = df[df["arm"] != reference].rename(columns={"value": "a"})
    pairs = arms.merge(ref, on=keys, how="inner")
    pairs["both"] = (pairs["r"] == 1) & (pairs["a"] == 1)
    pairs["reference_only"] = (pairs["r"] == 1) & (pairs["a"] == 0)
    pairs["arm_only"] = (pairs["r"] == 0) & (pairs["a"] == 1)
    pairs["neither"] = (pairs["r"] == 0) & (pairs["a"] == 0)
    counts = ["both", "reference_only", "arm_only", "neither"]
    per = pairs.groupby(["item", "sequence", "arm", "reader", "level"], sort=True)[counts].sum().reset_index()
    pooled_level = per.groupby(["item", "sequence", "arm", "reader"], sort=True)[counts].sum().reset_index()
    pooled_level["level"] = ALL
    pooled_reader = per.groupby(["item", "sequence", "arm", "level"], sort=True)[counts].sum().reset_index()
    pooled_reader["reader"] = ALL
    pooled_all = per.groupby(["item", "sequence", "arm"], sort=True)[counts].sum().reset_index()
    pooled_all["reader"] = ALL
    pooled_all["level"] = ALL
    parts = [p for p in (per, pooled_level, pooled_reader, pooled_all) if len(p)]
    if not parts:
        return frame([], COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    # Per-level rows only where levels exist (series-level findings have level "").
    table = table.drop_duplicates(["item", "sequence", "arm", "reader", "level"])
    b = table["reference_only"].to_numpy(dtype=int)
    c = table["arm_only"].to_numpy(dtype=int)
    tests = mcnemar_tests(b, c)
    out = pd.DataFrame({"reader": table["reader"], "finding": table["item"], "sequence": table["sequence"],
                        "level": table["level"], "arm": table["arm"], "reference": reference,
                        "n": (table[counts].sum(1)).astype(int), "both": table["both"].astype(int),
                        "reference_only": b, "arm_only": c, "neither": table["neither"].astype(int),
                        "detected_reference": table["both"].astype(int) + b,
                        "detected_arm": table["both"].astype(int) + c, **tests})
    out = out.reindex(columns=COLUMNS)
    # pooled rows ("all") after the individual ones
    sort_keys = {k: out[k].where(out[k] != ALL, "\uffff") for k in ("reader", "level")}
    order = pd.DataFrame({"finding": out["finding"], "sequence": out["sequence"], "arm": out["arm"], **sort_keys})
    return out.loc[order.sort_values(["finding", "sequence", "arm", "reader", "level"]).index].reset_index(drop=True)
