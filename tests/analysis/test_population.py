"""The analysis population: ``[population] readers`` decides who enters; incomplete readers are listed."""
from __future__ import annotations

import tomllib

import pandas as pd
import pytest

from readerstudy.analysis.config import parse_config
from readerstudy.analysis.runner import run_analysis

from .data.generate import CONFIG_TOML, make_study

CONFIG = tomllib.loads(CONFIG_TOML)


@pytest.fixture(scope="module")
def with_straggler():
    """Three complete readers and a fourth ("R4") who answered one read only."""
    answers, ref = make_study(n_cases=6)
    first = answers.iloc[0]
    one_read = answers[(answers["reader"] == first["reader"]) & (answers["case"] == first["case"])
                       & (answers["sequence"] == first["sequence"]) & (answers["arm"] == first["arm"])]
    return pd.concat([answers, one_read.assign(reader="R4")], ignore_index=True), ref


def test_all_readers_enter_by_default_and_the_straggler_is_listed(with_straggler):
    answers, ref = with_straggler
    res = run_analysis(answers, CONFIG, ref)
    pop = res["population"].set_index("reader")
    assert list(pop.index) == ["R1", "R2", "R3", "R4"]
    assert pop["included"].all() and not pop.at["R4", "complete"] and pop.loc[["R1", "R2", "R3"], "complete"].all()
    assert pop.at["R4", "reads"] == 1 and pop.at["R1", "reads"] == pop.at["R1", "study_reads"]
    assert "1 of" in pop.at["R4", "reason"] and "kept" in pop.at["R4", "reason"]
    assert "R4" in res.meta["readers"] and res.meta["population"] == "all"


def test_complete_population_leaves_the_straggler_out(with_straggler):
    answers, ref = with_straggler
    res = run_analysis(answers, {**CONFIG, "population": {"readers": "complete"}}, ref)
    pop = res["population"].set_index("reader")
    assert not pop.at["R4", "included"] and pop.at["R4", "reason"].startswith("incomplete: 1 of")
    assert res.meta["readers"] == ["R1", "R2", "R3"]
    assert any("R4" in n for n in res.notes)
    assert "R4" not in set(res["descriptives_by_reader"]["reader"])
    # and the statistics equal those of the study without R4
    clean = run_analysis(answers[answers["reader"] != "R4"], CONFIG, ref)
    pd.testing.assert_frame_equal(res["noninferiority"], clean["noninferiority"])


def test_complete_population_with_nobody_complete_is_an_error():
    answers, ref = make_study(n_cases=6)  # each reader loses one whole read (all items of it)
    for reader, case in (("R1", "C01"), ("R2", "C02"), ("R3", "C03")):
        case = sorted(answers["case"].unique())[int(case[-1]) - 1]
        seq = answers["sequence"].iloc[0]
        answers = answers[~((answers["reader"] == reader) & (answers["case"] == case) & (answers["sequence"] == seq)
                            & (answers["arm"] == "Fast"))]
    with pytest.raises(ValueError, match="no reader answered every read"):
        run_analysis(answers, {**CONFIG, "population": {"readers": "complete"}}, ref)


def test_population_key_is_validated():
    with pytest.raises(ValueError, match=r"\[population\] readers"):
        parse_config({**CONFIG, "population": {"readers": "most"}})
    with pytest.raises(ValueError, match="unknown key"):
        parse_config({**CONFIG, "population": {"sessions": "all"}})
    assert parse_config(CONFIG).as_dict()["population"] == {"readers": "all"}
