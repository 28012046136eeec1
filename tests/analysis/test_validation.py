"""Bad input ends with a ValueError naming the rows or keys at fault, before any table is written."""
from __future__ import annotations

import tomllib

import pandas as pd
import pytest

from readerstudy.analysis.config import parse_config
from readerstudy.analysis.runner import run_analysis

from .data.generate import CONFIG_TOML, make_study

CONFIG = tomllib.loads(CONFIG_TOML)


@pytest.fixture(scope="module")
def tiny():
    return make_study(n_cases=4, n_readers=2)


def test_unknown_column(tiny):
    answers, ref = tiny
    with pytest.raises(ValueError, match="unknown column.*'colour'"):
        run_analysis(answers.assign(colour="red"), CONFIG, ref)


def test_missing_column(tiny):
    answers, ref = tiny
    with pytest.raises(ValueError, match="missing column.*'level'"):
        run_analysis(answers.drop(columns="level"), CONFIG, ref)


def test_non_numeric_value_names_csv_lines(tiny):
    answers, ref = tiny
    bad = answers.astype({"value": object})
    bad.loc[5, "value"] = "good"
    bad.loc[9, "value"] = ""
    with pytest.raises(ValueError, match=r"non-numeric.*lines\) 7, 11.*'good'"):
        run_analysis(bad, CONFIG, ref)


def test_value_outside_scale(tiny):
    answers, ref = tiny
    bad = answers.copy()
    row = bad.index[bad["item"] == "snr"][0]
    bad.loc[row, "value"] = 7
    with pytest.raises(ValueError, match=rf"'snr' has scale \[1, 5\].*lines\) {row + 2}\b"):
        run_analysis(bad, CONFIG, ref)


def test_binary_not_zero_one(tiny):
    answers, ref = tiny
    bad = answers.copy()
    row = bad.index[bad["item"] == "artifacts"][0]
    bad.loc[row, "value"] = 2
    with pytest.raises(ValueError, match="'artifacts' is binary.*not 0 or 1"):
        run_analysis(bad, CONFIG, ref)


def test_arm_missing_for_some_cases(tiny):
    answers, ref = tiny
    bad = answers[~((answers["case"] == "C002") & (answers["arm"] == "Fast") & (answers["sequence"] == "AX T2"))]
    with pytest.raises(ValueError, match="arm is missing.*'AX T2' case 'C002'.*Fast"):
        run_analysis(bad, CONFIG, ref)


def test_config_item_not_in_data(tiny):
    answers, ref = tiny
    cfg = tomllib.loads(CONFIG_TOML + '\n[items.sharpness]\nkind = "likert"\nscale = [1, 5]\n')
    with pytest.raises(ValueError, match="'sharpness'.*do not occur"):
        run_analysis(answers, cfg, ref)


def test_item_not_in_config(tiny):
    answers, ref = tiny
    extra = answers.iloc[:1].assign(item="mystery")
    with pytest.raises(ValueError, match="'mystery'.*no \\[items"):
        run_analysis(pd.concat([answers, extra], ignore_index=True), CONFIG, ref)


def test_duplicate_answer(tiny):
    answers, ref = tiny
    with pytest.raises(ValueError, match="more than one answer.*lines\\) 2, "):
        run_analysis(pd.concat([answers, answers.iloc[:1]], ignore_index=True), CONFIG, ref)


def test_reference_arm_absent(tiny):
    answers, ref = tiny
    cfg = dict(CONFIG, reference="Legacy")
    with pytest.raises(ValueError, match="reference: arm 'Legacy'"):
        run_analysis(answers, cfg, ref)


def test_reference_standard_lacks_a_unit(tiny):
    answers, ref = tiny
    with pytest.raises(ValueError, match="no row for finding 'stenosis' at case 'C001' level 'L3-L4'"):
        run_analysis(answers, CONFIG, ref.iloc[1:])


def test_mrmc_auc_needs_reference_standard(tiny):
    answers, _ = tiny
    with pytest.raises(ValueError, match="needs --reference-standard"):
        run_analysis(answers, CONFIG, None)


@pytest.mark.parametrize("patch, message", [
    ({"unit": "patient"}, "unit: 'patient' is not one of"),
    ({"fdr": "holm"}, "fdr: 'holm' is not one of"),
    ({"colour": 1}, "unknown key.*'colour'"),
    ({"items": {"snr": {"kind": "likert"}}}, r"\[items.snr\]: kind 'likert' needs scale"),
    ({"items": {"snr": {"kind": "likert", "scale": [1, 5], "direction": "up"}}}, "direction: 'up'"),
    ({"items": {"snr": {"kind": "gauge"}}}, "kind: 'gauge' is not one of"),
    ({"mrmc": [{"item": "snr", "fom": "auc"}]}, "fom 'auc' needs an item of kind rating"),
    ({"mrmc": [{"item": "nope", "fom": "mean"}]}, "item: 'nope' is not an item"),
    ({"alpha": 1.5}, "alpha: must lie strictly between 0 and 1"),
])
def test_config_errors_name_the_key(patch, message):
    raw = dict(CONFIG)
    raw.update(patch)
    with pytest.raises(ValueError, match=message):
        parse_config(raw)


def test_preference_arm_must_be_a_pair(tiny):
    answers, ref = tiny
    bad = answers.copy()
    row = bad.index[bad["item"] == "pref_snr"][0]
    bad.loc[row, "arm"] = "Fast"
    with pytest.raises(ValueError, match="preference item 'pref_snr' needs arm 'A\\|B'"):
        run_analysis(bad, CONFIG, ref)


def test_a_reference_standard_that_does_not_fit_raises_or_is_left_out_with_a_note(study_answers, study_config,
                                                                                   study_reference):
    from readerstudy.analysis.runner import run_analysis

    partial = study_reference[study_reference["case"] != study_reference["case"].iloc[0]]
    config = {**study_config, "mrmc": [m for m in study_config.get("mrmc", []) if m["fom"] == "mean"]}
    with pytest.raises(ValueError, match="^reference standard"):
        run_analysis(study_answers, config, partial)
    res = run_analysis(study_answers, config, partial, invalid_reference="drop")
    assert res["accuracy"].empty and res["accuracy_gee"].empty
    assert res.meta["reference_standard"] is False
    assert any(n.startswith("the reference standard was left out: reference standard") for n in res.notes)
    assert run_analysis(study_answers, config, study_reference).meta["reference_standard"] is True
