"""Small helpers shared by the statistic modules (no statistics of their own)."""
from __future__ import annotations

import pandas as pd

#: Label used in ``reader`` / ``level`` columns for rows pooled over readers or levels.
ALL = "all"


def unit_means(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Average ``value`` over readers within ``by`` (e.g. case, sequence, arm, item, level).

    The mean is computed as sum/count so that it is the correctly rounded quotient, exactly as R's
    ``mean`` returns it for small integer sums; the tie structure of later rank tests depends on it.
    """
    g = df.groupby(by, sort=True, observed=True)["value"]
    out = g.sum().to_frame("value")
    out["value"] = out["value"] / g.count()
    out["readers"] = g.count()
    return out.reset_index()


def empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Build a table with a fixed column order (an empty table keeps its columns)."""
    if not rows:
        return empty_frame(columns)
    return pd.DataFrame(rows).reindex(columns=columns)


def truncate_interval(low: float, high: float, lower: float, upper: float) -> tuple[float, float, str]:
    """A confidence interval cut to the range the statistic can take, and a note when it was cut.

    Wald-type intervals of bounded statistics (κ and ICC in [−1, 1], a difference of proportions
    or of AUCs in [−1, 1]) can reach past the bound on small samples. The report truncates them at
    the bound, as irrCAC does for Conger's κ (Gwet KL, Handbook of Inter-Rater Reliability, 4th
    ed., 2014: the upper limit is ``min(1, κ + t·se)``), extended here to both ends; the note makes
    the truncation visible. Estimates and SEs are not changed, so the R comparisons still hold.
    """
    if low != low or high != high:  # NaN: nothing to cut
        return low, high, ""
    new_low, new_high = min(max(low, lower), upper), min(max(high, lower), upper)
    if (new_low, new_high) == (low, high):
        return low, high, ""
    cut = {("lower" if v < lower else "upper") for v, nv in ((low, new_low), (high, new_high)) if v != nv}
    where = " and ".join(w for w in ("lower", "upper") if w in cut)
    return new_low, new_high, f"Wald interval truncated at the {where} bound of [{lower:g}, {upper:g}] (small sample)"


def join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)
