"""A deterministic fixture study for the report tests: tidy answers, configuration, reference
standard and image-integrity figures.

8 cases × 2 sequences × 3 arms × 3 readers. Items: three Likert items and a binary artifact item
on both sequences; on the first sequence a per-level checklist of two findings (with a reference
standard), ROI measurements (cord and CSF signal, background SD, giving SNR and CNR) and a
side-by-side preference item. The numbers are made up from a case quality, arm and reader
effects and noise, rounded to the scales; ``make_study(seed)`` always returns the same tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SEQUENCES = ("SAG T2 FS", "AX T2")
ARMS = {"Standard": 0.0, "Fast": -0.6, "Fast-DL50": 0.2}
LIKERT = {"apparent_snr": "Apparent SNR", "anatomy": "Anatomical structures", "confidence": "Diagnostic confidence"}
FINDINGS = ("disc_herniation", "stenosis")
LEVELS = ("L3-L4", "L4-L5", "L5-S1")
PAIRS = ("Standard|Fast", "Standard|Fast-DL50")

CONFIG = {
    "reference": "Standard",
    "unit": "case-mean",
    "fdr": "bh",
    "items": {
        **{key: {"kind": "likert", "scale": [1, 5], "margin": -0.5, "direction": "greater", "label": label}
           for key, label in LIKERT.items()},
        "artifacts": {"kind": "binary", "margin": 0.25, "direction": "less", "label": "Presence of artifacts"},
        "disc_herniation": {"kind": "finding", "label": "Disc herniation"},
        "stenosis": {"kind": "finding", "label": "Spinal stenosis"},
        "roi_cord": {"kind": "numeric", "label": "Cord signal"},
        "roi_csf": {"kind": "numeric", "label": "CSF signal"},
        "roi_noise": {"kind": "numeric", "label": "Background SD"},
        "pref_overall": {"kind": "preference", "scale": [1, 5], "label": "Overall preference"},
    },
    "derived": {
        "snr_cord": {"kind": "snr", "signal": "roi_cord", "noise": "roi_noise", "label": "SNR cord"},
        "cnr_cord_csf": {"kind": "cnr", "signal": "roi_csf", "signal_reference": "roi_cord", "noise": "roi_noise",
                         "label": "CNR CSF/cord"},
    },
    "mrmc": [
        {"item": "apparent_snr", "fom": "mean", "margin": -0.5},
        {"item": "stenosis", "fom": "sensitivity", "margin": -0.1},
    ],
}


def make_study(seed: int = 7, n_cases: int = 8, n_readers: int = 3):
    """Return ``(answers, reference_standard, integrity)`` DataFrames of the fixture study."""
    rng = np.random.default_rng(seed)
    cases = [f"C{i + 1:03d}" for i in range(n_cases)]
    readers = [f"reader{j + 1}" for j in range(n_readers)]
    quality = dict(zip(cases, rng.normal(0, 0.6, n_cases)))
    bias = dict(zip(readers, rng.normal(0, 0.25, n_readers)))
    truth = {(c, lv, f): int(rng.random() < 0.4) for c in cases for lv in LEVELS for f in FINDINGS}
    rows = []
    session = {r: 0 for r in readers}
    for si, seq in enumerate(SEQUENCES):
        for c in cases:
            for arm, effect in ARMS.items():
                for r in readers:
                    session[r] += 1
                    base = dict(study="Fixture study", reader=r, case=c, sequence=seq, arm=arm, session=1,
                                position=session[r], read_started="2026-01-05T09:00:00+00:00", read_seconds=42.0)

                    def add(item, value, level=""):
                        rows.append({**base, "item": item, "level": level, "value": float(value)})

                    for item in LIKERT:
                        v = 3.5 + quality[c] + effect + bias[r] + rng.normal(0, 0.55)
                        add(item, np.clip(np.rint(v), 1, 5))
                    add("artifacts", rng.random() < 0.3 - 0.25 * effect)
                    if si != 0:
                        continue
                    for f in FINDINGS:
                        for lv in LEVELS:
                            t = truth[(c, lv, f)]
                            sens = 0.85 + 0.15 * effect
                            add(f, rng.random() < (sens if t else 0.1), lv)
                    noise = 10.0 * {"Standard": 1.0, "Fast": 1.4, "Fast-DL50": 0.75}[arm]
                    cord = 220 + 30 * quality[c]
                    add("roi_cord", round(cord + rng.normal(0, 6), 2))
                    add("roi_csf", round(cord * 1.6 + rng.normal(0, 9), 2))
                    add("roi_noise", round(noise * rng.uniform(0.85, 1.15), 3))
        if si == 0:
            for c in cases:
                for pair in PAIRS:
                    a, b = pair.split("|")
                    for r in readers:
                        v = 3 + 1.5 * (ARMS[b] - ARMS[a]) + rng.normal(0, 0.7)
                        rows.append(dict(study="Fixture study", reader=r, case=c, sequence=seq, arm=pair,
                                         item="pref_overall", level="", value=float(np.clip(np.rint(v), 1, 5)),
                                         session=2, position=0, read_started="2026-02-05T09:00:00+00:00",
                                         read_seconds=30.0))
    answers = pd.DataFrame(rows, columns=["study", "reader", "case", "sequence", "arm", "item", "level", "value",
                                          "session", "position", "read_started", "read_seconds"])
    reference = pd.DataFrame([(c, lv, f, p) for (c, lv, f), p in truth.items()],
                             columns=["case", "level", "finding", "present"])
    integrity = []
    for seq in SEQUENCES:
        for c in cases:
            for ref, test, ssim, l1 in (("Standard", "Fast", 0.93, 38.0), ("Standard", "Fast-DL50", 0.96, 36.5),
                                        ("Fast", "Fast-DL50", 0.98, 20.0)):
                integrity.append({"case": c, "sequence": seq, "reference": ref, "test": test,
                                  "ssim": round(ssim + rng.normal(0, 0.01), 4), "l1": round(l1 + rng.normal(0, 4), 3),
                                  "psnr": round(32 + rng.normal(0, 1.5), 3)})
    return answers, reference, pd.DataFrame(integrity)
