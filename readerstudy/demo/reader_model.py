"""A simulated radiologist for the demo study (pure: numpy only, reproducible by seed).

The demo's report should show real statistics on plausible data, so two of its three readers are
simulated. Their answers are made by this model from what the recon worker actually produced:

**Likert items** (e.g. seed 000's five-point image-quality items). Each series has measured
quality against the phantom's Truth (:mod:`recon.quality`): an SNR and an edge
transfer ratio ("sharpness"). A reader compares a series with what the reference protocol gives
for the same case and sequence, so the model uses the ratios ``r_snr = snr / snr_ref`` and
``r_sharp = sharpness / sharpness_ref``. The latent score of item *i* is::

    mu = anchor_i + u_i * (w_snr_i * g(log2 r_snr) + w_sharp_i * (r_sharp - 1) / 0.10)
         + u_i * (case effect + reader bias)
    g(x) = x for x <= 0, x / (1 + x) for x > 0     (a gain in SNR helps less than a loss hurts)

with ``anchor_i = min + 0.8 (max - min)`` (the reference protocol scores "good" to "excellent"),
``u_i = (max - min) / 4`` (weights are in points of a five-point scale), ``w_snr_i`` the points
lost when the SNR halves and ``w_sharp_i`` the points lost per 10 % loss of edge transfer
(:data:`ITEM_WEIGHTS`; other Likert items use :data:`DEFAULT_WEIGHTS`). The case effect
(SD ``case_sd``) is shared by every reader and arm of a case x sequence (some patients image
better), so readers agree beyond chance; each reader adds a fixed bias and, per answer, Gaussian
noise (SD ``noise_sd``). The score is ``mu + noise`` rounded to the nearest scale point and
clipped to the scale.

**Binary artifact items** (``artifacts``: present = 1): ``P = logistic(logit(p_ref)
- 1.2 g(log2 r_snr) + 8 (ssim_ref - ssim) + reader bias / 2)`` with ``p_ref = 0.15``.

**Per-level checklists** (seed 001's pathology grid): each (finding, level) follows the phantom's
reference standard: a present finding is reported with probability sensitivity(arm) + the
reader's sensitivity shift, an absent one with probability 1 - specificity(arm) - the reader's
specificity shift (:data:`SENSITIVITY`, :data:`SPECIFICITY`; assumptions, loosely after seed
001/002's reported accuracy; an arm not listed uses the reference arm's values).

**Reading time**: log-normal, median 45 s.

Every random draw comes from a generator seeded by (seed, reader, case, sequence, arm) (the case
effect by (seed, case, sequence) only), so the same inputs always give the same answers, in any
order. The model knows nothing of Django; :mod:`readerstudy.demo.services` feeds it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Points (of a five-point scale) lost when the SNR halves, and per 10 % loss of edge transfer.
ITEM_WEIGHTS: dict[str, tuple[float, float]] = {
    "apparent_snr": (0.9, 0.2),
    "anatomy_discernment": (0.45, 0.8),
    "diagnostic_confidence": (0.35, 0.6),
    "overall_quality": (0.6, 0.6),
    "sharpness": (0.25, 1.0),
    "noise": (0.9, 0.0),
    "artifacts_4pt": (0.3, 0.3),
    "overall_quality_4pt": (0.6, 0.6),
    "diagnostic_confidence_4pt": (0.35, 0.6),
}
DEFAULT_WEIGHTS = (0.6, 0.6)

#: Probability of reporting a present finding, per arm (assumption, see the module docstring).
SENSITIVITY: dict[str, float] = {"Standard": 0.85, "Fast": 0.78, "Fast-DL25": 0.80, "Fast-DL50": 0.82, "Fast-DL75": 0.81}
#: Probability of not reporting an absent finding, per arm.
SPECIFICITY: dict[str, float] = {"Standard": 0.95, "Fast": 0.93, "Fast-DL25": 0.94, "Fast-DL50": 0.94, "Fast-DL75": 0.94}

ARTIFACT_ITEMS = {"artifacts"}
ARTIFACT_P_REFERENCE = 0.15


@dataclass(frozen=True)
class ItemSpec:
    """One questionnaire item as the model needs it. ``kind``: likert, binary or checklist."""

    key: str
    kind: str
    scale_min: int = 1
    scale_max: int = 5
    levels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("likert", "binary", "checklist"):
            raise ValueError(f"item {self.key!r}: the reader model answers likert, binary and checklist items, not {self.kind!r}")
        if self.kind == "likert" and not self.scale_max > self.scale_min:
            raise ValueError(f"item {self.key!r}: scale {self.scale_min}-{self.scale_max} is empty")
        if self.kind == "checklist" and not self.levels:
            raise ValueError(f"item {self.key!r}: a checklist needs levels")


@dataclass(frozen=True)
class SimulatedReader:
    """A simulated reader's habits: ``bias`` (points of a five-point scale added to every Likert
    score), ``noise_sd`` (per-answer SD, same units), and shifts of sensitivity and specificity."""

    name: str
    bias: float = 0.0
    noise_sd: float = 0.45
    sensitivity_shift: float = 0.0
    specificity_shift: float = 0.0

    def __post_init__(self) -> None:
        if not self.noise_sd >= 0:
            raise ValueError(f"reader {self.name!r}: noise_sd must be >= 0")


@dataclass(frozen=True)
class Quality:
    """What the model reads from a series' measurements (see :mod:`recon.quality`)."""

    snr: float
    sharpness: float
    ssim: float = 1.0

    def __post_init__(self) -> None:
        if not (self.snr > 0 and self.sharpness > 0):
            raise ValueError(f"quality needs a positive snr and sharpness, got {self.snr!r}, {self.sharpness!r}")

    @classmethod
    def of(cls, measured: Mapping[str, float] | object) -> Quality:
        get = measured.get if isinstance(measured, Mapping) else lambda k, d=None: getattr(measured, k, d)
        return cls(snr=float(get("snr")), sharpness=float(get("sharpness")), ssim=float(get("ssim", 1.0)))


def _crc(value) -> int:
    return zlib.crc32(str(value).encode())


def _rng(seed: int, *labels) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(_crc(v) for v in labels)]))


def _soft(x: float) -> float:
    return x if x <= 0 else x / (1.0 + x)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class ReaderModel:
    """The simulated reader model of the module docstring.

    Parameters
    ----------
    seed : int
        Makes every answer reproducible.
    reference_arm : str
        The arm whose sensitivity/specificity an unlisted arm takes.
    case_sd : float
        SD of the case effect (points of a five-point scale).
    sensitivity, specificity : mapping arm -> probability
    """

    seed: int
    reference_arm: str = "Standard"
    case_sd: float = 0.35
    sensitivity: Mapping[str, float] = field(default_factory=lambda: dict(SENSITIVITY))
    specificity: Mapping[str, float] = field(default_factory=lambda: dict(SPECIFICITY))

    # --- the deterministic part ------------------------------------------------------------------

    def quality_term(self, item: ItemSpec, quality: Quality, reference: Quality) -> float:
        """Points (of a five-point scale) the series' quality adds to the reference's score."""
        w_snr, w_sharp = ITEM_WEIGHTS.get(item.key, DEFAULT_WEIGHTS)
        return w_snr * _soft(math.log2(quality.snr / reference.snr)) + w_sharp * (
            quality.sharpness / reference.sharpness - 1.0
        ) / 0.10

    def expected_likert(self, item: ItemSpec, quality: Quality, reference: Quality, *, bias: float = 0.0,
                        case_effect: float = 0.0) -> float:
        """The latent mean score ``mu`` (before the per-answer noise and rounding)."""
        span = item.scale_max - item.scale_min
        anchor = item.scale_min + 0.8 * span
        return anchor + span / 4 * (self.quality_term(item, quality, reference) + case_effect + bias)

    def artifact_probability(self, quality: Quality, reference: Quality, *, bias: float = 0.0) -> float:
        logit = math.log(ARTIFACT_P_REFERENCE / (1 - ARTIFACT_P_REFERENCE))
        logit += -1.2 * _soft(math.log2(quality.snr / reference.snr)) + 8.0 * (reference.ssim - quality.ssim) + bias / 2
        return _logistic(logit)

    def detection_probability(self, arm: str, present: bool, reader: SimulatedReader) -> float:
        """P(the reader reports the finding) given the truth."""
        if present:
            p = self.sensitivity.get(arm, self.sensitivity.get(self.reference_arm, 0.85)) + reader.sensitivity_shift
        else:
            p = 1.0 - self.specificity.get(arm, self.specificity.get(self.reference_arm, 0.95)) - reader.specificity_shift
        return min(max(p, 0.0), 1.0)

    def case_effect(self, case: str, sequence: str) -> float:
        return float(_rng(self.seed, "case", case, sequence).normal(0.0, self.case_sd)) if self.case_sd > 0 else 0.0

    # --- one read ------------------------------------------------------------------------------------

    def read(
        self,
        *,
        reader: SimulatedReader,
        case: str,
        sequence: str,
        arm: str,
        items: Iterable[ItemSpec],
        quality: Quality,
        reference: Quality,
        truth: Mapping[tuple[str, str], bool],
    ) -> tuple[list[dict], float]:
        """The answers of one read and its reading time in seconds.

        Parameters
        ----------
        truth : mapping (finding, level) -> bool
            The reference standard of the case; a checklist item's key is its finding. A
            (finding, level) missing from it counts as absent.

        Returns
        -------
        answers : list of dict
            ``{"item", "level", "value"}`` as the answer services take them.
        seconds : float
        """
        rng = _rng(self.seed, "read", reader.name, case, sequence, arm)
        effect = self.case_effect(case, sequence)
        answers: list[dict] = []
        for item in items:
            if item.kind == "likert":
                span = item.scale_max - item.scale_min
                mu = self.expected_likert(item, quality, reference, bias=reader.bias, case_effect=effect)
                score = round(mu + span / 4 * rng.normal(0.0, reader.noise_sd)) if reader.noise_sd else round(mu)
                answers.append({"item": item.key, "level": "", "value": int(min(max(score, item.scale_min), item.scale_max))})
            elif item.kind == "binary":
                if item.key in ARTIFACT_ITEMS:
                    p = self.artifact_probability(quality, reference, bias=-reader.bias)
                else:
                    p = _logistic(self.quality_term(item, quality, reference) + effect + reader.bias + 1.0)
                answers.append({"item": item.key, "level": "", "value": int(rng.random() < p)})
            else:
                for level in item.levels:
                    present = bool(truth.get((item.key, level), False))
                    p = self.detection_probability(arm, present, reader)
                    answers.append({"item": item.key, "level": level, "value": int(rng.random() < p)})
        seconds = float(np.exp(rng.normal(math.log(45.0), 0.4)))
        return answers, seconds
