"""Small phantoms and simulations shared by the recon tests (module-level caches keep the
suite fast: a 1.6 mm phantom and 128-pixel recon grids)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from scipy import ndimage

from recon.phantom import make_phantom
from recon.pipeline import simulate_case
from recon.protocols import get_protocol

SMALL = {"recon_matrix": 128, "slices": 6}


@functools.lru_cache(maxsize=4)
def small_phantom(seed: int = 5, spacing_mm: float = 1.6):
    return make_phantom(seed, spacing_mm=spacing_mm)


@functools.lru_cache(maxsize=16)
def snr_pair(sequence: str, seed: int = 5):
    """Two independent repetitions of a case x sequence with a 30 % larger FOV, so that the
    background method has air to measure in."""
    base = get_protocol(sequence)
    protocol = dataclasses.replace(base, fov_mm=base.fov_mm * 1.3)
    kw = dict(phantom=small_phantom(seed), protocol=protocol, **SMALL)
    return simulate_case(seed, sequence, **kw), simulate_case(seed, sequence, repeat=1, **kw)


def object_roi(truth: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Bright object pixels, eroded away from edges (truncation ringing)."""
    return np.stack([ndimage.binary_erosion(s > fraction * truth.max(), iterations=2) for s in truth])


def background_roi(truth: np.ndarray) -> np.ndarray:
    """Air: noise-free signal (which includes ringing) below 0.2 % of the maximum and at
    least 4 pixels from any object."""
    near = np.stack([ndimage.binary_dilation(s > 0.01 * truth.max(), iterations=4) for s in truth])
    return ~near & (truth < 0.002 * truth.max())


@pytest.fixture
def phantom():
    return small_phantom()
