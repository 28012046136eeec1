"""Unit checks of pieces that the R comparison covers only indirectly."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from readerstudy.analysis.accuracy import _exchangeable_logit_gee
from readerstudy.analysis.config import DerivedConfig
from readerstudy.analysis.quantitative import derive
from readerstudy.analysis.rcompat import p_adjust, signed_rank_test


def test_gee_matches_statsmodels_with_geepack_moments():
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(40), 12)
    x = np.tile(np.r_[np.zeros(6), np.ones(6)], 40)
    u = np.repeat(rng.normal(0, 0.8, 40), 12)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(0.5 + 0.4 * x + u)))).astype(float)
    beta, cov, alpha, converged = _exchangeable_logit_gee(y, x, clusters)
    model = sm.GEE(y, np.c_[np.ones_like(x), x], groups=clusters, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Exchangeable())
    fit = model.fit(ddof_scale=0, ctol=1e-12, maxiter=200)
    assert converged
    np.testing.assert_allclose(beta, fit.params, rtol=1e-7)
    np.testing.assert_allclose(cov, fit.cov_params(), rtol=1e-6)
    assert alpha == pytest.approx(model.cov_struct.dep_params, rel=1e-6)


def test_p_adjust_matches_r():
    # R 4: p <- c(0.01, 0.04, 0.03, NA, 0.2, 0.04); p.adjust(p, "BH"); p.adjust(p, "bonferroni")
    # [1] 0.05 0.05 0.05   NA 0.20 0.05
    # [1] 0.05 0.20 0.15   NA 1.00 0.20
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2, 0.04])
    np.testing.assert_allclose(p_adjust(p, "bh"), [0.05, 0.05, 0.05, np.nan, 0.2, 0.05], rtol=1e-12)
    np.testing.assert_allclose(p_adjust(p, "bonferroni"), [0.05, 0.2, 0.15, np.nan, 1.0, 0.2], rtol=1e-12)
    np.testing.assert_array_equal(p_adjust(p, "none"), p)
    assert np.isnan(p_adjust([np.nan], "bh")).all()
    with pytest.raises(ValueError, match="unknown method"):
        p_adjust(p, "holm")


def test_snr_and_cnr_derived_per_unit():
    base = {"reader": "R1", "case": "C1", "sequence": "S", "arm": "Standard", "level": ""}
    answers = pd.DataFrame([{**base, "item": "cord", "value": 200.0}, {**base, "item": "csf", "value": 120.0},
                            {**base, "item": "bg", "value": 8.0}])
    derived = {"snr_cord": DerivedConfig("snr_cord", "snr", "cord", "bg"),
               "cnr": DerivedConfig("cnr", "cnr", "cord", "bg", signal_reference="csf")}
    out, notes = derive(answers, derived)
    values = out.set_index("item")["value"]
    assert values["snr_cord"] == 25.0 and values["cnr"] == 10.0 and notes == []
    out, notes = derive(answers[answers["item"] != "bg"], derived)
    assert "snr_cord" not in set(out["item"]) and "lack an ROI answer" in notes[0]


def test_signed_rank_degenerate_cases_are_explained():
    res = signed_rank_test(np.zeros(6), mu=0.0, alternative="two-sided")
    assert math.isnan(res.p_value) and "undefined" in res.note
    res = signed_rank_test(np.zeros(6), mu=-0.5, alternative="greater")
    assert res.p_value < 0.05 and res.estimate == 0 and "all differences are equal" in res.note
