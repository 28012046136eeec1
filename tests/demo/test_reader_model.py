"""The simulated reader model (pure): scores follow measured quality, a reader's bias and noise
show, detections follow the truth with the arm's sensitivity and specificity, and every answer
is reproducible from the seed."""

from __future__ import annotations

import numpy as np
import pytest

from readerstudy.demo.reader_model import (
    SENSITIVITY,
    SPECIFICITY,
    ItemSpec,
    Quality,
    ReaderModel,
    SimulatedReader,
)

LEVELS = ("L3-L4", "L4-L5", "L5-S1")
ITEMS = [
    ItemSpec("apparent_snr", "likert", 1, 5),
    ItemSpec("overall_quality", "likert", 1, 5),
    ItemSpec("sharpness", "likert", 1, 4),
    ItemSpec("artifacts", "binary", 0, 1),
    ItemSpec("disc_herniation", "checklist", levels=LEVELS),
]
REFERENCE = Quality(snr=30.0, sharpness=1.0, ssim=0.95)
TRUTH = {("disc_herniation", "L4-L5"): True, ("disc_herniation", "L3-L4"): False}


def _scores(model, reader, quality, item="apparent_snr", n=300, arm="Fast"):
    out = []
    for i in range(n):
        answers, _ = model.read(reader=reader, case=f"C{i:03d}", sequence="SAG T2 FS", arm=arm, items=ITEMS,
                                quality=quality, reference=REFERENCE, truth=TRUTH)
        out.append(next(a["value"] for a in answers if a["item"] == item))
    return np.array(out, float)


def test_expected_score_follows_snr_and_sharpness():
    model = ReaderModel(seed=1)
    item = ITEMS[0]
    same = model.expected_likert(item, REFERENCE, REFERENCE)
    assert same == pytest.approx(1 + 0.8 * 4)  # the reference protocol scores "good" to "excellent"
    half_snr = model.expected_likert(item, Quality(15.0, 1.0), REFERENCE)
    double_snr = model.expected_likert(item, Quality(60.0, 1.0), REFERENCE)
    blurred = model.expected_likert(ITEMS[1], Quality(30.0, 0.8), REFERENCE)
    assert half_snr < same < double_snr
    assert same - half_snr > double_snr - same  # a loss hurts more than a gain helps
    assert blurred < model.expected_likert(ITEMS[1], REFERENCE, REFERENCE)


def test_scores_follow_quality_on_average_and_stay_on_the_scale():
    model = ReaderModel(seed=2)
    reader = SimulatedReader("r")
    good, poor = _scores(model, reader, REFERENCE), _scores(model, reader, Quality(10.0, 0.85, 0.8))
    assert good.mean() - poor.mean() > 1.0
    assert set(np.unique(np.r_[good, poor])) <= {1, 2, 3, 4, 5}
    sharp = _scores(model, reader, REFERENCE, item="sharpness")
    assert set(np.unique(sharp)) <= {1, 2, 3, 4}


def test_reader_bias_and_noise():
    model = ReaderModel(seed=3, case_sd=0.0)
    quality = Quality(20.0, 0.97)
    plain = _scores(model, SimulatedReader("a", bias=0.0, noise_sd=0.0), quality)
    assert plain.std() == 0  # no case effect, no noise: every case scores alike
    generous = _scores(model, SimulatedReader("b", bias=1.0, noise_sd=0.0), quality)
    assert generous.mean() - plain.mean() == pytest.approx(1.0, abs=0.5)
    noisy = _scores(model, SimulatedReader("c", bias=0.0, noise_sd=0.8), quality)
    assert noisy.std() > 0.5
    mu = model.expected_likert(ITEMS[0], quality, REFERENCE)
    assert abs(noisy.mean() - mu) < 0.2  # noise scatters around the latent score, unbiased


def test_detections_follow_the_truth_with_each_arms_sensitivity_and_specificity():
    model = ReaderModel(seed=4)
    reader = SimulatedReader("r")
    n = 3000
    for arm in ("Standard", "Fast"):
        hits = false_alarms = 0
        for i in range(n):
            answers, _ = model.read(reader=reader, case=f"C{i}", sequence="SAG T2 FS", arm=arm, items=ITEMS[-1:],
                                    quality=REFERENCE, reference=REFERENCE, truth=TRUTH)
            got = {a["level"]: a["value"] for a in answers}
            assert set(got) == set(LEVELS)
            hits += got["L4-L5"]
            false_alarms += got["L3-L4"] + got["L5-S1"]  # L5-S1 is not in the truth: absent
        for observed, expected, trials in ((hits / n, SENSITIVITY[arm], n), (1 - false_alarms / (2 * n), SPECIFICITY[arm], 2 * n)):
            se = np.sqrt(expected * (1 - expected) / trials)
            assert abs(observed - expected) < 4 * se, (arm, observed, expected)
    shifted = SimulatedReader("s", sensitivity_shift=0.1, specificity_shift=-0.1)
    assert model.detection_probability("Fast", True, shifted) == pytest.approx(SENSITIVITY["Fast"] + 0.1)
    assert model.detection_probability("Fast", False, shifted) == pytest.approx(1 - SPECIFICITY["Fast"] + 0.1)
    assert model.detection_probability("Unlisted-arm", True, reader) == SENSITIVITY["Standard"]


def test_reproducible_by_seed_and_independent_of_order():
    reader = SimulatedReader("r", bias=0.1)
    kwargs = dict(reader=reader, sequence="SAG T1", arm="Fast", items=ITEMS, quality=Quality(20.0, 0.95, 0.9),
                  reference=REFERENCE, truth=TRUTH)
    a = [ReaderModel(seed=5).read(case=c, **kwargs) for c in ("C001", "C002", "C003")]
    b = [ReaderModel(seed=5).read(case=c, **kwargs) for c in ("C003", "C002", "C001")][::-1]
    assert a == b
    many = lambda seed: [ReaderModel(seed=seed).read(case=f"C{i}", **kwargs)[0] for i in range(20)]  # noqa: E731
    assert many(5) != many(6)
    answers, seconds = a[0]
    assert 5 < seconds < 500
    assert [x["item"] for x in answers[:4]] == ["apparent_snr", "overall_quality", "sharpness", "artifacts"]
    assert all(isinstance(x["value"], int) for x in answers)


def test_invalid_inputs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="numeric"):
        ItemSpec("roi", "numeric")
    with pytest.raises(ValueError, match="levels"):
        ItemSpec("grid", "checklist")
    with pytest.raises(ValueError, match="positive snr"):
        Quality(snr=0.0, sharpness=1.0)
    with pytest.raises(ValueError, match="noise_sd"):
        SimulatedReader("x", noise_sd=-1)
