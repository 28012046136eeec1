"""Degenerate data: each gives a documented result (a value, or NaN with a note), never a crash or a silent NaN."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from readerstudy.analysis.runner import run_analysis

from .data.generate import CONFIG_TOML, make_study

import tomllib

CONFIG = tomllib.loads(CONFIG_TOML)
# columns that are blank by design in some rows (not statistics of that row)
BY_DESIGN = {"mrmc": {"fom_arm", "difference", "se", "ci_low", "ci_high", "p_noninferiority"}}


def assert_no_silent_nan(result):
    for name, table in result.tables.items():
        if table.empty or "note" not in table.columns:
            continue
        numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) and c not in BY_DESIGN.get(name, ())]
        has_nan = table[numeric].isna().any(axis=1)
        silent = has_nan & (table["note"].fillna("") == "")
        assert not silent.any(), f"{name}: NaN without a note in\n{table[silent].to_string()}"


def small(**kw):
    answers, ref = make_study(n_cases=8, **kw)
    return answers, ref


def test_fixture_study_has_no_silent_nan(study_result):
    assert_no_silent_nan(study_result)


def test_every_difference_zero():
    answers, ref = small()
    std = answers[answers["arm"] == "Standard"]
    copies = [std.assign(arm=arm) for arm in ("Fast", "Fast-DL")]
    prefs = answers[answers["arm"].str.contains("|", regex=False)]
    same = pd.concat([std, *copies, prefs], ignore_index=True)
    res = run_analysis(same, CONFIG, ref)
    ni = res["noninferiority"]
    likert = ni[ni["item"] == "snr"]
    assert (likert["pseudomedian"] == 0).all() and likert["conf_bound"].isna().all()
    assert likert["note"].str.contains("all differences are equal").all()
    assert likert["p_value"].notna().all()          # d − margin = 0.5 everywhere: the test is defined
    assert likert["noninferior"].all()
    paired = res["paired"]
    assert paired["t_p"].isna().all() and paired["note"].str.contains("all differences").all()
    inter = res["kappa"][(res["kappa"]["scope"] == "interprotocol") & (res["kappa"]["weights"] == "none")]
    assert ((inter["kappa"] == 1) | inter["note"].str.contains("undefined")).all()
    assert_no_silent_nan(res)


def test_single_reader():
    answers, ref = small(n_readers=1)
    res = run_analysis(answers, CONFIG, ref)
    k = res["kappa"]
    assert (k["scope"] == "interprotocol").all()
    assert res["icc"]["note"].str.contains("two raters").all()
    assert res["mrmc"]["note"].str.contains("single reader").all()
    assert res["mrmc"]["f"].isna().all()
    assert_no_silent_nan(res)


def test_all_readers_identical():
    answers, ref = small()
    r1 = answers[answers["reader"] == "R1"]
    same = pd.concat([r1.assign(reader=r) for r in ("R1", "R2", "R3")], ignore_index=True)
    res = run_analysis(same, CONFIG, ref)
    inter = res["kappa"][res["kappa"]["scope"] == "interreader"]
    assert ((inter["kappa"].round(12) == 1) | inter["note"].str.contains("undefined")).all()
    icc = res["icc"]
    assert ((icc["icc"].round(12) == 1) | icc["note"].ne("")).all()
    mr = res["mrmc"]
    snr = mr[(mr["analysis"] == "snr:mean") & (mr["arm"] != "all")]
    assert (np.isinf(snr["df"]) | snr["note"].ne("")).all()
    assert_no_silent_nan(res)


def test_finding_never_present():
    answers, ref = small()
    ref = ref.assign(present=0)
    res = run_analysis(answers, CONFIG, ref)
    acc = res["accuracy"]
    sens = acc[acc["measure"] == "sensitivity"]
    assert sens["estimate"].isna().all() and sens["note"].str.contains("no unit with the finding present").all()
    gee = res["accuracy_gee"]
    assert gee[gee["measure"] == "sensitivity"]["note"].str.contains("no unit").all()
    # AUC needs both truths: MRMC explains instead of crashing
    auc = res["mrmc"][res["mrmc"]["analysis"] == "stenosis_conf:auc"]
    assert auc["note"].ne("").all()
    assert_no_silent_nan(res)


def test_finding_never_called():
    answers, ref = small()
    answers.loc[answers["item"] == "stenosis", "value"] = 0.0
    res = run_analysis(answers, CONFIG, ref)
    mc = res["mcnemar"]
    assert (mc["p_exact"] == 1).all() and mc["statistic"].isna().all()
    assert mc["note"].str.contains("no discordant pairs").all()
    assert_no_silent_nan(res)


def test_missing_answers_and_unbalanced_design():
    answers, ref = make_study(n_cases=10)
    rng = np.random.default_rng(3)
    drop = rng.choice(answers.index[answers["arm"] != "Standard"], size=60, replace=False)
    # keep at least one answer per case × sequence × arm (a missing arm is an input error, tested elsewhere)
    sparse = answers.drop(index=drop)
    present = sparse.groupby(["sequence", "case", "arm"]).size()
    assert len(present) == len(answers.groupby(["sequence", "case", "arm"]).size())
    # an unbalanced level set: one case has a level the others lack
    extra = answers[(answers["item"] == "stenosis") & (answers["case"] == "C001") & (answers["level"] == "L3-L4")]
    sparse = pd.concat([sparse, extra.assign(level="L2-L3")], ignore_index=True)
    ref = pd.concat([ref, pd.DataFrame([{"case": "C001", "level": "L2-L3", "finding": "stenosis", "present": 1}])])
    res = run_analysis(sparse, CONFIG, ref)
    full = run_analysis(answers, CONFIG, make_study(n_cases=10)[1])
    assert res["paired"]["n"].sum() < full["paired"]["n"].sum()
    assert res["mrmc"]["note"].str.contains("dropped").any()
    assert_no_silent_nan(res)
