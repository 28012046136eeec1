"""How the report prints numbers: the same text in every format (HTML, PDF, XLSX)."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

DASH = "—"

def _isnan(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt(v: Any, digits: int = 3) -> str:
    """A number as the report prints it everywhere (ASCII minus, fixed decimals, ``—`` when missing)."""
    if _isnan(v):
        return DASH
    if isinstance(v, str):
        return v
    f = float(v)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    out = f"{f:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out


def fmt_p(p: Any) -> str:
    """A p value: three decimals, ``<0.001`` below."""
    if _isnan(p):
        return DASH
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def p_text(p: Any) -> str:
    """A p value inside a sentence: "p = 0.034", "p < 0.001", "p undefined"."""
    if _isnan(p):
        return "p undefined"
    return "p < 0.001" if float(p) < 0.001 else f"p = {float(p):.3f}"


def mean_sd(mean: Any, sd: Any, digits: int = 2) -> str:
    if _isnan(mean):
        return DASH
    return f"{fmt(mean, digits)} ± {fmt(sd, digits)}" if not _isnan(sd) else fmt(mean, digits)


def with_ci(est: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    if _isnan(est):
        return DASH
    if _isnan(lo) or _isnan(hi):
        return fmt(est, digits)
    return f"{fmt(est, digits)} ({fmt(lo, digits)}, {fmt(hi, digits)})"


def count_pct(x: Any, total: Any) -> str:
    x = int(x)
    return f"{x} ({100.0 * x / total:.1f})" if total else f"{x}"

