"""Descriptive statistics of scores per sequence × arm × item (seed 000 Table 3)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import frame, unit_means

COLUMNS = ["sequence", "item", "arm", "n", "mean", "sd", "median", "q1", "q3", "min", "max", "note"]
READER_COLUMNS = ["sequence", "item", "arm", "reader", "n", "mean", "sd", "median", "q1", "q3", "min", "max", "note"]


def _summaries(df: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """n, mean, SD (n − 1), median, quartiles (R type 7), min, max of ``value`` per group of ``keys``."""
    if df.empty:
        return frame([], columns)
    g = df.groupby(keys, sort=True)["value"]
    out = g.agg(n="size", mean="mean", sd="std", median="median", min="min", max="max")
    out["q1"] = g.quantile(0.25)
    out["q3"] = g.quantile(0.75)
    out = out.reset_index()
    out["n"] = out["n"].astype(int)
    out["note"] = np.where(out["n"] > 1, "", "one unit only: SD undefined")
    return out.reindex(columns=columns)


def describe(answers: pd.DataFrame, items: list[str] | None = None) -> pd.DataFrame:
    """Mean ± SD over cases of the reader-averaged score, per sequence × item × arm.

    Parameters
    ----------
    answers : DataFrame
        Validated tidy answers (``reader, case, sequence, arm, item, level, value``).
    items : list of str, optional
        Items to describe (default: all).

    Returns
    -------
    DataFrame
        ``sequence, item, arm, n, mean, sd, median, q1, q3, min, max, note``: one row per
        sequence × item × arm; ``n`` counts units (a case, or a case × level for per-level items)
        after averaging the readers' answers of each unit. SD uses n − 1; quartiles are R's type 7.

    Notes
    -----
    Seed 000 (Table 3) reports exactly this: the readers' scores are averaged per case first, then
    summarised over cases. Missing answers simply leave a reader out of that case's average.
    """
    df = answers if items is None else answers[answers["item"].isin(items)]
    means = unit_means(df, ["sequence", "item", "arm", "case", "level"])
    return _summaries(means, ["sequence", "item", "arm"], COLUMNS)


def describe_by_reader(answers: pd.DataFrame, items: list[str] | None = None) -> pd.DataFrame:
    """As :func:`describe`, per reader (no averaging): ``sequence, item, arm, reader, n, mean, sd, …``."""
    df = answers if items is None else answers[answers["item"].isin(items)]
    return _summaries(df, ["sequence", "item", "arm", "reader"], READER_COLUMNS)
