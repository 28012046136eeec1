"""Fixtures of the report tests: the fixture study, its report (built once) and the rendered files."""
from __future__ import annotations

import datetime as dt

import pytest

from readerstudy.reports.build import build_report
from readerstudy.reports.render import write_report

from .fixture_study import ARMS, CONFIG, SEQUENCES, make_study

GENERATED_AT = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def study_tables():
    return make_study(seed=7)


@pytest.fixture(scope="session")
def report(study_tables):
    answers, reference, integrity = study_tables
    return build_report(answers, CONFIG, reference, integrity,
                        meta={"study": "Fixture study", "seed": 1234, "generated_at": GENERATED_AT,
                              "sequences": list(SEQUENCES), "arms": list(ARMS)})


@pytest.fixture(scope="session")
def rendered(report, tmp_path_factory):
    """``{"html": Path, "pdf": Path, "xlsx": Path, "zip": Path}`` of the fixture report."""
    return write_report(report, tmp_path_factory.mktemp("report"))
