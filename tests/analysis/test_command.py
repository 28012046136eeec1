"""The ``analyze`` management command: CSV + TOML in, CSVs + results.json out, no database."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from .conftest import DATA

TABLE_COLUMNS = {
    "descriptives": "sequence,item,arm,n,mean,sd",
    "noninferiority": "sequence,item,arm,reference,n,pseudomedian,margin,direction,statistic,p_value,p_adjusted,noninferior",
    "mcnemar": "reader,finding,level,arm,reference,both,reference_only,arm_only,neither,p_exact,statistic,p_asymptotic",
    "kappa": "scope,sequence,item,arm,reader,method,weights,raters,kappa,se,ci_low,ci_high",
    "icc": "sequence,item,arm,type,icc,ci_low,ci_high,n,raters",
    "accuracy": "finding,sequence,reader,arm,measure,n,correct,estimate,ci_low,ci_high",
    "preference": "sequence,item,pair,arm_a,arm_b,reader,n,mean,sd,statistic,p_value",
    "mrmc": "analysis,item,fom,sequence,arm,reference,fom_arm,fom_reference,difference,se,df,ci_low,ci_high,p_value",
}


def test_analyze_writes_every_table(tmp_path):
    out = tmp_path / "out"
    call_command("analyze", str(DATA / "study_answers.csv"), config=str(DATA / "study.toml"), out=str(out),
                 reference_standard=str(DATA / "study_reference.csv"))
    for name, columns in TABLE_COLUMNS.items():
        table = pd.read_csv(out / f"{name}.csv")
        missing = set(columns.split(",")) - set(table.columns)
        assert not missing, f"{name}.csv lacks {missing}"
        assert len(table), name
    results = json.loads((out / "results.json").read_text())
    assert set(TABLE_COLUMNS) <= set(results["tables"])
    assert results["config"]["reference"] == "Standard"


def test_analyze_bad_input_writes_nothing(tmp_path):
    bad = pd.read_csv(DATA / "study_answers.csv", dtype=str, keep_default_na=False)
    bad.loc[3, "value"] = "n/a"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "out"
    with pytest.raises(CommandError, match="line.* 5"):
        call_command("analyze", str(path), config=str(DATA / "study.toml"), out=str(out),
                     reference_standard=str(DATA / "study_reference.csv"))
    assert not out.exists()
