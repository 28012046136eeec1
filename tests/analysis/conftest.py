"""Fixtures of the analysis tests: the committed synthetic study and its analysis (computed once)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from readerstudy.analysis.runner import run_analysis
from readerstudy.analysis.tidy import read_answers_csv, read_reference_csv

DATA = Path(__file__).resolve().parent / "data"
R_DIR = Path(__file__).resolve().parent / "r"


@pytest.fixture(scope="session")
def study_config() -> dict:
    return tomllib.loads((DATA / "study.toml").read_text())


@pytest.fixture(scope="session")
def study_answers():
    return read_answers_csv(DATA / "study_answers.csv")


@pytest.fixture(scope="session")
def study_reference():
    return read_reference_csv(DATA / "study_reference.csv")


@pytest.fixture(scope="session")
def study_result(study_answers, study_config, study_reference):
    return run_analysis(study_answers, study_config, study_reference)
