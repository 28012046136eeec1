"""How the pixel values of a case × sequence are stored, the same for all its arms (pure numpy).

A reader must not tell the arm from the representation (DESIGN.md, blinding rules), so the
import stores every arm of a case × sequence with one :class:`Representation` and changes no
displayed value (the modality LUT output ``stored × slope + intercept``):

1. values that are whole numbers in ``[-32768, 32767]`` (nearly every MR image): signed 16-bit,
   all 16 bits stored, no rescale. This rule does not depend on the other arms, so arms imported
   at different times agree too;
2. whole numbers in ``[0, 65535]`` beyond that: unsigned 16-bit, no rescale;
3. fractional values (a rescale slope such as 0.5): one common slope, the smallest of the arms
   or the finest common step of all slopes (per-frame rescales 1.5 and 2 share 0.5), if every
   arm's values are whole multiples of it within the 16-bit range;
4. otherwise no common representation exists: each series keeps its own (lossless) one, and the
   publish checklist names the difference (:mod:`readerstudy.imports.selectors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from typing import Iterable, Sequence

import numpy as np

INT16 = (-32768, 32767)
UINT16 = (0, 65535)
# Values are compared after float64 arithmetic; a rescale of 0.1 leaves ~1e-12 residues.
WHOLE_TOLERANCE = 1e-6
WINDOW_MAX_SAMPLES = 4_000_000


@dataclass(frozen=True)
class Representation:
    """The pixel module and rescale a series is stored with."""

    signed: bool = True
    bits_stored: int = 16
    slope: float = 1.0
    intercept: float = 0.0

    bits_allocated = 16

    @property
    def high_bit(self) -> int:
        return self.bits_stored - 1

    @property
    def dtype(self) -> str:
        return "<i2" if self.signed else "<u2"

    @property
    def range(self) -> tuple[int, int]:
        if self.signed:
            return -(2 ** (self.bits_stored - 1)), 2 ** (self.bits_stored - 1) - 1
        return 0, 2**self.bits_stored - 1

    @property
    def has_rescale(self) -> bool:
        return self.slope != 1.0 or self.intercept != 0.0


DEFAULT = Representation()


@dataclass(frozen=True)
class FrameValues:
    """One frame's stored array and its rescale (the modality LUT of the source)."""

    stored: np.ndarray
    slope: float = 1.0
    intercept: float = 0.0

    def values(self) -> np.ndarray:
        """The displayed values (modality LUT output), float64."""
        return self.stored.astype(np.float64) * self.slope + self.intercept


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) <= WHOLE_TOLERANCE * np.maximum(1.0, np.abs(values))))


def _fits(frames: Iterable[FrameValues], rep: Representation) -> bool:
    lo, hi = rep.range
    for f in frames:
        if (
            np.issubdtype(f.stored.dtype, np.integer)
            and float(f.slope).is_integer()
            and float(f.intercept).is_integer()
            and rep.slope == 1.0
            and float(rep.intercept).is_integer()
        ):
            # Whole values for sure: only the range needs checking (no float copy of the frame).
            if f.stored.size:
                a, b = int(f.stored.min()) * f.slope, int(f.stored.max()) * f.slope
                low, high = min(a, b) + f.intercept - rep.intercept, max(a, b) + f.intercept - rep.intercept
                if low < lo or high > hi:
                    return False
            continue
        stored = (f.values() - rep.intercept) / rep.slope
        if not _whole(stored):
            return False
        if stored.size and (stored.min() < lo - 0.5 or stored.max() > hi + 0.5):
            return False
    return True


def common_representation(series: Sequence[Sequence[FrameValues]]) -> Representation | None:
    """The one representation that stores every frame of every series exactly, or None."""
    frames = [f for s in series for f in s]
    if not frames:
        return DEFAULT
    for rep in (DEFAULT, Representation(signed=False)):
        if _fits(frames, rep):
            return rep
    slopes = sorted({abs(f.slope) for f in frames if f.slope not in (0.0, 1.0)})
    # Frames with different slopes (per-frame rescale) share the finest common step of them all.
    steps = {Fraction(abs(f.slope)).limit_denominator(10**6) for f in frames if f.slope != 0.0}
    if len(steps) > 1:
        common = Fraction(reduce(math.gcd, (s.numerator for s in steps)), reduce(math.lcm, (s.denominator for s in steps)))
        if float(common) not in slopes:
            slopes.append(float(common))
    for slope in slopes:
        for signed in (True, False):
            rep = Representation(signed=signed, slope=slope)
            if _fits(frames, rep):
                return rep
    return None


def own_representation(frames: Sequence[FrameValues], *, bits_stored: int, signed: bool) -> Representation | None:
    """A series' own lossless representation (fallback when the arms share none)."""
    rescales = {(f.slope, f.intercept) for f in frames}
    if len(rescales) != 1:
        return None
    slope, intercept = rescales.pop()
    rep = Representation(signed=signed, bits_stored=min(max(bits_stored, 1), 16), slope=slope, intercept=intercept)
    return rep if _fits(frames, rep) else None


def to_stored(frame: FrameValues, rep: Representation) -> np.ndarray:
    """``frame`` stored in ``rep``; displayed values unchanged (checked by :func:`_fits` first)."""
    if rep.slope == frame.slope and rep.intercept == frame.intercept:
        return frame.stored.astype(rep.dtype)
    return np.round((frame.values() - rep.intercept) / rep.slope).astype(rep.dtype)


def default_window(frames: Sequence[FrameValues]) -> tuple[float, float]:
    """(center, width) from the 0.5th..99.5th percentile of a series' displayed values.

    The same rule for every series; the import applies the *reference* arm's window to all arms
    of a case × sequence, because a window computed per arm follows its noise (and the vendors'
    presets differ by arm). Long series are sampled on a regular grid (at most
    ``WINDOW_MAX_SAMPLES`` values) so that memory stays bounded.
    """
    total = sum(f.stored.size for f in frames)
    step = max(1, int(np.ceil(total / WINDOW_MAX_SAMPLES)))
    values = np.concatenate([f.values().ravel()[::step] for f in frames])
    lo, hi = np.percentile(values, [0.5, 99.5])
    width = max(float(hi - lo), 1.0)
    return round(float(lo + hi) / 2, 1), round(width, 1)
