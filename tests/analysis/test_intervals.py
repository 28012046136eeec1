"""Confidence intervals of bounded statistics stay inside the statistic's range on small and
degenerate samples (κ and ICC in [−1, 1], proportions in [0, 1], differences in [−1, 1]); a cut
interval says so in its note. The full-size values are checked against R in test_against_r.py."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readerstudy.analysis.accuracy import gee_compare
from readerstudy.analysis.agreement import cohen_kappa, conger_kappa, fleiss_kappa, icc_a1
from readerstudy.analysis.common import truncate_interval
from readerstudy.analysis.mrmc import mrmc_analysis


def inside(res, lo=-1.0, hi=1.0, low="ci_low", high="ci_high"):
    a, b = res[low], res[high]
    if math.isnan(a) and math.isnan(b):
        return True
    return lo <= a <= b <= hi


def test_truncate_interval_cuts_and_says_so():
    assert truncate_interval(-0.2, 0.5, -1, 1) == (-0.2, 0.5, "")
    lo, hi, note = truncate_interval(0.34, 1.20, -1, 1)
    assert (lo, hi) == (0.34, 1.0) and "upper bound" in note and "lower" not in note
    lo, hi, note = truncate_interval(-3.9, 1.0, -1, 1)
    assert (lo, hi) == (-1.0, 1.0) and "lower bound" in note


def test_cohen_two_units_that_disagree_is_cut_at_minus_one_with_a_note():
    # R: k = -1, se = 0 by FCE -> degenerate; two units, opposite calls in both
    res = cohen_kappa([0, 1], [1, 0], [0, 1])
    assert res["kappa"] == -1.0 and inside(res)
    res = cohen_kappa([0, 1, 1], [1, 0, 1], [0, 1])  # kappa -0.5 with a wide Wald interval
    assert inside(res) and res["ci_low"] == -1.0 and "truncated" in res["note"]


def test_cohen_all_agree_and_one_category():
    res = cohen_kappa([1, 2, 3], [1, 2, 3], [1, 2, 3, 4, 5], "quadratic")
    assert res["kappa"] == 1.0 and res["ci_low"] == res["ci_high"] == 1.0
    res = cohen_kappa([2, 2], [2, 2], [1, 2, 3])
    assert math.isnan(res["kappa"]) and math.isnan(res["ci_low"]) and "undefined" in res["note"]


def test_small_sample_kappas_from_the_issue_stay_inside():
    # "0.77 (0.34, 1.20)": a strong but small sample; the upper end is cut at 1
    a = [1, 2, 3, 4, 5, 5]
    b = [1, 2, 3, 5, 5, 4]
    res = cohen_kappa(a, b, [1, 2, 3, 4, 5], "none")
    assert inside(res)
    m = np.array([[1, 1, 2], [2, 2, 2], [3, 3, 4]], dtype=float)
    assert inside(conger_kappa(m, [1, 2, 3, 4, 5], "quadratic"))
    assert inside(fleiss_kappa(m, [1, 2, 3, 4, 5]))
    # n = 2 units, 3 raters
    m2 = np.array([[1, 0, 1], [0, 1, 0]], dtype=float)
    for res in (conger_kappa(m2, [0, 1], "none"), fleiss_kappa(m2, [0, 1])):
        assert inside(res)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 3), min_size=n, max_size=n), st.lists(st.integers(1, 3), min_size=n, max_size=n),
    st.lists(st.integers(1, 3), min_size=n, max_size=n))))
def test_every_kappa_interval_lies_in_minus_one_to_one(cols):
    a, b, c = (np.asarray(x, dtype=float) for x in cols)
    for w in ("none", "linear", "quadratic"):
        assert inside(cohen_kappa(a, b, [1, 2, 3], w))
    m = np.c_[a, b, c]
    assert inside(conger_kappa(m, [1, 2, 3], "quadratic"))
    assert inside(fleiss_kappa(m, [1, 2, 3]))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5).flatmap(lambda n: st.lists(
    st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=2), min_size=n, max_size=n)))
def test_icc_interval_lies_in_minus_one_to_one(rows):
    res = icc_a1(np.asarray(rows, dtype=float))
    assert inside(res)
    if not math.isnan(res["icc"]):
        assert res["icc"] <= 1.0 and (res["icc"] >= -1.0 or "not interpretable" in res["note"])


def test_icc_two_units_disagreeing_is_cut_with_a_note():
    res = icc_a1(np.array([[1.0, 3.0], [3.0, 1.0]]))
    assert inside(res)
    res = icc_a1(np.array([[1.0, 1.1], [2.0, 2.05], [3.0, 2.9]]))
    assert inside(res) and res["ci_high"] <= 1.0


def test_gee_proportion_intervals_on_the_logit_scale_stay_in_zero_one():
    rng = np.random.default_rng(3)
    cluster = np.repeat(np.arange(6), 4)
    arm = np.tile([0, 0, 1, 1], 6)
    y = (rng.random(24) < 0.8).astype(float)
    y[[0, 2]] = 0.0
    res = gee_compare(y, arm, cluster)
    assert inside(res, 0, 1, "ci_low_arm", "ci_high_arm") and inside(res, 0, 1, "ci_low_reference", "ci_high_reference")
    assert res["ci_low_arm"] < res["estimate_arm"] < res["ci_high_arm"]
    assert inside(res)  # the difference


def test_mrmc_auc_difference_interval_is_cut_at_the_bounds():
    rng = np.random.default_rng(0)
    rows = []
    for case in range(6):
        present = case % 2
        for reader in ("R1", "R2", "R3"):
            for arm in ("Standard", "Fast"):
                score = present * 2 + rng.integers(1, 4) if arm == "Standard" else rng.integers(1, 6)
                rows.append({"arm": arm, "reader": reader, "case": f"c{case}", "level": "", "value": float(score),
                             "present": present})
    table, _ = mrmc_analysis(pd.DataFrame(rows), "auc", "Standard")
    row = table[table["arm"] == "Fast"].iloc[0]
    assert -1.0 <= row["ci_low"] <= row["ci_high"] <= 1.0


def test_truncate_interval_leaves_nan_alone():
    lo, hi, note = truncate_interval(math.nan, math.nan, -1, 1)
    assert math.isnan(lo) and math.isnan(hi) and note == ""


def test_measurement_table_on_tiny_and_degenerate_samples():
    from readerstudy.analysis.quantitative import measurement_table

    def answers(values):
        return pd.DataFrame([{"reader": "R1", "case": f"c{i}", "sequence": "S", "arm": arm, "item": "h", "level": "",
                              "value": v} for arm, vals in values.items() for i, v in enumerate(vals)])

    two = measurement_table(answers({"Std": [10.0, 12.0], "Fast": [9.0, 13.0]}), "Std", ["h"])
    row = two[two["arm"] == "Fast"].iloc[0]
    assert row["percent_difference"] == 0.0 and math.isnan(row["r_squared"]) and "regression undefined" in row["note"]
    assert -1 <= row["icc_ci_low"] <= row["icc_ci_high"] <= 1 or "ICC" in row["note"]
    zero = measurement_table(answers({"Std": [0.0, 0.0, 0.0], "Fast": [1.0, 2.0, 3.0]}), "Std", ["h"])
    row = zero[zero["arm"] == "Fast"].iloc[0]
    assert math.isnan(row["percent_difference"]) and "percent difference undefined" in row["note"]
    same = measurement_table(answers({"Std": [1.0, 2.0, 4.0], "Fast": [1.0, 2.0, 4.0]}), "Std", ["h"])
    row = same[same["arm"] == "Fast"].iloc[0]
    assert row["r_squared"] == pytest.approx(1.0) and row["bias"] == 0 and row["icc"] == pytest.approx(1.0)


def test_mrmc_mean_difference_interval_is_cut_at_the_scale_span():
    rows = []
    values = {("R1", "Standard"): [1, 5, 1], ("R1", "Fast"): [5, 1, 5], ("R2", "Standard"): [5, 1, 5],
              ("R2", "Fast"): [1, 5, 2]}
    for (reader, arm), vals in values.items():
        for case, v in enumerate(vals):
            rows.append({"arm": arm, "reader": reader, "case": f"c{case}", "level": "", "value": float(v)})
    table, _ = mrmc_analysis(pd.DataFrame(rows), "mean", "Standard", margin=-0.5, difference_bounds=(-4.0, 4.0))
    row = table[table["arm"] == "Fast"].iloc[0]
    assert -4.0 <= row["ci_low"] <= row["ci_high"] <= 4.0
    assert "truncated" in row["note"]
