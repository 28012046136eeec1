"""Every table of the synthetic study against R (tests/analysis/r/reference.R, output in r/expected/).

p values must agree to 1e-6 relative, estimates to 1e-4. Each expected CSV was written by the R
script; ``expected/reference.Rout`` holds R's printed output (htest objects, GEE summaries).
``test_r_script_reproduces_expected`` reruns the script with the Rscript on PATH, so the
committed expectations cannot drift from the script; it fails (never skips) when R is missing.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from .conftest import DATA, R_DIR

EXPECTED = R_DIR / "expected"

# table -> (key columns, p-value columns, estimate columns)
SPECS = {
    "noninferiority": (["sequence", "item", "arm", "reader"], ["p_value", "p_adjusted", "p_inferior",
                                                              "p_inferior_adjusted"],
                       ["n", "statistic", "pseudomedian", "conf_bound"]),
    "paired": (["sequence", "item", "arm", "reader"], ["t_p", "wilcoxon_p", "shapiro_p"],
               ["n", "wilcoxon_v", "shapiro_w", "mean_difference"]),
    "kappa": (["scope", "sequence", "item", "arm", "reader", "method", "weights"], [],
              ["kappa", "se", "n", "ci_low", "ci_high"]),
    "icc": (["sequence", "item", "arm"], ["p_value"], ["icc", "ci_low", "ci_high"]),
    "mcnemar": (["reader", "finding", "sequence", "level", "arm"], ["p_exact", "p_asymptotic"],
                ["both", "reference_only", "arm_only", "neither", "statistic"]),
    "accuracy": (["finding", "sequence", "reader", "arm", "measure"], [], ["n", "correct", "estimate", "ci_low", "ci_high"]),
    "accuracy_gee": (["finding", "sequence", "reader", "measure", "arm"], ["p_value"],
                     ["log_odds_ratio", "se", "estimate_reference", "estimate_arm", "correlation", "ci_low", "ci_high",
                      "ci_low_arm", "ci_high_arm", "ci_low_reference", "ci_high_reference"]),
    "preference": (["sequence", "item", "pair", "reader"], ["p_value"], ["n", "mean", "sd", "statistic"]),
    "spearman": (["sequence", "item", "arm", "reader_a", "reader_b"], ["p_value"], ["rho"]),
    "bland_altman": (["sequence", "item", "arm", "reader"], ["pearson_p", "spearman_p"],
                     ["bias", "sd_difference", "loa_low", "loa_high", "pearson_r", "spearman_rho"]),
    "measurements": (["sequence", "item", "arm"], [],
                     ["n", "mean", "sd", "percent_difference", "r_squared", "slope", "intercept", "bias", "loa_low",
                      "loa_high", "icc", "icc_ci_low", "icc_ci_high"]),
    "mrmc": (["analysis", "sequence", "arm"], ["p_value", "p_noninferiority"],
             ["fom_arm", "fom_reference", "difference", "var", "cov1", "cov2", "cov3", "ms_t", "ms_tr", "f", "df", "se",
              "ci_low", "ci_high"]),
}


def _expected(name: str, keys: list[str]) -> pd.DataFrame:
    df = pd.read_csv(EXPECTED / f"{name}.csv", dtype={k: str for k in keys}, keep_default_na=False,
                     na_values=["NA", "NaN"])
    return df


def _close(py: np.ndarray, r: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    py = py.astype(float)
    r = r.astype(float)
    both_nan = np.isnan(py) & np.isnan(r)
    # R's huge-but-finite df where the exact value is infinite (MS(T:R) = 0 up to rounding)
    both_huge = (np.abs(py) > 1e12) & (np.abs(r) > 1e12)
    return both_nan | both_huge | np.isclose(py, r, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_table_matches_r(name, study_result):
    keys, pcols, ecols = SPECS[name]
    expected = _expected(name, keys)
    ours = study_result[name].copy()
    for k in keys:
        ours[k] = ours[k].astype(str)
    merged = expected.merge(ours, on=keys, how="left", suffixes=("_r", ""), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, f"{name}: rows R has but we lack:\n{missing[keys]}"
    problems = []
    for cols, rtol, atol in ((pcols, 1e-6, 1e-14), (ecols, 0.0, 1e-4)):
        for c in cols:
            ok = _close(merged[c].to_numpy(), merged[f"{c}_r"].to_numpy(), rtol, atol)
            if not ok.all():
                bad = merged.loc[~ok, keys + [c, f"{c}_r"]]
                problems.append(f"{c}:\n{bad.to_string()}")
    assert not problems, f"{name} differs from R:\n" + "\n".join(problems)


def test_noninferiority_per_reader_with_bonferroni(study_answers, study_config, study_reference):
    from readerstudy.analysis.runner import run_analysis

    cfg = dict(study_config, unit="reader", fdr="bonferroni")
    ours = run_analysis(study_answers, cfg, study_reference)["noninferiority"]
    keys = ["sequence", "item", "arm", "reader"]
    expected = _expected("noninferiority_reader", keys)
    merged = expected.merge(ours.astype({k: str for k in keys}), on=keys, how="left", suffixes=("_r", ""))
    assert len(merged) == len(expected) == len(ours)
    for c in ("p_value", "p_adjusted"):
        assert _close(merged[c].to_numpy(), merged[f"{c}_r"].to_numpy(), 1e-6, 1e-14).all(), c
    for c in ("n", "statistic", "pseudomedian", "conf_bound"):
        assert _close(merged[c].to_numpy(), merged[f"{c}_r"].to_numpy(), 0.0, 1e-4).all(), c


def test_r_script_reproduces_expected(tmp_path):
    rscript = shutil.which("Rscript")
    assert rscript, "Rscript is not on PATH: install Debian's r-base-core and r-cran-geepack (the R oracle is required)"
    subprocess.run([rscript, str(R_DIR / "reference.R"), str(DATA), str(tmp_path)], check=True,
                   capture_output=True, timeout=300)
    for name in [*SPECS, "noninferiority_reader"]:
        fresh = pd.read_csv(tmp_path / f"{name}.csv")
        committed = pd.read_csv(EXPECTED / f"{name}.csv")
        pd.testing.assert_frame_equal(fresh, committed, check_exact=False, rtol=1e-12, atol=1e-15)
