"""Descriptive statistics of scores per sequence × arm × item (seed 000 Table 3)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .common import frame, unit_means

COLUMNS = ["sequence", "item", "arm", "n", "mean", "sd", "median", "q1", "q3", "min", "max", "note"]
READER_COLUMNS = ["sequence", "item", "arm", "reader", "n", "mean", "sd", "median", "q1", "q3", "min", "max", "note"]


def _summary(values: np.ndarray) -> dict:
    n = int(values.size)
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])  # R's quantile type 7
    sd = float(np.std(values, ddof=1)) if n > 1 else math.nan
    return {"n": n, "mean": float(np.mean(values)), "sd": sd, "median": float(med), "q1": float(q1),
            "q3": float(q3), "min": float(values.min()), "max": float(values.max()),
            "note": "" if n > 1 else "one unit only: SD undefined"}


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
    rows = []
    for (seq, item, arm), grp in means.groupby(["sequence", "item", "arm"], sort=True):
        rows.append({"sequence": seq, "item": item, "arm": arm, **_summary(grp["value"].to_numpy())})
    return frame(rows, COLUMNS)


def describe_by_reader(answers: pd.DataFrame, items: list[str] | None = None) -> pd.DataFrame:
    """As :func:`describe`, per reader (no averaging): ``sequence, item, arm, reader, n, mean, sd, …``."""
    df = answers if items is None else answers[answers["item"].isin(items)]
    rows = []
    for (seq, item, arm, reader), grp in df.groupby(["sequence", "item", "arm", "reader"], sort=True):
        rows.append({"sequence": seq, "item": item, "arm": arm, "reader": reader,
                     **_summary(grp["value"].to_numpy(dtype=float))})
    return frame(rows, READER_COLUMNS)
