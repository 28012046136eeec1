"""Published test vectors (../shared/reference/STATS_VECTORS.md and the Van Dyke MRMC result)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from readerstudy.analysis.agreement import cohen_kappa, conger_kappa, icc_a1
from readerstudy.analysis.mrmc import mrmc_analysis
from readerstudy.analysis.rcompat import mcnemar_test, signed_rank_test

VANDYKE = Path(__file__).resolve().parent / "data" / "vandyke_ratings.csv"


def _expand(table):
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [i + 1] * count
            b += [j + 1] * count
    return a, b


def test_signed_rank_p_equals_scipy_asymptotic():
    rng = np.random.default_rng(7)
    d = rng.integers(-3, 4, 40) / 3
    ours = signed_rank_test(d, mu=-0.5, alternative="greater")
    ref = stats.wilcoxon(d + 0.5, zero_method="wilcox", correction=True, method="asymptotic", alternative="greater")
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_mcnemar_vector():
    res = mcnemar_test(15, 19)  # [[23, 15], [19, 31]]
    assert res["p_exact"] == pytest.approx(0.6075914, abs=5e-8)
    assert res["statistic"] == pytest.approx(0.2647059, abs=5e-8)
    assert res["p_asymptotic"] == pytest.approx(0.6069054, abs=5e-8)


def test_cohen_kappa_sas_vectors():
    a, b = _expand([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    k = cohen_kappa(a, b, [1, 2, 3], "none")
    assert round(k["kappa"], 4) == 0.4842 and round(k["se"], 4) == 0.1380
    assert (round(k["ci_low"], 4), round(k["ci_high"], 4)) == (0.2137, 0.7547)
    assert round(k["z"], 4) == 3.2626 and round(k["p_value"], 4) == 0.0011
    k = cohen_kappa(a, b, [1, 2, 3], "linear")
    assert round(k["kappa"], 4) == 0.4701 and round(k["se"], 4) == 0.1457
    assert (round(k["ci_low"], 4), round(k["ci_high"], 4)) == (0.1845, 0.7558)
    assert round(k["z"], 4) == 3.2971


def test_cohen_kappa_irr_anxiety_and_full_scale():
    r2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
    r3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
    assert cohen_kappa(r2, r3, range(1, 7), "none")["kappa"] == pytest.approx(-0.006289308, abs=1e-9)
    # irr::kappa2 weights by the index of the *observed* categories (5 is never used, so 6 acts as 5):
    recoded = ([5 if v == 6 else v for v in r2], [5 if v == 6 else v for v in r3])
    assert cohen_kappa(*recoded, range(1, 6), "linear")["kappa"] == pytest.approx(0.1459075, abs=1e-7)
    assert cohen_kappa(*recoded, range(1, 6), "quadratic")["kappa"] == pytest.approx(0.2520325, abs=1e-7)
    # ... whereas the engine weights over the full scale 1..6, as STATS_VECTORS asks:
    assert cohen_kappa(r2, r3, range(1, 7), "linear")["kappa"] == pytest.approx(0.1262136, abs=1e-7)


RAW4 = np.array([[1, 1, np.nan, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
                 [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [np.nan, 5, 5, 5], [np.nan, np.nan, 1, 1],
                 [np.nan, np.nan, 3, np.nan]])


def test_conger_kappa_irrcac_raw4raters():
    k = conger_kappa(RAW4, [1, 2, 3, 4, 5], "none")
    assert round(k["kappa"], 5) == 0.76282 and round(k["se"], 5) == 0.14917
    assert round(k["ci_low"], 3) == 0.435 and k["ci_high"] == 1.0
    assert k["agreement"] == pytest.approx(0.8181818, abs=1e-7)
    assert k["chance"] == pytest.approx(0.2334252, abs=1e-7)
    q = conger_kappa(RAW4, [1, 2, 3, 4, 5], "quadratic")
    assert round(q["kappa"], 3) == 0.858 and round(q["se"], 3) == 0.144 and round(q["ci_low"], 3) == 0.541
    assert round(conger_kappa(RAW4, [1, 2, 3, 4, 5], "linear")["kappa"], 3) == 0.814


def test_icc_a1_pingouin_wines():
    wine = pg.read_dataset("icc")
    m = wine.pivot(index="Wine", columns="Judge", values="Scores").to_numpy(dtype=float)
    res = icc_a1(m)
    assert res["icc"] == pytest.approx(0.727689, abs=5e-7)
    assert (round(res["ci_low"], 2), round(res["ci_high"], 2)) == (0.43, 0.93)
    assert res["f"] == pytest.approx(11.786693, abs=5e-7) and (res["df1"], res["df2"]) == (7, 21)


def test_van_dyke_obuchowski_rockette_hillis():
    d = pd.read_csv(VANDYKE)
    units = pd.DataFrame({"arm": d["modality"].astype(str), "reader": d["reader"].astype(str),
                          "case": d["case"].astype(str), "level": "", "value": d["rating"].astype(float),
                          "present": d["truth"].astype(float)})
    table, readers = mrmc_analysis(units, "auc", reference="B")
    row = table.iloc[0]
    published = {"fom_arm": 0.8970370, "fom_reference": 0.9408374, "difference": -0.04380032, "var": 0.0008022883,
                 "cov1": 0.0003466137, "cov2": 0.0003440748, "cov3": 0.0002390284, "ms_t": 0.004796171,
                 "ms_tr": 0.0005510306, "f": 4.456319, "df": 15.25967, "p_value": 0.05166569, "se": 0.02074862,
                 "ci_low": -0.0879594986, "ci_high": 0.0003588544}
    for key, value in published.items():
        digits = len(f"{value:.10g}".split(".")[1].lstrip("-"))
        assert round(float(row[key]), digits) == pytest.approx(value, abs=10 ** -digits / 2 + 1e-15), key
    assert len(readers) == 10 and row["readers"] == 5 and row["cases"] == 114
