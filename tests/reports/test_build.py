"""build_report on the fixture study: every section and documented column, absent sections with a
note, the stamp, the Methods paragraph, input validation."""
from __future__ import annotations

import hashlib
import re

import pytest

import readerstudy
from readerstudy.reports.build import SECTIONS, answers_csv_bytes, build_report
from readerstudy.reports.formatting import fmt, fmt_p

from .fixture_study import CONFIG, make_study

#: Documented columns of every display table (docs/report.md); wide tables list their 2-level labels.
ITEMS = ["Apparent SNR", "Anatomical structures", "Diagnostic confidence", "Presence of artifacts"]
ARMS = ["Standard", "Fast", "Fast-DL50"]
COLUMNS = {
    "descriptives": ["Sequence", "Arm", *ITEMS],
    "noninferiority": [("", "Sequence"), ("", "Comparison")]
    + [(i, c) for i in ITEMS for c in ("Pseudomedian", "p", "p adj.")],
    "conger": ["Sequence", "Arm", *ITEMS],
    "per_reader": ["Sequence", "Item", "Comparison", "Reader", "Standard", "Arm", "Test", "p", "p adj.",
                   "Inter-reader κ (arm)"],
    "agreement": [("", "Sequence"), ("", "Item")] + [("Inter-reader (Conger κ)", a) for a in ARMS]
    + [(f"Interprotocol {a} vs Standard (Cohen κ)", r) for a in ARMS[1:] for r in ("reader1", "reader2", "reader3")],
    "quantitative": ["Sequence", "Measure", "Reader", *ARMS, "p Fast vs Standard", "p Fast-DL50 vs Standard",
                     *(f"ICC {a}" for a in ARMS)],
    "measurements": ["Sequence", "Measure", "Arm", "n", "Mean ± SD", "Difference (%)", "r²",
                     "Bias (95% limits of agreement)", "ICC with reference (95% CI)"],
    "bland_altman": ["Sequence", "Measure", "Comparison", "n", "Bias", "95% limits of agreement", "Pearson r", "p (r)"],
    "detection": ["Sequence", "Finding", "Fast vs Standard", "Fast-DL50 vs Standard"],
    "detection_by_reader": ["Finding", "Sequence", "Reader", "Comparison", "Reported", "Both", "Standard only",
                            "Arm only", "p (exact)"],
    "accuracy_arms": ["Sequence", "Finding", "Measure", "Standard", "Fast", "Fast-DL50"],
    "accuracy_gee": ["Finding", "Sequence", "Measure", "Standard", "Arm", "Difference (95% CI)", "p (GEE)"],
    "accuracy": ["Finding", "Sequence", "Reader", "Arm", "Sensitivity", "Specificity"],
    "preference": ["Sequence", "Item", "Pair (A vs B)", "n", "Mean ± SD", "Median", "p", "Favours"],
    "spearman": ["Sequence", "Item", "Arm", "reader1 vs reader2", "reader1 vs reader3", "reader2 vs reader3"],
    "integrity": ["Sequence", "Comparison", "n", "SSIM", "L1", "PSNR (dB)"],
    "mrmc": ["Analysis", "Sequence", "Level", "Comparison", "Readers × cases", "FOM Standard", "FOM arm",
             "Difference (95% CI)", "df", "p", "Margin", "p (noninf.)"],
}
FIGURES = {"boxplots", "forest", "kappa_heatmap", "bland_altman", "measurement_correlation"}


def test_every_section_is_present_with_its_documented_columns(report):
    assert [s.key for s in report.sections] == list(SECTIONS)
    assert all(s.present and not s.note for s in report.sections)
    tables = {t.key: t for s in report.sections for t in s.tables}
    assert set(tables) == set(COLUMNS)
    for key, columns in COLUMNS.items():
        assert list(tables[key].frame.columns) == columns, key
        assert len(tables[key].frame) > 0, key
        assert tables[key].frame.map(lambda v: isinstance(v, str)).all().all(), key
    assert {f.key for f in report.figures} == FIGURES
    # Rows follow the study's order of sequences and arms (SAG T2 FS before AX T2, as in seed 000).
    first = tables["descriptives"].frame.iloc[:3]
    assert list(first["Sequence"]) == ["SAG T2 FS"] * 3 and list(first["Arm"]) == ARMS
    assert tables["integrity"].frame["Sequence"].iloc[0] == "SAG T2 FS"
    assert list(tables["spearman"].frame.iloc[-1][:3]) == ["all", "all (pooled)", "all"]  # seed 003 Table 3
    for f in report.figures:
        assert f.png.startswith(b"\x89PNG") and b"<svg" in f.svg


def test_tables_carry_the_engines_numbers(report):
    ni = report.result["noninferiority"]
    row = ni[(ni["sequence"] == "SAG T2 FS") & (ni["arm"] == "Fast-DL50") & (ni["item"] == "apparent_snr")].iloc[0]
    frame = report.section("noninferiority").tables[0].frame
    shown = frame[(frame[("", "Sequence")] == "SAG T2 FS") & (frame[("", "Comparison")] == "Fast-DL50 vs Standard")]
    assert shown[("Apparent SNR", "Pseudomedian")].iloc[0] == fmt(row["pseudomedian"])
    assert shown[("Apparent SNR", "p adj.")].iloc[0] == fmt_p(row["p_adjusted"]) + ("*" if row["noninferior"] else "")
    marks = sum(v.endswith("*") for v in frame[[c for c in frame.columns if c[1] == "p adj."]].to_numpy().ravel())
    assert marks == int(ni["noninferior"].sum())


def test_stamp_traces_the_answers(report, study_tables):
    answers = study_tables[0]
    stamp = report.stamp
    assert stamp["version"] == readerstudy.__version__
    assert stamp["seed"] == 1234 and stamp["answers"] == len(answers)
    assert stamp["answers_sha256"] == hashlib.sha256(answers_csv_bytes(answers)).hexdigest()
    assert report.answers_csv == answers_csv_bytes(answers)
    assert stamp["generated_at"] == "2026-01-31T12:00:00+00:00"


def test_methods_names_the_margins_tests_corrections_and_software(report):
    text = report.methods
    assert "a margin of -0.5 for Apparent SNR, Anatomical structures, Diagnostic confidence" in text
    assert "a margin of 0.25 for Presence of artifacts" in text
    for phrase in ("one-sided Wilcoxon signed-rank", "Hodges–Lehmann", "Benjamini–Hochberg", "Conger's κ",
                   "McNemar", "generalized estimating equations", "Obuchowski–Rockette", "SSIM",
                   "readers' mean score per case", f"readerstudy {readerstudy.__version__}", "statsmodels"):
        assert phrase in text, phrase
    cited = {int(n) for group in re.findall(r"\[([\d, ]+)\]", text) for n in group.split(",")}
    assert cited == set(range(1, len(report.references) + 1))
    order = [int(n) for group in re.findall(r"\[([\d, ]+)\]", text) for n in group.split(",")]
    assert sorted(dict.fromkeys(order)) == list(dict.fromkeys(order))  # numbered in order of first citation


def test_sections_the_data_does_not_support_are_absent_with_a_note():
    answers, _, _ = make_study(seed=3, n_cases=6)
    keep = ["apparent_snr", "artifacts"]
    answers = answers[answers["item"].isin(keep) & (answers["sequence"] == "AX T2")]
    config = {"reference": "Standard", "items": {k: CONFIG["items"][k] for k in keep}}
    report = build_report(answers, config, meta={"seed": 5})
    present = {s.key for s in report.sections if s.present}
    assert present == {"descriptives", "noninferiority", "conger", "per_reader", "agreement", "preference"}
    notes = {s.key: s.note for s in report.sections if not s.present}
    assert "No ROI" in notes["quantitative"]
    assert "No per-level finding" in notes["detection"]
    assert "No finding item" in notes["accuracy"] or "reference standard" in notes["accuracy"]
    assert "No image-integrity" in notes["integrity"]
    assert "multi-reader multi-case" in notes["mrmc"] and "[" not in notes["mrmc"]
    assert "McNemar" not in report.methods and "a margin of 0.25" in report.methods


def test_bad_input_is_a_value_error_naming_the_problem(study_tables):
    answers, reference, integrity = study_tables
    with pytest.raises(ValueError, match="integrity: expected columns"):
        build_report(answers, CONFIG, reference, integrity.drop(columns=["ssim"]))
    with pytest.raises(ValueError, match="reference"):
        build_report(answers, {**CONFIG, "reference": "Nope"}, reference)


def test_measurement_table_carries_the_engines_numbers(report):
    ms = report.result["measurements"]
    r = ms[(ms["sequence"] == "SAG T2 FS") & (ms["item"] == "snr_cord") & (ms["arm"] == "Fast-DL50")].iloc[0]
    frame = report.section("quantitative").tables[0].frame
    shown = frame[(frame["Measure"] == "SNR cord") & (frame["Arm"] == "Fast-DL50")].iloc[0]
    assert shown["Difference (%)"] == f"{r['percent_difference']:+.2f}"
    assert shown["r²"] == fmt(r["r_squared"])
    assert shown["ICC with reference (95% CI)"] == f"{fmt(r['icc'], 2)} ({fmt(r['icc_ci_low'], 2)}, {fmt(r['icc_ci_high'], 2)})"
    ref = frame[(frame["Measure"] == "SNR cord") & (frame["Arm"] == "Standard")].iloc[0]
    assert ref["Difference (%)"] == "reference"
    assert list(frame[frame["Measure"] == "SNR cord"]["Arm"]) == ["Standard", "Fast", "Fast-DL50"]
