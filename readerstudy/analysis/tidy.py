"""Loading and validating the tidy answers table and the reference standard.

The tidy answers table has one row per answer (see ``DESIGN.md``):
``reader, case, sequence, arm, item, level, value`` are required; ``study, session, position,
read_started, read_seconds, side, raw_value`` are allowed and ignored by the statistics.
Every check raises a :class:`ValueError` naming the rows (1-based CSV line numbers, header = line 1)
or keys at fault, and all checks run before any statistic is computed.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .config import AnalysisConfig

REQUIRED_COLUMNS = ("reader", "case", "sequence", "arm", "item", "level", "value")
OPTIONAL_COLUMNS = ("study", "session", "position", "read_started", "read_seconds", "side", "raw_value")
REFERENCE_COLUMNS = ("case", "level", "finding", "present")
KEY_COLUMNS = ("reader", "case", "sequence", "arm", "item", "level")
_STRING_COLUMNS = ("reader", "case", "sequence", "arm", "item", "level")


def _lines(index: pd.Index, limit: int = 10) -> str:
    """Describe rows by CSV line number (row 0 is line 2, after the header)."""
    nums = [int(i) + 2 for i in index[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(map(str, nums)) + more


def read_answers_csv(path: str | Path) -> pd.DataFrame:
    """Read a tidy answers CSV with every key column as text (``level`` empty → ``""``)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ValueError(f"answers {path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"answers {path}: the file is empty") from None


def read_reference_csv(path: str | Path) -> pd.DataFrame:
    """Read a reference-standard CSV (``case, level, finding, present``)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ValueError(f"reference standard {path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"reference standard {path}: the file is empty") from None


def _text(series: pd.Series) -> pd.Series:
    """Text keys, stripped; done on the distinct values only (key columns have few of them)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([str(u).strip() for u in uniques] + [""], dtype=object)
    return pd.Series(labels[codes], index=series.index, dtype=object)


def _numeric(series: pd.Series, what: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        out = series.astype(float)
    else:
        out = pd.to_numeric(series, errors="coerce")
        retry = out.isna() & series.notna()
        if retry.any():
            out[retry] = pd.to_numeric(series[retry].astype(str).str.strip().replace("", np.nan), errors="coerce")
    bad = out.index[~np.isfinite(out.to_numpy(dtype=float, na_value=np.nan))]
    if len(bad):
        sample = ", ".join(repr(series.loc[i]) for i in bad[:5])
        raise ValueError(f"{what}: non-numeric or missing value(s) in rows (CSV lines) {_lines(bad)}: {sample}")
    return out


def validate_answers(answers: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Check the answers against the configuration and return a clean copy.

    Returns a DataFrame with the required columns, text keys (``level`` ``""`` for series-level
    items) and a float ``value``; a fresh ``RangeIndex`` is kept aligned with the CSV lines.

    Raises
    ------
    ValueError
        Unknown or missing columns; empty keys; non-numeric values; values outside an item's scale
        (or not 0/1 for binary/finding items); duplicate answers; items in the configuration but
        not in the data; an arm missing for some cases (no answer at all for a case × sequence × arm
        that other cases of the sequence have); the reference arm absent; preference arms not ``A|B``.
    """
    if not isinstance(answers, pd.DataFrame):
        raise ValueError("answers: expected a pandas DataFrame")
    cols = list(answers.columns)
    unknown = [c for c in cols if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValueError(f"answers: unknown column(s) {', '.join(map(repr, unknown))}; expected "
                         f"{', '.join(REQUIRED_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)})")
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"answers: missing column(s) {', '.join(map(repr, missing))}")
    if answers.empty:
        raise ValueError("answers: the table has no rows")
    df = answers.loc[:, list(REQUIRED_COLUMNS)].reset_index(drop=True).copy()
    for c in _STRING_COLUMNS:
        df[c] = _text(df[c])
    for c in ("reader", "case", "arm", "item"):
        empty = df.index[df[c] == ""]
        if len(empty):
            raise ValueError(f"answers: empty {c!r} in rows (CSV lines) {_lines(empty)}")
    df["value"] = _numeric(df["value"], "answers column 'value'")

    data_items = set(df["item"])
    configured = set(config.items)
    absent = sorted(configured - data_items)
    if absent:
        raise ValueError(f"config: item(s) {', '.join(map(repr, absent))} named in [items] "
                         f"do not occur in the answers' 'item' column (found: {', '.join(sorted(data_items))})")
    unconfigured = sorted(data_items - configured)
    if unconfigured:
        rows = df.index[df["item"].isin(unconfigured)]
        raise ValueError(f"answers: item(s) {', '.join(map(repr, unconfigured))} in rows (CSV lines) "
                         f"{_lines(rows)} have no [items.<id>] table in the config")

    dup = df.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        raise ValueError("answers: more than one answer for the same reader, case, sequence, arm, item and "
                         f"level in rows (CSV lines) {_lines(df.index[dup])}")

    by_item = df.groupby("item", sort=False).indices
    for it in config.items.values():
        rows = df.index[by_item[it.name]]
        vals = df.loc[rows, "value"]
        if it.kind in ("binary", "finding"):
            bad = vals.index[~vals.isin([0.0, 1.0])]
            if len(bad):
                raise ValueError(f"answers: item {it.name!r} is {it.kind} but rows (CSV lines) {_lines(bad)} "
                                 "are not 0 or 1")
        elif it.scale is not None:
            lo, hi = it.scale
            bad = vals.index[(vals < lo) | (vals > hi)]
            if len(bad):
                raise ValueError(f"answers: item {it.name!r} has scale [{lo:g}, {hi:g}] but rows (CSV lines) "
                                 f"{_lines(bad)} lie outside it")
            if it.kind in ("likert", "preference", "rating"):
                bad = vals.index[vals != np.round(vals)]
                if len(bad):
                    raise ValueError(f"answers: item {it.name!r} is {it.kind} but rows (CSV lines) "
                                     f"{_lines(bad)} are not whole scale points")
        if it.kind == "preference":
            arms = df.loc[rows, "arm"]
            wrong = [a for a in arms.unique() if not re.fullmatch(r"[^|]+\|[^|]+", a)]
            bad = arms.index[arms.isin(wrong)]
            if len(bad):
                raise ValueError(f"answers: preference item {it.name!r} needs arm 'A|B' (a pair) but rows "
                                 f"(CSV lines) {_lines(bad)} have {arms.loc[bad[0]]!r}")
        else:
            arms = df.loc[rows, "arm"]
            bad = arms.index[arms.isin([a for a in arms.unique() if "|" in a])]
            if len(bad):
                raise ValueError(f"answers: item {it.name!r} is {it.kind}, not preference, but rows (CSV lines) "
                                 f"{_lines(bad)} carry a pair as arm")

    single = df[~df["item"].isin([i.name for i in config.items_of("preference")])]
    if not single.empty:
        if config.reference not in set(single["arm"]):
            raise ValueError(f"config reference: arm {config.reference!r} does not occur in the answers "
                             f"(arms: {', '.join(sorted(set(single['arm'])))})")
        _check_arms_complete(single)
    return df


def _check_arms_complete(df: pd.DataFrame) -> None:
    """Every case of a sequence must have a series (some answer) in every arm of that sequence."""
    present = df.groupby(["sequence", "case", "arm"]).size().reset_index()[["sequence", "case", "arm"]]
    problems = []
    for seq, grp in present.groupby("sequence"):
        arms = set(grp["arm"])
        cases = set(grp["case"])
        have = set(zip(grp["case"], grp["arm"]))
        for case in sorted(cases):
            lacking = sorted(a for a in arms if (case, a) not in have)
            if lacking:
                problems.append(f"sequence {seq!r} case {case!r}: no answers for arm(s) {', '.join(lacking)}")
    if problems:
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError("answers: an arm is missing for some cases (every case needs every arm of its "
                         "sequence): " + "; ".join(problems[:10]) + more)


def validate_reference(reference: pd.DataFrame, answers: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Check the reference standard (``case, level, finding, present``) and return a clean copy.

    Every (case, level) answered for a finding item, and every case of a rating item, must have a
    row for that finding; ``present`` must be 0 or 1; no duplicates.
    """
    cols = list(reference.columns)
    unknown = [c for c in cols if c not in REFERENCE_COLUMNS]
    missing = [c for c in REFERENCE_COLUMNS if c not in cols]
    if unknown or missing:
        raise ValueError(f"reference standard: expected columns {', '.join(REFERENCE_COLUMNS)}; "
                         f"unknown: {unknown or 'none'}, missing: {missing or 'none'}")
    ref = reference.loc[:, list(REFERENCE_COLUMNS)].reset_index(drop=True).copy()
    for c in ("case", "level", "finding"):
        ref[c] = _text(ref[c])
    ref["present"] = _numeric(ref["present"], "reference standard column 'present'")
    bad = ref.index[~ref["present"].isin([0.0, 1.0])]
    if len(bad):
        raise ValueError(f"reference standard: 'present' must be 0 or 1; rows (CSV lines) {_lines(bad)}")
    dup = ref.duplicated(["case", "level", "finding"], keep=False)
    if dup.any():
        raise ValueError(f"reference standard: duplicate case/level/finding in rows (CSV lines) {_lines(ref.index[dup])}")
    known = set(zip(ref["case"], ref["level"], ref["finding"]))
    for it in config.items_of("finding", "rating"):
        finding = it.finding or it.name
        sub = answers[answers["item"] == it.name]
        units = set(zip(sub["case"], sub["level"]))
        lacking = sorted(u for u in units if (u[0], u[1], finding) not in known)
        if lacking:
            shown = ", ".join(f"case {c!r} level {lv!r}" for c, lv in lacking[:10])
            more = f" and {len(lacking) - 10} more" if len(lacking) > 10 else ""
            raise ValueError(f"reference standard: no row for finding {finding!r} at {shown}{more}")
    return ref
