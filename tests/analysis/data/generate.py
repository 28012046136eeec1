"""Deterministic synthetic reader studies for the analysis tests, the R scripts and the benchmark.

``python -m tests.analysis.data.generate`` rewrites the committed fixture ``study_*.csv`` and
``study.toml`` here (the R scripts under ``tests/analysis/r`` read the same files).
The numbers are made up: a case quality, arm and reader effects, rounded to the scales.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

ARMS = {"Standard": 0.0, "Fast": -0.7, "Fast-DL": 0.15}
LIKERT_ITEMS = ("snr", "confidence_dx")
PAIRS = ("Standard|Fast", "Standard|Fast-DL", "Fast-DL|Fast")
CONFIG_TOML = """\
reference = "Standard"
unit = "case-mean"
fdr = "bh"

[items.snr]
kind = "likert"
scale = [1, 5]
margin = -0.5
direction = "greater"

[items.confidence_dx]
kind = "likert"
scale = [1, 5]
margin = -0.5
direction = "greater"

[items.artifacts]
kind = "binary"
margin = 0.2
direction = "less"

[items.stenosis]
kind = "finding"

[items.stenosis_conf]
kind = "rating"
scale = [1, 5]
finding = "stenosis"

[items.roi_cord]
kind = "numeric"

[items.roi_background_sd]
kind = "numeric"

[items.pref_snr]
kind = "preference"
scale = [1, 5]

[derived.snr_cord]
kind = "snr"
signal = "roi_cord"
noise = "roi_background_sd"

[agreement]
weights = ["none", "linear", "quadratic"]
conger_weights = "quadratic"

[[mrmc]]
item = "stenosis_conf"
fom = "auc"
margin = -0.05

[[mrmc]]
item = "snr"
fom = "mean"
margin = -0.5

[[mrmc]]
item = "stenosis"
fom = "sensitivity"
margin = -0.1
"""


def make_study(n_cases: int = 12, n_readers: int = 3, sequences=("SAG T2", "AX T2"), levels=("L3-L4", "L4-L5", "L5-S1"),
               arms=ARMS, seed: int = 20240521, n_findings: int = 1, likert_items=LIKERT_ITEMS):
    """Return ``(answers, reference_standard)`` DataFrames of a synthetic study.

    Likert items and the binary ``artifacts`` item are read on every sequence; findings
    (``stenosis``…, per level), the confidence rating, ROI measurements and the preference item on
    the first sequence only.
    """
    rng = np.random.default_rng(seed)
    cases = [f"C{i + 1:03d}" for i in range(n_cases)]
    readers = [f"R{j + 1}" for j in range(n_readers)]
    findings = ["stenosis"] + [f"finding{k + 2}" for k in range(n_findings - 1)]
    quality = dict(zip(cases, rng.normal(0, 0.7, n_cases)))
    bias = dict(zip(readers, rng.normal(0, 0.3, n_readers)))
    truth = {(c, lv, f): int(rng.random() < 0.35) for c in cases for lv in levels for f in findings}
    rows = []
    first = sequences[0]
    for seq in sequences:
        for c in cases:
            for arm, effect in arms.items():
                for r in readers:
                    for item in likert_items:
                        v = 3.4 + quality[c] + effect + bias[r] + rng.normal(0, 0.6)
                        rows.append((r, c, seq, arm, item, "", float(np.clip(np.rint(v), 1, 5))))
                    p_art = 0.25 - 0.2 * effect
                    rows.append((r, c, seq, arm, "artifacts", "", float(rng.random() < p_art)))
                    if seq != first:
                        continue
                    for f in findings:
                        for lv in levels:
                            t = truth[(c, lv, f)]
                            sens, spec = 0.8 + 0.1 * effect, 0.88
                            call = rng.random() < (sens if t else 1 - spec)
                            rows.append((r, c, seq, arm, f, lv, float(call)))
                            if f == "stenosis":
                                conf = 2.2 + 1.6 * t + 0.8 * effect + rng.normal(0, 0.9)
                                rows.append((r, c, seq, arm, "stenosis_conf", lv, float(np.clip(np.rint(conf), 1, 5))))
                    noise_sd = 10.0 * (1.4 if arm == "Fast" else 0.8 if arm == "Fast-DL" else 1.0)
                    signal = 220 + 25 * quality[c]
                    rows.append((r, c, seq, arm, "roi_cord", "", round(signal + rng.normal(0, 6), 2)))
                    rows.append((r, c, seq, arm, "roi_background_sd", "", round(noise_sd * rng.uniform(0.85, 1.15), 3)))
        if seq == first:
            for c in cases:
                for pair in PAIRS:
                    a, b = pair.split("|")
                    for r in readers:
                        v = 3 + 1.2 * (arms.get(b, 0) - arms.get(a, 0)) + rng.normal(0, 0.7)
                        rows.append((r, c, seq, pair, "pref_snr", "", float(np.clip(np.rint(v), 1, 5))))
    answers = pd.DataFrame(rows, columns=["reader", "case", "sequence", "arm", "item", "level", "value"])
    ref = pd.DataFrame([(c, lv, f, p) for (c, lv, f), p in truth.items()], columns=["case", "level", "finding", "present"])
    return answers, ref


def config_toml() -> str:
    return CONFIG_TOML


def main() -> None:
    answers, ref = make_study()
    answers.to_csv(HERE / "study_answers.csv", index=False)
    ref.to_csv(HERE / "study_reference.csv", index=False)
    (HERE / "study.toml").write_text(CONFIG_TOML, encoding="utf-8")
    print(f"wrote {len(answers)} answers, {len(ref)} reference rows to {HERE}")


if __name__ == "__main__":
    main()
