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
