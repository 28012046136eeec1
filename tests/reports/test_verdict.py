"""The verdict page is derived from the analysis tables: change a p value, the verdict changes."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from readerstudy.analysis.runner import run_analysis
from readerstudy.reports.document import Context, Labels, Order
from readerstudy.reports.verdict import (INCONCLUSIVE, INFERIOR, NONINFERIOR, STATUS_CLASS, noninferiority_matrix,
                                         population_lines, verdict_section)

from .fixture_study import ARMS, CONFIG, SEQUENCES, make_study


def context(result) -> Context:
    cfg = result.config
    return Context(result=result, cfg=cfg, label=Labels(cfg), order=Order.of([*SEQUENCES, *ARMS]),
                   single=pd.DataFrame(), units=pd.DataFrame())


def with_p(result, **changes):
    """A copy of ``result`` whose SAG T2 FS / Fast-DL50 noninferiority rows get new adjusted p values."""
    out = copy.copy(result)
    out.tables = dict(result.tables)
    ni = result["noninferiority"].copy()
    for item, (p_ni, p_inf) in changes.items():
        sel = (ni["sequence"] == "SAG T2 FS") & (ni["arm"] == "Fast-DL50") & (ni["item"] == item)
        assert sel.sum() == 1
        ni.loc[sel, "p_adjusted"] = p_ni
        ni.loc[sel, "p_inferior_adjusted"] = p_inf
    out.tables["noninferiority"] = ni
    return out


def sentence(result, arm="Fast-DL50", seq="SAG T2 FS"):
    _, sentences = noninferiority_matrix(context(result))
    return next(s for s in sentences if s.startswith(f"{arm} ") and f" for {seq} " in s)


ITEMS = ("apparent_snr", "anatomy", "confidence", "artifacts")


def test_a_changed_p_value_changes_the_verdict(report):
    all_ni = with_p(report.result, **{i: (0.01, 0.99) for i in ITEMS})
    assert sentence(all_ni) == "Fast-DL50 is non-inferior to Standard for SAG T2 FS in 4/4 items."
    one_off = with_p(report.result, **{i: (0.01, 0.99) for i in ITEMS[1:]}, apparent_snr=(0.2, 0.9))
    assert sentence(one_off) == ("Fast-DL50 is non-inferior to Standard for SAG T2 FS in 3/4 items (Anatomical "
                                 "structures, Diagnostic confidence and Presence of artifacts); inconclusive for "
                                 "Apparent SNR.")
    worse = with_p(report.result, **{**{i: (0.6, 0.3) for i in ITEMS}, "artifacts": (0.99, 0.01)})
    assert sentence(worse) == ("Fast-DL50 is not shown non-inferior to Standard for SAG T2 FS (0/4 items); "
                               "inconclusive for Apparent SNR, Anatomical structures and Diagnostic confidence; "
                               "inferior for Presence of artifacts.")


def test_matrix_cells_carry_status_pseudomedian_adjusted_p_and_colour(report):
    result = with_p(report.result, **{i: (0.01, 0.99) for i in ITEMS[1:3]}, apparent_snr=(0.2, 0.9),
                    artifacts=(0.99, 0.001))
    table, _ = noninferiority_matrix(context(result))
    frame = table.frame
    assert list(frame.columns) == ["Sequence", "Comparison", "Apparent SNR", "Anatomical structures",
                                   "Diagnostic confidence", "Presence of artifacts"]
    assert list(frame["Sequence"]) == ["SAG T2 FS", "SAG T2 FS", "AX T2", "AX T2"]  # the study's order
    i = frame.index[(frame["Sequence"] == "SAG T2 FS") & (frame["Comparison"] == "Fast-DL50 vs Standard")][0]
    row = result["noninferiority"]
    pm = row[(row["sequence"] == "SAG T2 FS") & (row["arm"] == "Fast-DL50") & (row["item"] == "anatomy")].iloc[0]
    assert frame.at[i, "Anatomical structures"] == f"non-inferior (Δ {pm['pseudomedian']:.2f}, p adj. 0.010)"
    assert frame.at[i, "Apparent SNR"].startswith(INCONCLUSIVE)
    assert frame.at[i, "Presence of artifacts"].startswith(INFERIOR) and "p adj. 0.990" in frame.at[i, "Presence of artifacts"]
    assert table.cell_classes[i] == ["", "", STATUS_CLASS[INCONCLUSIVE], STATUS_CLASS[NONINFERIOR],
                                     STATUS_CLASS[NONINFERIOR], STATUS_CLASS[INFERIOR]]


def test_verdict_lines_follow_the_tables(report):
    sec = verdict_section(context(report.result))
    text = "\n".join(sec.paragraphs + sec.lines)
    m = report.result["mcnemar"]
    pooled = m[(m["reader"] == "all") & (m["level"] == "all")]
    assert text.count("Detection against Standard") == pooled["sequence"].nunique()
    assert "Accuracy against the reference standard, SAG T2 FS" in text and "MRMC Apparent SNR (mean score), AX T2" in text
    assert "Side-by-side preference, Overall preference" in text
    assert "Inter-reader agreement (Conger's κ" in text and "ICC(A,1)" in text
    # a detection difference appears only when its exact p is below alpha
    changed = copy.copy(report.result)
    changed.tables = dict(report.result.tables)
    mm = m.copy()
    sel = ((mm["reader"] == "all") & (mm["level"] == "all") & (mm["finding"] == "stenosis")
           & (mm["arm"] == "Fast"))
    mm.loc[sel, "p_exact"] = 0.004
    changed.tables["mcnemar"] = mm
    line = next(p for p in verdict_section(context(changed)).lines if p.startswith("Detection"))
    assert "Fast: Spinal stenosis (" in line and "p = 0.004" in line
    assert "Fast: Spinal stenosis" not in next(p for p in sec.lines if p.startswith("Detection"))


@pytest.fixture(scope="module")
def straggler_result():
    answers, reference, _ = make_study(seed=5, n_cases=6)
    first = answers[answers["arm"] == "Standard"].iloc[0]
    one = answers[(answers["reader"] == first["reader"]) & (answers["case"] == first["case"])
                  & (answers["sequence"] == first["sequence"]) & (answers["arm"] == "Standard")]
    return pd.concat([answers, one.assign(reader="reader9")], ignore_index=True), reference


def test_population_lists_incomplete_readers(straggler_result):
    answers, reference = straggler_result
    kept = population_lines(context(run_analysis(answers, CONFIG, reference)))
    assert kept[0].startswith("Analysis population (every reader with an answer): 4 readers")
    assert any(line.startswith("Incomplete readers kept in the analysis: reader9 (1 of") for line in kept)
    left = population_lines(context(run_analysis(answers, {**CONFIG, "population": {"readers": "complete"}},
                                                 reference)))
    assert left[0].startswith("Analysis population (readers who answered every read): 3 readers (reader1, reader2, "
                              "reader3)")
    assert any(line.startswith("Excluded: reader9 (incomplete: 1 of") for line in left)
    assert "Training reads and training cases never enter" in left[0]


def test_a_scheduled_reader_without_answers_is_listed(report):
    ctx = context(report.result)
    ctx = Context(**{**ctx.__dict__, "meta": {"reads": {"reader1": {"scheduled": 4, "submitted": 4},
                                                        "reader9": {"scheduled": 4, "submitted": 0}}}})
    line = next(x for x in population_lines(ctx) if x.startswith("Reads submitted"))
    assert line == ("Reads submitted of those scheduled (training excluded): 4/8; per reader: reader1 4/4, "
                    "reader9 0/4 (no answer yet: not in the analysis).")


def test_per_reader_unit_counts_readers_in_each_cell():
    answers, reference, _ = make_study(seed=5, n_cases=6)
    result = run_analysis(answers, {**CONFIG, "unit": "reader", "mrmc": []}, reference)
    table, sentences = noninferiority_matrix(context(result))
    ni = result["noninferiority"]
    sub = ni[(ni["sequence"] == "SAG T2 FS") & (ni["arm"] == "Fast-DL50") & (ni["item"] == "anatomy")]
    k = int((sub["p_adjusted"] < 0.05).sum())
    frame = table.frame
    cell = frame[(frame["Sequence"] == "SAG T2 FS") & (frame["Comparison"] == "Fast-DL50 vs Standard")].iloc[0]
    assert cell["Anatomical structures"].endswith(f"({k}/3 readers)")
    assert cell["Anatomical structures"].startswith(NONINFERIOR if k == 3 else (INFERIOR, INCONCLUSIVE))
    assert len(sentences) == 4
