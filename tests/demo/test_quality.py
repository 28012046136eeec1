"""Series quality against Truth: SNR from the noise in the flat interior, sharpness from the edge
transfer ratio, SSIM/L1 from the integrity module."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from recon.quality import measure_series


def _truth():
    z, y, x = np.mgrid[0:6, 0:96, 0:96]
    vol = np.zeros((6, 96, 96))
    vol[((y - 48) ** 2 + (x - 48) ** 2) < 30**2] = 1000.0
    vol[((y - 40) ** 2 + (x - 55) ** 2) < 8**2] = 400.0
    return vol


def test_identical_series_is_perfect():
    t = _truth()
    q = measure_series(t, t)
    assert math.isinf(q.snr) and q.sharpness == pytest.approx(1.0) and q.ssim == pytest.approx(1.0) and q.l1 == 0


def test_snr_is_signal_over_noise_and_blur_lowers_sharpness():
    t = _truth()
    rng = np.random.default_rng(0)
    noisy = t + rng.normal(0, 50.0, t.shape)
    q = measure_series(t, noisy)
    assert q.snr == pytest.approx(1000 / 50, rel=0.1)
    assert q.sharpness == pytest.approx(1.0, abs=0.05)  # noise does not look sharper or blurrier
    blurred = measure_series(t, ndimage.gaussian_filter(t, (0, 1.2, 1.2)))
    assert blurred.sharpness < 0.8
    noisier = measure_series(t, t + rng.normal(0, 100.0, t.shape))
    assert noisier.snr < q.snr and noisier.ssim < q.ssim


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        measure_series(_truth(), _truth()[:3])
    with pytest.raises(ValueError, match="no signal"):
        measure_series(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)))
